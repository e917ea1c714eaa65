// The shape of a hostile case and the request builders the case tables share.
import { SELF } from 'cloudflare:test';
import { ERROR_STATUS, type ErrorCode } from '../../../src/edge/errors.js';
import type { World } from './world.js';

export const AREAS = [
  'classify',
  'datasets',
  'jobs',
  'heads',
  'lessons',
  'backbones',
  'internal',
] as const;
export type Area = (typeof AREAS)[number];

export interface HostileCase {
  readonly area: Area;
  readonly name: string;
  /** Builds the request against the world (async: some bodies are generated). */
  readonly request: (w: World) => Request | Promise<Request>;
  /** The stable code the API must answer with; its status follows from ERROR_STATUS. */
  readonly code: ErrorCode;
  /** The field at fault, where the API names one. */
  readonly field?: string;
}

export const statusOf = (c: HostileCase) => ERROR_STATUS[c.code];

export interface RequestOptions {
  readonly method?: string;
  /** Sent as `Authorization: Bearer <key>`. */
  readonly key?: string;
  readonly headers?: Record<string, string>;
  readonly body?: BodyInit;
  /** Serialised with content-type application/json. */
  readonly json?: unknown;
  /** A JSON text sent as is, with content-type application/json. */
  readonly rawJson?: string;
}

/**
 * A request to the edge; POST when it has a body. Streamed bodies are sent without a length.
 *
 * @example
 * request('/v1/heads', { key: w.b.apiKey });
 */
export function request(path: string, opts: RequestOptions = {}): Request {
  const headers = new Headers(opts.headers);
  if (opts.key !== undefined) headers.set('authorization', `Bearer ${opts.key}`);
  let body = opts.body;
  if (opts.json !== undefined || opts.rawJson !== undefined) {
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    body = opts.rawJson ?? JSON.stringify(opts.json);
  }
  const init: RequestInit & { duplex?: 'half' } = {
    method: opts.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    ...(body === undefined ? {} : { body }),
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  };
  return new Request(`https://edge.test${path}`, init);
}

/** A multipart form built from fields (strings, or files given as bytes). */
export function form(fields: Record<string, string | Uint8Array | Uint8Array[]>): FormData {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    const values = Array.isArray(value) ? value : [value];
    for (const [i, v] of values.entries())
      data.append(name, typeof v === 'string' ? v : new File([v], `${name}-${i}.bin`));
  }
  return data;
}

/** A body of `bytes` bytes that arrives in 1 MiB chunks with no Content-Length. */
export function streamOf(bytes: number, first?: Uint8Array): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(1024 * 1024);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= bytes) return controller.close();
      const part =
        sent === 0 && first ? first : chunk.subarray(0, Math.min(chunk.length, bytes - sent));
      sent += part.length;
      controller.enqueue(part);
    },
  });
}

/** `[[[…]]]`, `depth` levels deep. */
export const nestedArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

/** `{"a":{"a":…}}`, `depth` levels deep. */
export const nestedObjects = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

/** A syntactically valid JSON object of about `bytes` bytes. */
export const bigJson = (bytes: number, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ ...extra, padding: 'x'.repeat(bytes) });

/** Sends a case's request to the edge. */
export async function send(c: HostileCase, w: World): Promise<Response> {
  return SELF.fetch(await c.request(w));
}

/** A random v4 UUID that was never a lease token. */
export const forgedToken = () => crypto.randomUUID();

/** A well-formed API key / worker token that no tenant or worker was ever given. */
export const forgedKey = (prefix: 'hs_key' | 'hs_worker') => `${prefix}_${'A'.repeat(43)}`;
