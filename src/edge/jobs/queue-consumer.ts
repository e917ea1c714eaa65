// The jobs queue consumer: registers each submitted job with the coordinator. Delivery is
// at-least-once, so registration is idempotent; failures retry with backoff, and messages that
// exhaust their retries arrive on the dead-letter queue, where the job is recorded as failed.
import { FineTuneSpecSchema } from '../../shared/jobs.js';
import type { Env, JobMessage } from '../env.js';
import { coordinatorOf } from './shards.js';

async function loadJob(env: Env, message: JobMessage) {
  const row = await env.DB.prepare('SELECT * FROM jobs WHERE id = ? AND tenant_id = ?')
    .bind(message.jobId, message.tenantId)
    .first<{
      id: string;
      tenant_id: string;
      batch_id: string | null;
      spec_json: string;
      created_at: string;
    }>();
  if (!row) return undefined;
  return {
    id: row.id,
    tenantId: row.tenant_id,
    batchId: row.batch_id,
    spec: FineTuneSpecSchema.parse(JSON.parse(row.spec_json)),
    createdAt: Date.parse(row.created_at),
  };
}

/**
 * Handles one batch from `headstart-jobs` or its dead-letter queue.
 *
 * @example
 * export default { fetch: app.fetch, queue: (batch, env) => handleJobsQueue(batch, env) };
 */
export async function handleJobsQueue(batch: MessageBatch<JobMessage>, env: Env): Promise<void> {
  const deadLetters = batch.queue.endsWith('-dlq');
  for (const message of batch.messages) {
    try {
      // The message names the tenant, and so the shard that will hold the job.
      const coordinator = coordinatorOf(env, message.body.tenantId);
      const job = await loadJob(env, message.body);
      if (!job) {
        // The submission was rolled back after sending; there is nothing to schedule.
        console.warn(`queue: job ${message.body.jobId} has no record; dropping the message`);
        message.ack();
        continue;
      }
      if (deadLetters) {
        await coordinator.markUnschedulable(
          job,
          'the job could not be scheduled after repeated attempts; submit it again',
        );
      } else {
        await coordinator.register(job);
      }
      message.ack();
    } catch (err) {
      console.error(
        `queue: registering ${message.body.jobId} failed (attempt ${message.attempts})`,
        err,
      );
      message.retry({ delaySeconds: Math.min(2 ** message.attempts, 300) });
    }
  }
}
