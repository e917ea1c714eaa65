// Resident memory of workerd processes, read from /proc: what a local isolate really holds.
import { execFileSync } from 'node:child_process';

/** Resident memory of the workerd processes under `rootPid`: current and peak, in MiB. */
export function workerdMemory(rootPid: number): Map<number, { rss: number; hwm: number }> {
  const table = execFileSync('ps', ['-eo', 'pid=,ppid=,comm='], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .map(([pid, ppid, comm]) => ({ pid: Number(pid), ppid: Number(ppid), comm: comm ?? '' }));
  const descendants = new Set([rootPid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const p of table) {
      if (descendants.has(p.ppid) && !descendants.has(p.pid)) {
        descendants.add(p.pid);
        grew = true;
      }
    }
  }
  const result = new Map<number, { rss: number; hwm: number }>();
  for (const p of table) {
    if (!descendants.has(p.pid) || !p.comm.startsWith('workerd')) continue;
    const status = execFileSync('cat', [`/proc/${p.pid}/status`], { encoding: 'utf8' });
    const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    result.set(p.pid, { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 });
  }
  return result;
}
