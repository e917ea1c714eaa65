// The edge's bindings, as wrangler.toml declares them.

export interface Env {
  /** Converted backbones (backbones/<id>/…) and, later, trained heads. */
  readonly MODELS: R2Bucket;
  /** Uploaded datasets: datasets/<id>/archive.zip, datasets/<id>/images/<sha256>, datasets/<id>/manifest.json. */
  readonly DATASETS: R2Bucket;
  /** Backbone used by /v1/classify when the request names none. */
  readonly DEFAULT_CLASSIFIER?: string;
  /** Backbone new fine-tune jobs use when they name none. */
  readonly DEFAULT_EMBEDDER?: string;
  /** "true" enables GET /internal/diagnostics/memory (benchmarks); off by default. */
  readonly DIAGNOSTICS?: string;
}

/** Hono's environment type for the edge app. */
export interface AppEnv {
  Bindings: Env;
  Variables: { requestId: string };
}
