// Bindings the edge tests see: the worker's own plus the FIXTURES service (vitest.edge.config.ts).
declare namespace Cloudflare {
  interface Env {
    MODELS: R2Bucket;
    DATASETS: R2Bucket;
    FIXTURES: Fetcher;
    DEFAULT_CLASSIFIER?: string;
    DEFAULT_EMBEDDER?: string;
  }
}
