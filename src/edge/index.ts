// Edge entry point: the HTTP app, the jobs queue consumer and the coordinator Durable Object.
import { app } from './app.js';
import type { Env, JobMessage } from './env.js';
import { handleJobsQueue } from './jobs/queue-consumer.js';

export { JobCoordinator } from './jobs/coordinator.js';
export { JobDirectory } from './jobs/directory.js';

export default {
  fetch: app.fetch,
  queue: (batch, env) => handleJobsQueue(batch, env),
} satisfies ExportedHandler<Env, JobMessage>;
