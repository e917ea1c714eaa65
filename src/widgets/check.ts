// Small guards for JSON from the API: each names the field at fault when the shape is wrong.
// (zod would triple the bundle.) A checked object's values stay unknown until read through one.
export type Json = Record<string, unknown>;

/** An answer that is not the shape the widget expects. */
export class ResponseShapeError extends Error {
  override name = 'ResponseShapeError';
}

/** True for a plain JSON object (not null, not an array). */
export const isRecord = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A JSON object; each of its values is still unknown until read through a checker. */
export function record(value: unknown, where: string): Json {
  if (!isRecord(value)) throw new ResponseShapeError(`${where} is not an object`);
  return value;
}

export function str(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new ResponseShapeError(`${where} is not a string`);
  return value;
}

/** A finite number. */
export function num(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new ResponseShapeError(`${where} is not a number`);
  return value;
}

/**
 * An array whose items each pass `item`.
 *
 * @example
 * list(body.labels, 'labels', str); // string[]
 */
export function list<T>(value: unknown, where: string, item: (v: unknown, at: string) => T): T[] {
  if (!Array.isArray(value)) throw new ResponseShapeError(`${where} is not an array`);
  return value.map((v: unknown, i) => item(v, `${where}[${i}]`));
}

/** `check(value)` unless the field is missing or null. */
export function nullable<T>(
  value: unknown,
  where: string,
  check: (v: unknown, at: string) => T,
): T | null {
  return value === undefined || value === null ? null : check(value, where);
}
