// The chaos harness's faults: SIGKILLs at random moments, one while a worker uploads a head, and a
// worker paused past its lease that wakes up as a zombie holding a stale lease token.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Rng } from '../../../src/shared/random.js';
import type { Job } from './jobs.js';
import type { WorkerPool, WorkerProcess } from './workers.js';

export interface FaultOptions {
  readonly pool: WorkerPool;
  readonly rng: Rng;
  /** Kills in all: random ones, plus the one during an upload and the one of the zombie. */
  readonly kills: number;
  readonly leaseSeconds: number;
  /** Seconds between random kills, given a number in [0, 1). */
  readonly gapSeconds: (random: number) => number;
  readonly job: (id: string) => Promise<Job | null>;
  readonly log: (message: string) => void;
  /** True once the run must wind down (time limit, Ctrl-C). */
  readonly stopped: () => boolean;
}

/** How a worker paused past its lease fared. */
export interface StallReport {
  readonly jobId: string;
  readonly attempt: number;
  readonly pausedSeconds: number;
  /** The coordinator took the lease back while the worker was paused. */
  readonly reclaimed: boolean;
  /** Another worker leased the job before the zombie woke up. */
  readonly reLeased: boolean;
  /** What the zombie said about the job after waking: its stale token must be refused. */
  readonly zombie: 'lease-lost' | 'succeeded' | 'failed' | 'silent';
}

export interface FaultReport {
  readonly stalls: StallReport[];
}

const BUSY = new Set(['fetching', 'training']);

function busyWorker(pool: WorkerPool): WorkerProcess | undefined {
  return pool.workers.find((w) => w.alive && !w.paused && !w.killed && BUSY.has(w.phase));
}

/** Resolves with the first line of `worker` that `classify` gives a value for. */
function nextVerdict<T>(
  pool: WorkerPool,
  worker: WorkerProcess,
  classify: (line: string) => T | undefined,
): { verdict: Promise<T>; cancel: () => void } {
  let off: () => void = () => undefined;
  const verdict = new Promise<T>((resolve) => {
    off = pool.onLine((w, line) => {
      const value = w === worker ? classify(line) : undefined;
      if (value === undefined) return;
      off();
      resolve(value);
    });
  });
  return { verdict, cancel: () => off() };
}

/**
 * Pauses a worker in the middle of a job (SIGSTOP) until the coordinator has taken its lease back
 * and, ideally, leased the job to the other worker; then resumes it (SIGCONT) so its late
 * heartbeats and reports arrive with a stale token, and kills it once it has given up the job.
 */
async function stallPastLease(o: FaultOptions): Promise<StallReport | null> {
  const waitUntil = Date.now() + 60_000;
  let worker = busyWorker(o.pool);
  while (!worker) {
    if (Date.now() > waitUntil || o.stopped()) return null;
    await sleep(100);
    worker = busyWorker(o.pool);
  }
  const jobId = worker.jobId!;
  const attempt = worker.attempt;
  const leaseMs = o.leaseSeconds * 1000;
  o.pool.pause(worker);
  const pausedAt = Date.now();
  o.log(`SIGSTOP ${worker.id} holding ${jobId} (attempt ${attempt}; lease ${o.leaseSeconds} s)`);
  let reclaimed = false;
  let reLeased = false;
  while (Date.now() - pausedAt < 4 * leaseMs + 10_000 && !o.stopped()) {
    await sleep(250);
    const job = await o.job(jobId).catch(() => null);
    if (!job) continue;
    const elapsed = Date.now() - pausedAt;
    if ((job.status !== 'running' || job.attempts > attempt) && elapsed > leaseMs) reclaimed = true;
    reLeased = job.attempts > attempt && job.status !== 'queued';
    // Once the lease is taken back, give the other worker up to another lease to pick the job up.
    if (reclaimed && (job.status !== 'queued' || elapsed > 2 * leaseMs + 2000)) break;
  }
  const pausedSeconds = (Date.now() - pausedAt) / 1000;
  const { verdict, cancel } = nextVerdict(o.pool, worker, (line) => {
    if (!line.includes(`job ${jobId}: `)) return undefined;
    if (line.includes('the lease was lost')) return 'lease-lost' as const;
    if (line.includes(': succeeded')) return 'succeeded' as const;
    if (line.includes(': failed')) return 'failed' as const;
    return undefined;
  });
  o.pool.resume(worker);
  o.log(
    `SIGCONT ${worker.id} after ${pausedSeconds.toFixed(1)} s (lease ${reclaimed ? 'taken back' : 'NOT taken back'}${reLeased ? ', job re-leased' : ''})`,
  );
  const zombie = await Promise.race([verdict, sleep(leaseMs + 5000).then(() => 'silent' as const)]);
  cancel();
  o.log(`zombie ${worker.id} on ${jobId}: ${zombie}; SIGKILL`);
  await o.pool.kill(worker, 'zombie');
  return { jobId, attempt, pausedSeconds, reclaimed, reLeased, zombie };
}

/**
 * SIGKILLs a worker at a random moment: usually a random delay into a job (waiting a little for
 * one to start if both workers are idle), sometimes whatever the worker is doing right now.
 */
async function randomKill(o: FaultOptions): Promise<void> {
  const live = () => o.pool.workers.filter((w) => w.alive && !w.paused && !w.killed);
  const busy = () => live().filter((w) => w.phase !== 'idle' && w.phase !== 'starting');
  const mayWait = Date.now() + 5000;
  const wantBusy = o.rng() < 0.8;
  const delayMs = o.rng() * 1000;
  for (;;) {
    if (o.stopped()) return;
    const choices = wantBusy && Date.now() < mayWait ? busy() : live();
    const victim = choices[Math.floor(o.rng() * choices.length)];
    if (victim) {
      if (wantBusy) await sleep(delayMs);
      if (!victim.alive || victim.killed || victim.paused) continue;
      o.log(
        `SIGKILL ${victim.id} (${victim.phase}${victim.jobId ? ` ${victim.jobId} attempt ${victim.attempt}` : ''})`,
      );
      await o.pool.kill(victim);
      return;
    }
    await sleep(50);
  }
}

/**
 * Runs the whole fault schedule; resolves once every planned fault has happened (or the run stops).
 *
 * @example
 * const report = await runFaults({ pool, rng, kills: 12, leaseSeconds: 8, gapSeconds: (r) => 2 + 4 * r, job, log, stopped });
 */
export async function runFaults(o: FaultOptions): Promise<FaultReport> {
  const stalls: StallReport[] = [];
  let uploadArmed = false;
  // Acts on the log line itself, before the worker's upload request can finish.
  const off = o.pool.onLine((worker, line) => {
    const uploading = /job (\S+): uploading head/.exec(line);
    if (!uploadArmed || !uploading || worker.paused || worker.killed) return;
    uploadArmed = false;
    o.log(`SIGKILL ${worker.id} while it uploads the head of ${uploading[1]}`);
    void o.pool.kill(worker, 'uploading');
  });
  try {
    const randomKills = Math.max(0, o.kills - 2);
    for (let i = 0; i < randomKills && !o.stopped(); i++) {
      await sleep(o.gapSeconds(o.rng()) * 1000);
      if (i === 1) uploadArmed = true;
      if (i === 3) {
        const stall = await stallPastLease(o);
        if (stall) stalls.push(stall);
      }
      await randomKill(o);
    }
    while (uploadArmed && !o.stopped()) await sleep(100);
  } finally {
    off();
  }
  return { stalls };
}
