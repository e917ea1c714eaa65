// One error vocabulary for the edge: stable codes, their HTTP statuses, RFC 9457 bodies.
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** Every error code the API can answer with, and its HTTP status. */
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  lease_conflict: 409,
  idempotency_conflict: 409,
  idempotency_in_progress: 409,
  backbone_exists: 409,
  backbone_in_use: 409,
  body_too_large: 413,
  model_too_large: 413,
  image_too_large: 413,
  archive_too_large: 413,
  unsupported_media_type: 415,
  invalid_image: 422,
  invalid_archive: 422,
  invalid_dataset: 422,
  backbone_not_trainable: 422,
  invalid_model: 422,
  invalid_card: 422,
  external_data: 422,
  unsupported_operator: 422,
  trial_run_failed: 422,
  unprocessable: 422,
  rate_limited: 429,
  internal: 500,
  not_implemented: 501,
  model_unavailable: 503,
  unavailable: 503,
} as const satisfies Record<string, ContentfulStatusCode>;
export type ErrorCode = keyof typeof ERROR_STATUS;

/** The one error class handlers throw; `onError` turns it into problem+json. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** The request field at fault, as a JSON pointer-ish path such as `query.topK`. */
    readonly field?: string,
    /** Extra response headers (Retry-After, WWW-Authenticate). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
  get status(): ContentfulStatusCode {
    return ERROR_STATUS[this.code];
  }
}

/** An RFC 9457 problem document with Headstart's extension members. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly code: ErrorCode;
  readonly field?: string;
  readonly requestId: string;
}

const TITLES: Record<ErrorCode, string> = {
  invalid_request: 'Invalid request',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  not_found: 'Not found',
  method_not_allowed: 'Method not allowed',
  conflict: 'Conflict',
  lease_conflict: 'Lease conflict',
  idempotency_conflict: 'Idempotency key reused with a different request',
  idempotency_in_progress: 'A request with this idempotency key is still in progress',
  backbone_exists: 'A backbone with this id exists',
  backbone_in_use: 'The backbone is in use',
  body_too_large: 'Request body too large',
  model_too_large: 'Model too large',
  image_too_large: 'Image too large',
  archive_too_large: 'Archive too large',
  unsupported_media_type: 'Unsupported media type',
  invalid_image: 'Invalid image',
  invalid_archive: 'Invalid archive',
  invalid_dataset: 'Invalid dataset',
  backbone_not_trainable: 'Backbone cannot be trained',
  invalid_model: 'Invalid model',
  invalid_card: 'Model card disagrees with the model',
  external_data: 'Model keeps its weights outside the file',
  unsupported_operator: 'Unsupported operator',
  trial_run_failed: 'Trial run failed',
  unprocessable: 'Unprocessable content',
  rate_limited: 'Too many requests',
  internal: 'Internal error',
  not_implemented: 'Not implemented',
  model_unavailable: 'Model unavailable',
  unavailable: 'Temporarily unavailable',
};

/** Builds the problem body for an error code. */
export function problem(
  code: ErrorCode,
  detail: string,
  requestId: string,
  field?: string,
): Problem {
  return {
    type: `https://headstart.dev/problems/${code.replaceAll('_', '-')}`,
    title: TITLES[code],
    status: ERROR_STATUS[code],
    detail,
    code,
    ...(field === undefined ? {} : { field }),
    requestId,
  };
}

/** A problem+json Response. */
export function problemResponse(body: Problem, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status: body.status,
    headers: { 'content-type': 'application/problem+json', ...headers },
  });
}
