// Types for the part of autocannon (which ships none) that `npm run bench:load` uses.
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';

  interface AutocannonRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    /** Called with each response to this request (the body as text). */
    onResponse?: (status: number, body: string) => void;
  }

  interface AutocannonClient extends EventEmitter {
    /** Replaces the requests this connection cycles through. */
    setRequests(requests: AutocannonRequest[]): void;
  }

  interface AutocannonOptions extends AutocannonRequest {
    url: string;
    connections?: number;
    /** Seconds. */
    duration?: number;
    /** Seconds to wait for a response before counting a timeout. */
    timeout?: number;
    requests?: AutocannonRequest[];
    /** Called once per connection before its first request. */
    setupClient?: (client: AutocannonClient) => void;
  }

  /** hdr-histogram-percentiles-obj: milliseconds for latency, per-second counts for requests. */
  interface Histogram {
    average: number;
    mean: number;
    stddev: number;
    min: number;
    max: number;
    total: number;
    p50: number;
    p90: number;
    p99: number;
  }

  interface AutocannonResult {
    latency: Histogram;
    requests: Histogram & { sent: number };
    /** Seconds. */
    duration: number;
    /** Socket errors, timeouts included. */
    errors: number;
    timeouts: number;
    non2xx: number;
    '2xx': number;
    statusCodeStats: Record<string, { count: number }>;
  }

  interface AutocannonInstance extends EventEmitter, PromiseLike<AutocannonResult> {
    stop(): void;
  }

  export default function autocannon(options: AutocannonOptions): AutocannonInstance;
}
