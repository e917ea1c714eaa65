// The chaos harness's GPU worker processes: spawns them on a local edge, follows what each is
// doing from its log, kills, stalls and resumes them, and brings a killed one back with a new id.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';

/** What a worker is doing, as read from its log. */
export type WorkerPhase = 'starting' | 'idle' | 'fetching' | 'training' | 'uploading';

export interface WorkerPoolOptions {
  /** The bundled worker (`npm run build:worker`), run with this Node. */
  readonly script: string;
  readonly edgeUrl: string;
  readonly workerToken: string;
  /** Shared by every worker, so embeddings made by one are reused by the others. */
  readonly cacheDir: string;
  readonly leaseSeconds: number;
  readonly logsDir: string;
  readonly size: number;
  /** Seconds before a killed worker is started again, given a number in [0, 1). */
  readonly restartDelaySeconds: (random: number) => number;
  readonly random: () => number;
  readonly log: (message: string) => void;
}

/** One worker process: one life of a pool slot. */
export class WorkerProcess {
  phase: WorkerPhase = 'starting';
  jobId: string | null = null;
  attempt = 0;
  paused = false;
  /** Set when the harness killed it; an exit without it is a crash. */
  killed = false;
  readonly exited: Promise<void>;

  constructor(
    readonly id: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Updates the phase and the job from one line of the worker's log. */
  follow(line: string): void {
    if (line.includes('execution provider:')) this.phase = 'idle';
    const job = /job (\S+): (.*)$/.exec(line);
    if (!job) return;
    const jobId = job[1]!;
    const rest = job[2]!;
    const leased = /^leased \(attempt (\d+) of \d+\)/.exec(rest);
    if (leased) {
      this.phase = 'fetching';
      this.jobId = jobId;
      this.attempt = Number(leased[1]);
    } else if (/^\d+ training and /.test(rest)) this.phase = 'training';
    else if (rest.startsWith('uploading head')) this.phase = 'uploading';
    else if (/^(succeeded|failed|the lease was lost|canceled)/.test(rest)) {
      this.phase = 'idle';
      this.jobId = null;
    }
  }
}

type LineListener = (worker: WorkerProcess, line: string) => void;

/**
 * A fixed number of worker slots; a worker that exits while the pool is open is started again.
 *
 * @example
 * const pool = new WorkerPool(options);
 * pool.start();
 * pool.kill(pool.workers[0]!); // SIGKILL; a new worker takes the slot shortly after
 * await pool.close();
 */
export class WorkerPool {
  readonly workers: WorkerProcess[] = [];
  private readonly lives: number[] = [];
  private readonly listeners = new Set<LineListener>();
  private closing = false;
  crashes = 0;
  restarts = 0;
  /** Every SIGKILL the harness sent, with what the worker was doing. */
  readonly killLog: { worker: string; phase: string; jobId: string | null; attempt: number }[] = [];

  constructor(private readonly opts: WorkerPoolOptions) {}

  get kills(): number {
    return this.killLog.length;
  }

  start(): void {
    for (let slot = 0; slot < this.opts.size; slot++) this.spawnSlot(slot);
  }

  onLine(listener: LineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private spawnSlot(slot: number): void {
    const life = (this.lives[slot] ?? 0) + 1;
    this.lives[slot] = life;
    const id = `chaos-w${slot + 1}-${life}`;
    const child = spawn(process.execPath, [this.opts.script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        HEADSTART_EDGE_URL: this.opts.edgeUrl,
        HEADSTART_WORKER_TOKEN: this.opts.workerToken,
        HEADSTART_CACHE_DIR: this.opts.cacheDir,
        HEADSTART_LEASE_SECONDS: String(this.opts.leaseSeconds),
        HEADSTART_PROVIDER: 'cpu',
        HEADSTART_THREADS: '1',
        HEADSTART_WORKER_CONCURRENCY: '1',
        HEADSTART_WORKER_ID: id,
      },
    });
    const worker = new WorkerProcess(id, child);
    this.workers[slot] = worker;
    const file = createWriteStream(path.join(this.opts.logsDir, `${id}.log`));
    let pending = '';
    // Lines are handled as they arrive, so a listener can act on one before the worker goes on.
    const onData = (chunk: Buffer) => {
      file.write(chunk);
      pending += chunk.toString('utf8');
      let at;
      while ((at = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, at);
        pending = pending.slice(at + 1);
        worker.follow(line);
        for (const listener of this.listeners) listener(worker, line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code, signal) => {
      file.end();
      if (this.closing) return;
      if (!worker.killed) {
        this.crashes++;
        this.opts.log(`${id} exited on its own (${signal ?? `code ${code}`}); see ${id}.log`);
      }
      const delay = this.opts.restartDelaySeconds(this.opts.random());
      setTimeout(() => {
        if (this.closing) return;
        this.restarts++;
        this.spawnSlot(slot);
      }, delay * 1000);
    });
  }

  /** SIGKILL, counted by the phase the worker was in. Resolves once it has exited. */
  async kill(worker: WorkerProcess, phase: string = worker.phase): Promise<void> {
    if (!worker.alive) return;
    worker.killed = true;
    this.killLog.push({ worker: worker.id, phase, jobId: worker.jobId, attempt: worker.attempt });
    worker.child.kill('SIGKILL');
    await worker.exited;
  }

  /** SIGSTOP: the process keeps its state (and its lease token) but sends nothing. */
  pause(worker: WorkerProcess): void {
    worker.paused = true;
    worker.child.kill('SIGSTOP');
  }

  resume(worker: WorkerProcess): void {
    worker.paused = false;
    worker.child.kill('SIGCONT');
  }

  /** Asks every worker to stop (SIGTERM), then kills what is left after `graceSeconds`. */
  async close(graceSeconds: number): Promise<void> {
    this.closing = true;
    const alive = this.workers.filter((w) => w.alive);
    for (const worker of alive) {
      worker.killed = true;
      if (worker.paused) worker.child.kill('SIGCONT');
      worker.child.kill('SIGTERM');
    }
    const timer = setTimeout(() => this.killAll(), graceSeconds * 1000);
    await Promise.all(alive.map((w) => w.exited));
    clearTimeout(timer);
  }

  /** Last resort, safe in an exit handler: SIGKILL every worker still running. */
  killAll(): void {
    this.closing = true;
    for (const worker of this.workers) {
      if (!worker.alive) continue;
      worker.killed = true;
      worker.child.kill('SIGKILL');
    }
  }
}
