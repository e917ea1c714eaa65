// The edge's bindings, as wrangler.toml declares them.
import type { JobCoordinator } from './jobs/coordinator.js';
import type { JobDirectory } from './jobs/directory.js';

export interface Env {
  /** Converted backbones (backbones/<id>/…) and trained heads (heads/<id>/…). */
  readonly MODELS: R2Bucket;
  /** Uploaded datasets: datasets/<id>/archive.zip, datasets/<id>/images/<sha256>, datasets/<id>/manifest.json. */
  readonly DATASETS: R2Bucket;
  /** Tenants, hashed API keys and worker tokens, dataset and job records. */
  readonly DB: D1Database;
  /** The job coordinator: COORDINATOR_SHARDS named instances, tenants spread over them. */
  readonly COORDINATOR: DurableObjectNamespace<JobCoordinator>;
  /** Which coordinator shards have queued work (one named instance). */
  readonly JOB_DIRECTORY: DurableObjectNamespace<JobDirectory>;
  /** How many coordinator shards (1-64, default 1; fixed for a deployment's life). */
  readonly COORDINATOR_SHARDS?: string;
  /** Job registrations on their way to the coordinator. */
  readonly JOBS_QUEUE: Queue<JobMessage>;
  readonly SUBMIT_LIMITER: RateLimit;
  readonly CLASSIFY_LIMITER: RateLimit;
  /** GET /v1/models and /v1/models/{id}, per client address. */
  readonly CATALOGUE_LIMITER: RateLimit;
  /** Backbone used by /v1/classify when the request names none. */
  readonly DEFAULT_CLASSIFIER?: string;
  /** Backbone new fine-tune jobs use when they name none. */
  readonly DEFAULT_EMBEDDER?: string;
  /** CSP frame-ancestors of the /embed pages (default `*`: any site may embed them). */
  readonly EMBED_FRAME_ANCESTORS?: string;
  /** Seconds between heartbeat comments on an idle job event stream (default 15). */
  readonly EVENTS_HEARTBEAT_SECONDS?: string;
  /** "true" enables /internal/diagnostics (memory, call counters); off by default. */
  readonly DIAGNOSTICS?: string;
  /** Seconds an isolate trusts an API key's verdict before asking D1 again (default 60; 0: every request). */
  readonly KEY_VERDICT_SECONDS?: string;
  /** Seconds an isolate trusts what a head id or alias resolved to (default 30; 0: every request). */
  readonly RESOLVE_SECONDS?: string;
  /** Seconds an isolate gathers key-use counts before writing them (default 5; 0: every request). */
  readonly USAGE_FLUSH_SECONDS?: string;
}

/** The one message type on the jobs queue: "register this job with the coordinator". */
export interface JobMessage {
  readonly type: 'register';
  readonly jobId: string;
  readonly tenantId: string;
}

/** Hono's environment type for the edge app. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    tenantId: string;
    /** The public id of the API key the request came with. */
    keyId: string;
    workerName: string;
    adminName: string;
  };
}

/**
 * A seconds var (KEY_VERDICT_SECONDS and the like) as milliseconds: `fallback` seconds when it is
 * unset or not a number of 0 or more.
 *
 * @example
 * secondsVar(env.RESOLVE_SECONDS, 30); // 30000 unless the var says otherwise
 */
export function secondsVar(value: string | undefined, fallback: number): number {
  const seconds = value === undefined ? fallback : Number(value);
  return (Number.isFinite(seconds) && seconds >= 0 ? seconds : fallback) * 1000;
}
