// The worker's configuration, from environment variables, validated once at start-up.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

export const WorkerConfigSchema = z.object({
  /** Base URL of the edge (the internal API lives under /internal/v1). */
  edgeUrl: z.url({ protocol: /^https?$/ }),
  /** Worker token (hs_worker_…): reaches only the internal API. */
  workerToken: z
    .string()
    .regex(/^hs_worker_[A-Za-z0-9_-]{20,}$/, 'a worker token such as hs_worker_…'),
  /** Jobs run at the same time. */
  concurrency: z.coerce.number().int().min(1).max(16),
  /** Where embeddings and backbone files are cached between jobs. */
  cacheDir: z.string().min(1),
  /** Execution provider preference: auto picks CUDA when it can. */
  provider: z.enum(['auto', 'cuda', 'cpu']),
  /** Threads for onnxruntime on CPU (0 = one per core). */
  threads: z.coerce.number().int().min(0).max(256),
  /** Threads that decode images and render views (0 = on the main thread). */
  preprocessThreads: z.coerce.number().int().min(0).max(64),
  /** Lease length asked for; heartbeats go out at a third of it. */
  leaseSeconds: z.coerce.number().int().min(5).max(600),
  /** A name for logs and leases. */
  workerId: z.string().min(1).max(128),
  /** Port of the readiness endpoint (GET /healthz), 0 for none. */
  healthPort: z.coerce.number().int().min(0).max(65535),
});
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

/** The environment variable of each setting: what a container image or manifest sets. */
export const WORKER_ENV_VARS: Readonly<Record<keyof WorkerConfig, string>> = {
  edgeUrl: 'HEADSTART_EDGE_URL',
  workerToken: 'HEADSTART_WORKER_TOKEN',
  concurrency: 'HEADSTART_WORKER_CONCURRENCY',
  cacheDir: 'HEADSTART_CACHE_DIR',
  provider: 'HEADSTART_PROVIDER',
  threads: 'HEADSTART_THREADS',
  preprocessThreads: 'HEADSTART_PREPROCESS_THREADS',
  leaseSeconds: 'HEADSTART_LEASE_SECONDS',
  workerId: 'HEADSTART_WORKER_ID',
  healthPort: 'HEADSTART_HEALTH_PORT',
};

/**
 * Reads HEADSTART_EDGE_URL, HEADSTART_WORKER_TOKEN, HEADSTART_WORKER_CONCURRENCY,
 * HEADSTART_CACHE_DIR, HEADSTART_PROVIDER, HEADSTART_THREADS, HEADSTART_PREPROCESS_THREADS,
 * HEADSTART_LEASE_SECONDS, HEADSTART_WORKER_ID and HEADSTART_HEALTH_PORT, with defaults for everything but the edge URL and token.
 *
 * @example
 * const config = loadWorkerConfig(process.env); // throws a readable error naming bad variables
 */
export function loadWorkerConfig(env: Record<string, string | undefined>): WorkerConfig {
  const result = WorkerConfigSchema.safeParse({
    edgeUrl: env.HEADSTART_EDGE_URL,
    workerToken: env.HEADSTART_WORKER_TOKEN,
    concurrency: env.HEADSTART_WORKER_CONCURRENCY ?? '1',
    cacheDir: env.HEADSTART_CACHE_DIR ?? path.resolve('.cache', 'worker'),
    provider: env.HEADSTART_PROVIDER ?? 'auto',
    threads: env.HEADSTART_THREADS ?? '0',
    preprocessThreads: env.HEADSTART_PREPROCESS_THREADS ?? String(os.availableParallelism()),
    leaseSeconds: env.HEADSTART_LEASE_SECONDS ?? '60',
    workerId: env.HEADSTART_WORKER_ID ?? `${os.hostname()}-${process.pid}`,
    healthPort: env.HEADSTART_HEALTH_PORT ?? '0',
  });
  if (!result.success) {
    const names: Record<string, string> = WORKER_ENV_VARS;
    const problems = result.error.issues.map(
      (i) => `${names[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`,
    );
    throw new Error(`invalid worker configuration:\n  ${problems.join('\n  ')}`);
  }
  return result.data;
}
