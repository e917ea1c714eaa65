// Bindings the edge tests see: the worker's own plus the FIXTURES service (vitest.edge.config.ts).
declare namespace Cloudflare {
  interface Env {
    MODELS: R2Bucket;
    DATASETS: R2Bucket;
    FIXTURES: Fetcher;
    DB: D1Database;
    COORDINATOR: DurableObjectNamespace<
      import('../../src/edge/jobs/coordinator.js').JobCoordinator
    >;
    JOB_DIRECTORY: DurableObjectNamespace<import('../../src/edge/jobs/directory.js').JobDirectory>;
    COORDINATOR_SHARDS?: string;
    JOBS_QUEUE: Queue<import('../../src/edge/env.js').JobMessage>;
    SUBMIT_LIMITER: RateLimit;
    CLASSIFY_LIMITER: RateLimit;
    CATALOGUE_LIMITER: RateLimit;
    TEST_MIGRATIONS: import('cloudflare:test').D1Migration[];
    DEFAULT_CLASSIFIER?: string;
    DEFAULT_EMBEDDER?: string;
  }
}
