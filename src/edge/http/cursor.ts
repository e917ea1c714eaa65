// Keyset cursors for newest-first listings: creation time plus id, so items created in the same
// millisecond (every job of a batch) are neither skipped nor repeated across pages.
import { z } from 'zod';

export interface Cursor {
  /** Creation time, ms since the epoch. */
  readonly at: number;
  /** Id of the last item of the previous page ('' for a time-only cursor). */
  readonly id: string;
}

export const CursorSchema = z
  .string()
  .regex(/^\d{1,16}(:[A-Za-z0-9_-]{1,80})?$/, 'a cursor from the previous page (nextCursor)')
  .transform((s): Cursor => {
    const [at, id = ''] = s.split(':');
    return { at: Number(at), id };
  });

/**
 * The cursor after `last`, or null when the page was not full.
 *
 * @example
 * const nextCursor = nextCursorOf(jobs, q.limit); // '1764290000000:job_abc…' | null
 */
export function nextCursorOf(
  items: readonly { readonly id: string; readonly createdAt: string }[],
  limit: number,
): string | null {
  const last = items.at(-1);
  return items.length === limit && last ? `${Date.parse(last.createdAt)}:${last.id}` : null;
}
