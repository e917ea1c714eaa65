// The widgets' HTTP client: where the API is, requests with an optional bearer key, RFC 9457
// problem answers turned into one error class, and a server-sent events reader over fetch
// (EventSource cannot send an Authorization header).
import { ResponseShapeError, isRecord } from './check.js';

/** The origin the bundle was loaded from: the edge serves /widgets.js, so this is the API too. */
export const SCRIPT_ORIGIN = new URL(import.meta.url).origin;

/**
 * The API base URL for an element: its `api` attribute, else the script's origin. No trailing slash.
 *
 * @example
 * apiBase(element); // "https://headstart.example"
 */
export function apiBase(element: Element): string {
  const attr = element.getAttribute('api')?.trim();
  return (attr ? attr : SCRIPT_ORIGIN).replace(/\/+$/, '');
}

/** An error the API answered with (problem+json), or a failure to reach it (`status` 0). */
export class ApiProblem extends Error {
  override name = 'ApiProblem';
  constructor(
    readonly status: number,
    /** The problem's stable `code` (`invalid_image`, `unauthorized`, …), or null. */
    readonly code: string | null,
    /** The problem's `detail`: what a person should read. */
    readonly detail: string,
    readonly requestId: string | null,
  ) {
    super(detail);
  }
}

/**
 * What to show a reader for any error: the problem's detail (with the request id, which support
 * needs), or a plain sentence.
 *
 * @example
 * this.showError(errorMessage(err)); // "body: not an image (request 8c1d…)"
 */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiProblem)
    return err.requestId ? `${err.detail} (request ${err.requestId})` : err.detail;
  if (err instanceof ResponseShapeError)
    return `The API answered in an unexpected shape (${err.message}).`;
  return err instanceof Error ? err.message : String(err);
}

/** True when `err` is the abort of a request the widget itself cancelled. */
export const isAbort = (err: unknown): boolean =>
  err instanceof DOMException && err.name === 'AbortError';

/**
 * Resolves after `ms`, or rejects with an AbortError saying `why` when `signal` aborts first.
 *
 * @example
 * await pause(2000, controller.signal, 'left the view');
 */
export const pause = (ms: number, signal: AbortSignal, why = 'aborted'): Promise<void> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new DOMException(why, 'AbortError'));
      },
      { once: true },
    );
  });

export interface RequestOptions {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Sent as `authorization: Bearer …` only when present. */
  readonly apiKey?: string | null;
  readonly contentType?: string;
  /** Defaults to application/json. */
  readonly accept?: string;
  readonly body?: BodyInit;
  readonly signal?: AbortSignal;
}

async function problemOf(response: Response): Promise<ApiProblem> {
  const requestId = response.headers.get('x-request-id');
  let detail = `The API answered ${response.status}${response.statusText ? ` ${response.statusText}` : ''}.`;
  let code: string | null = null;
  try {
    const body: unknown = await response.json();
    if (isRecord(body)) {
      if (typeof body.detail === 'string' && body.detail) detail = body.detail;
      if (typeof body.code === 'string') code = body.code;
    }
  } catch {
    // Not problem+json (a proxy's HTML page, say): the status line is all there is.
  }
  const retryAfter = response.headers.get('retry-after');
  if (response.status === 429 && retryAfter) detail += ` Try again in ${retryAfter} s.`;
  return new ApiProblem(response.status, code, detail, requestId);
}

/**
 * Fetches `base + path`; resolves with an OK response, rejects with ApiProblem otherwise (or with
 * the AbortError when `signal` aborts).
 *
 * @example
 * const response = await request(base, '/v1/classify?topK=5', { method: 'POST', body: file, contentType: file.type });
 */
export async function request(
  base: string,
  path: string,
  options: RequestOptions = {},
): Promise<Response> {
  const headers = new Headers({ accept: options.accept ?? 'application/json' });
  if (options.apiKey) headers.set('authorization', `Bearer ${options.apiKey}`);
  if (options.contentType) headers.set('content-type', options.contentType);
  let response: Response;
  try {
    response = await fetch(`${base}${path}`, {
      method: options.method ?? 'GET',
      headers,
      ...(options.body === undefined ? {} : { body: options.body }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ApiProblem(
      0,
      null,
      'Could not reach the Headstart API. Check your connection and try again.',
      null,
    );
  }
  if (!response.ok) throw await problemOf(response);
  return response;
}

/**
 * `request`, then the body as JSON (unknown until a checker from responses.ts has looked at it).
 *
 * @example
 * const lesson = parseLesson(await requestJson(base, `/v1/lessons/${slug}`));
 */
export async function requestJson(
  base: string,
  path: string,
  options: RequestOptions = {},
): Promise<unknown> {
  const response = await request(base, path, options);
  try {
    const body: unknown = await response.json();
    return body;
  } catch (err) {
    if (isAbort(err)) throw err;
    throw new ResponseShapeError('the body is not JSON');
  }
}

/** One server-sent event. */
export interface SseEvent {
  /** The `event:` field; "message" when the event named none. */
  readonly event: string;
  /** The `data:` lines joined with "\n". */
  readonly data: string;
  readonly id: string | null;
}

/**
 * Parses a text/event-stream body (WHATWG HTML §9.2.6: CR, LF or CRLF line ends, `:` comments,
 * multi-line data) into events as they arrive. Breaking out of the loop cancels the stream.
 *
 * @example
 * for await (const { event, data } of readEvents(response.body)) if (event === 'job') show(JSON.parse(data));
 */
export async function* readEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let id: string | null = null;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      // An event not closed by a blank line when the stream ends is dropped, as the spec says.
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      // A chunk may end between the CR and LF of one line end: keep a trailing CR for later.
      const cut = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
      const lines = buffer.slice(0, cut).replace(/\r\n?/g, '\n').split('\n');
      buffer = lines.pop()! + buffer.slice(cut);
      for (const line of lines) {
        if (line === '') {
          if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id };
          event = '';
          data = [];
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
        else if (field === 'id' && !value.includes('\0')) id = value;
      }
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}
