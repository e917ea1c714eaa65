// GPU worker processes (on CPU here) for `npm run bench:load`, started as `npm run worker`
// starts one. Each runs in its own process group, so stopping it stops all it spawned; their
// output goes to a log file, and the per-job times they log are collected.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface WorkerProcesses {
  /** Seconds each succeeded job took, as the workers logged them. */
  readonly jobSeconds: readonly number[];
  /** Resolves once every worker has logged its start-up line. */
  ready(timeoutMs: number): Promise<void>;
  /** Why a worker ended before stop() was called, if one did. */
  exited(): string | undefined;
  /** SIGTERM (the worker's graceful stop), then SIGKILL after 15 s; waits for every exit. */
  stop(): Promise<void>;
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!running(child) || child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Starts `count` workers sharing one cache directory.
 *
 * @example
 * const workers = startWorkers({ edgeUrl, workerToken, count: 2, cacheDir, logFile });
 * await workers.ready(60_000);
 * await workers.stop();
 */
export function startWorkers(opts: {
  readonly edgeUrl: string;
  readonly workerToken: string;
  readonly count: number;
  readonly cacheDir: string;
  readonly logFile: string;
  /** onnxruntime threads per worker. */
  readonly threads: number;
}): WorkerProcesses {
  const log = createWriteStream(opts.logFile);
  const jobSeconds: number[] = [];
  const started: Promise<void>[] = [];
  const children: { child: ChildProcess; closed: Promise<void> }[] = [];
  const exits: string[] = [];
  for (let i = 1; i <= opts.count; i++) {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/gpu-worker/main.ts'], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        HEADSTART_EDGE_URL: opts.edgeUrl,
        HEADSTART_WORKER_TOKEN: opts.workerToken,
        HEADSTART_WORKER_ID: `bench-worker-${i}`,
        HEADSTART_WORKER_CONCURRENCY: '1',
        HEADSTART_CACHE_DIR: opts.cacheDir,
        HEADSTART_PROVIDER: 'cpu',
        HEADSTART_THREADS: String(opts.threads),
      },
    });
    // 'close' comes after the last output line, so the log is never written after it ends.
    children.push({
      child,
      closed: new Promise((resolve) => child.once('close', () => resolve())),
    });
    child.stderr.on('data', (chunk: Buffer) => log.write(chunk));
    const ready = new Promise<void>((resolve, reject) => {
      child.once('exit', (code, signal) => {
        exits.push(`worker ${i} exited (${signal ?? `code ${code}`}); see ${opts.logFile}`);
        reject(new Error(exits.at(-1)));
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        log.write(`[${i}] ${line}\n`);
        if (line.includes('execution provider')) resolve();
        const done = /: succeeded, .*, ([\d.]+) s$/.exec(line);
        if (done) jobSeconds.push(Number(done[1]));
      });
    });
    // Awaited through ready(); an exit after start-up is reported by exited().
    ready.catch(() => undefined);
    started.push(ready);
  }
  // Never leave a worker behind, whatever ends this process.
  let stopping = false;
  const killAll = () => children.forEach(({ child }) => killGroup(child, 'SIGKILL'));
  process.once('exit', killAll);

  return {
    jobSeconds,
    async ready(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`the workers did not start within ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
      });
      try {
        await Promise.race([Promise.all(started), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    exited: () => (stopping ? undefined : exits[0]),
    async stop() {
      stopping = true;
      await Promise.all(
        children.map(async ({ child, closed }) => {
          killGroup(child, 'SIGTERM');
          const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 15_000);
          await closed;
          clearTimeout(timer);
        }),
      );
      process.removeListener('exit', killAll);
      await new Promise<void>((resolve) => log.end(resolve));
    },
  };
}
