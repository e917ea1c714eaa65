// The worker loop: lease a job, keep its lease alive on a timer, run it, report the outcome.
// Stopping takes no new work; running jobs get a grace period, then release their leases.
import type { EpochMetrics, LeaseGrant } from '../shared/jobs.js';
import type { BackboneStore } from './backbones.js';
import type { ViewRenderer } from './preprocess-pool.js';
import { LeaseLostError, type EdgeClient } from './edge-client.js';
import { JobCanceledError, PermanentJobError, runJob } from './run-job.js';

export interface LoopOptions {
  readonly edge: EdgeClient;
  readonly backbones: BackboneStore;
  readonly renderer: ViewRenderer;
  readonly workerId: string;
  /** The execution provider, reported with each lease request (the admin API lists workers). */
  readonly provider: string;
  readonly concurrency: number;
  readonly leaseSeconds: number;
  readonly cacheDir: string;
  readonly producerVersion: string;
  readonly log: (message: string) => void;
  /** Seconds of long polling per lease request. */
  readonly waitSeconds?: number;
}

type AbortReason = 'canceled' | 'lease-lost' | 'shutdown';

/**
 * @example
 * const loop = new WorkerLoop(options);
 * process.on('SIGTERM', () => loop.stop({ graceSeconds: 25 }));
 * await loop.run();
 */
export class WorkerLoop {
  private stopping = false;
  /** Aborts lease requests still waiting for work when the worker stops. */
  private readonly polls = new AbortController();
  private readonly running = new Map<string, AbortController>();
  completed = 0;
  failed = 0;
  /** When a lease request last got an answer from the edge (the worker is reachable and allowed). */
  private lastAnswerAt = 0;

  constructor(private readonly opts: LoopOptions) {}

  /** Leases and runs jobs until `stop` is called and the running ones have ended. */
  async run(): Promise<void> {
    await Promise.all(Array.from({ length: this.opts.concurrency }, () => this.slot()));
  }

  /**
   * Ready: not stopping, and the edge answered a lease request within the last two long polls
   * (so the edge URL and the worker token work). What a readiness probe asks.
   */
  health(): { ready: boolean; stopping: boolean; jobsHeld: number; lastAnswerAt: string | null } {
    const window = 2 * ((this.opts.waitSeconds ?? 20) + 10) * 1000;
    return {
      ready: !this.stopping && Date.now() - this.lastAnswerAt < window,
      stopping: this.stopping,
      jobsHeld: this.running.size,
      lastAnswerAt: this.lastAnswerAt ? new Date(this.lastAnswerAt).toISOString() : null,
    };
  }

  /** Takes no new work; after `graceSeconds`, running jobs release their leases. */
  stop(opts: { graceSeconds: number }): void {
    if (this.stopping) return;
    this.stopping = true;
    this.polls.abort();
    this.opts.log(
      `stopping: no new jobs; ${this.running.size} running job(s) get ${opts.graceSeconds} s to finish`,
    );
    setTimeout(() => {
      for (const controller of this.running.values())
        controller.abort('shutdown' satisfies AbortReason);
    }, opts.graceSeconds * 1000).unref();
  }

  private async slot(): Promise<void> {
    while (!this.stopping) {
      let grant: LeaseGrant | null;
      try {
        grant = await this.opts.edge.lease(
          {
            workerId: this.opts.workerId,
            waitSeconds: this.opts.waitSeconds ?? 20,
            leaseSeconds: this.opts.leaseSeconds,
            jobsHeld: this.running.size,
            provider: this.opts.provider,
          },
          this.polls.signal,
        );
      } catch (err) {
        // Stopping: an abandoned wait is expected. (Were a job granted at that very moment, its
        // lease simply expires and the coordinator queues it again.)
        if (this.stopping) return;
        this.opts.log(`lease request failed: ${(err as Error).message}; retrying in 5 s`);
        await new Promise((r) => setTimeout(r, 5000));
        continue;
      }
      this.lastAnswerAt = Date.now();
      if (!grant) continue;
      if (this.stopping) {
        await this.report(
          grant,
          'the worker shut down before starting the job; it will be retried',
          true,
        );
        return;
      }
      await this.handle(grant);
    }
  }

  private async report(grant: LeaseGrant, message: string, retryable: boolean): Promise<void> {
    try {
      await this.opts.edge.fail(grant.jobId, grant.leaseToken, message, retryable);
    } catch (err) {
      // The lease will expire on its own and the job will be retried by the coordinator.
      this.opts.log(`job ${grant.jobId}: could not report the failure (${(err as Error).message})`);
    }
  }

  private async handle(grant: LeaseGrant): Promise<void> {
    const { edge, log } = this.opts;
    const controller = new AbortController();
    this.running.set(grant.jobId, controller);
    const abort = (reason: AbortReason) => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    // The heartbeat runs on a timer: training yields to the event loop often enough for it to fire.
    const heartbeat = setInterval(
      () => {
        edge.heartbeat(grant.jobId, grant.leaseToken).then(
          (answer) => answer.cancelRequested && abort('canceled'),
          (err: unknown) => {
            if (err instanceof LeaseLostError) abort('lease-lost');
            else log(`job ${grant.jobId}: heartbeat failed (${(err as Error).message})`);
          },
        );
      },
      (this.opts.leaseSeconds * 1000) / 3,
    );
    log(`job ${grant.jobId}: leased (attempt ${grant.attempt} of ${grant.maxAttempts})`);
    const onEpoch = async (metrics: EpochMetrics) => {
      const answer = await edge.progress(grant.jobId, grant.leaseToken, metrics);
      log(
        `job ${grant.jobId}: epoch ${metrics.epoch}/${metrics.epochs} val accuracy ${metrics.valAccuracy.toFixed(3)}`,
      );
      if (answer.cancelRequested) abort('canceled');
    };
    try {
      const outcome = await runJob(
        {
          edge,
          backbones: this.opts.backbones,
          renderer: this.opts.renderer,
          cacheDir: this.opts.cacheDir,
          producerVersion: this.opts.producerVersion,
          log,
        },
        grant,
        controller.signal,
        onEpoch,
      );
      this.completed++;
      log(
        `job ${grant.jobId}: succeeded, head ${outcome.headId}, val accuracy ${outcome.valAccuracy.toFixed(3)} (epoch ${outcome.bestEpoch}), ${outcome.timings.totalSeconds.toFixed(2)} s`,
      );
    } catch (err) {
      this.failed++;
      const reason: unknown = controller.signal.reason;
      if (err instanceof LeaseLostError || reason === 'lease-lost') {
        log(`job ${grant.jobId}: the lease was lost; another worker will take the job`);
      } else if (reason === 'shutdown') {
        await this.report(grant, 'the worker shut down during the job; it will be retried', true);
      } else if (err instanceof JobCanceledError || reason === 'canceled') {
        await this.report(grant, 'canceled by the user', true);
        log(`job ${grant.jobId}: canceled`);
      } else if (err instanceof PermanentJobError) {
        await this.report(grant, err.message, false);
        log(`job ${grant.jobId}: failed for good: ${err.message}`);
      } else {
        const message = err instanceof Error ? err.message : String(err);
        await this.report(grant, `the worker failed: ${message}`, true);
        log(`job ${grant.jobId}: failed (will be retried): ${message}`);
      }
    } finally {
      clearInterval(heartbeat);
      this.running.delete(grant.jobId);
    }
  }
}
