// The CLI's errors: each becomes one line on stderr, `headstart: <message>`, and an exit code.

/** An error the CLI reports as one line and an exit code (1: the request or the work failed). */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A mistake in the command line, the configuration or the input files: exit code 2. */
export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, 2);
  }
}

/** An RFC 9457 problem the API answered with. */
export interface ApiProblem {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly field?: string | undefined;
  readonly requestId?: string | undefined;
}

/**
 * The API refused a request: `<detail> (<code>, <field>)`.
 *
 * @example
 * new ApiProblemError({ status: 404, code: 'not_found', detail: 'no head head_…', field: 'path.id' }).message;
 * // 'no head head_… (not_found, path.id)'
 */
export class ApiProblemError extends CliError {
  override name = 'ApiProblemError';
  constructor(readonly problem: ApiProblem) {
    super(`${problem.detail} (${[problem.code, problem.field].filter(Boolean).join(', ')})`);
  }
}

/** The edge could not be reached at all (after retries). */
export class UnreachableError extends CliError {
  override name = 'UnreachableError';
  constructor(baseUrl: string, reason: string) {
    super(`cannot reach ${baseUrl}: ${reason}`);
  }
}
