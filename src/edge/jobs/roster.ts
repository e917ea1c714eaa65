// The workers table (GET /admin/v1/workers, the home page's worker line) says which workers
// reported in and when. Every lease request reports, and an idle worker asks again every few
// seconds, so writing each report would be one D1 write per poll. An isolate writes a worker's row
// when something in it changed, or when the row it wrote is older than ROSTER_REFRESH_MS.

/**
 * How stale `last_seen_at` may get while nothing else about a worker changes. An idle worker polls
 * every 20 s, so its row is written every other poll: at most ~40 s old, inside the home page's
 * 60 s "connected" window.
 */
export const ROSTER_REFRESH_MS = 30_000;
const MAX_WORKERS = 10_000;

const written = new Map<string, { readonly signature: string; readonly at: number }>();

/**
 * Whether this report must be written, remembering it as written when so.
 *
 * @example
 * if (rosterNeedsWrite('gpu-1-pod-a', ['gpu-1', 'cuda', 0])) await upsertWorkerRow(…);
 */
export function rosterNeedsWrite(
  workerId: string,
  fields: readonly unknown[],
  now = Date.now(),
): boolean {
  const signature = JSON.stringify(fields);
  const last = written.get(workerId);
  if (last && last.signature === signature && now - last.at < ROSTER_REFRESH_MS) return false;
  written.delete(workerId);
  written.set(workerId, { signature, at: now });
  if (written.size > MAX_WORKERS) written.delete(written.keys().next().value!);
  return true;
}

/** Forgets a report whose write failed, so the next one writes again. */
export function forgetRosterWrite(workerId: string): void {
  written.delete(workerId);
}
