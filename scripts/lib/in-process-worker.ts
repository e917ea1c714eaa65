// An in-process GPU worker (on CPU) for tests and benchmarks that need jobs to run against a
// local edge.
import { BackboneStore } from '../../src/gpu-worker/backbones.js';
import { createViewRenderer } from '../../src/gpu-worker/preprocess-pool.js';
import { EdgeClient } from '../../src/gpu-worker/edge-client.js';
import { WorkerLoop } from '../../src/gpu-worker/loop.js';

export interface InProcessWorker {
  /** What the worker logged, oldest first. */
  readonly logs: string[];
  /** Takes no new work, gives running jobs `graceSeconds`, and closes the sessions. */
  stop(graceSeconds?: number): Promise<void>;
}

/**
 * Starts a worker loop on this process against `edge` (a worker token is required).
 *
 * @example
 * const worker = await startInProcessWorker(edge, { workerId: 'bench', cacheDir: '/tmp/cache' });
 * await worker.stop();
 */
export function startInProcessWorker(
  edge: { readonly url: string; readonly workerToken: string },
  opts: {
    readonly workerId: string;
    readonly threads?: number;
    /** Preprocessing threads (default 2; 0 decodes on the main thread). */
    readonly preprocessThreads?: number;
    readonly leaseSeconds?: number;
    readonly cacheDir: string;
  },
): InProcessWorker {
  const { cacheDir } = opts;
  const client = new EdgeClient({ baseUrl: edge.url, token: edge.workerToken });
  const backbones = new BackboneStore(client, {
    cacheDir,
    provider: 'cpu',
    threads: opts.threads ?? 2,
  });
  const renderer = createViewRenderer(opts.preprocessThreads ?? 2);
  const logs: string[] = [];
  const loop = new WorkerLoop({
    edge: client,
    backbones,
    renderer,
    workerId: opts.workerId,
    provider: 'cpu',
    concurrency: 1,
    leaseSeconds: opts.leaseSeconds ?? 30,
    cacheDir,
    producerVersion: 'test',
    log: (m) => logs.push(m),
    waitSeconds: 1,
  });
  const running = loop.run();
  return {
    logs,
    async stop(graceSeconds = 2) {
      loop.stop({ graceSeconds });
      await running;
      await Promise.all([backbones.close(), renderer.close()]);
    },
  };
}
