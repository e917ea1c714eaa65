// GPU worker entry point: configuration, execution provider, the lease loop, clean shutdown.
import { createServer } from 'node:http';
import { BackboneStore } from './backbones.js';
import { loadWorkerConfig } from './config.js';
import { EdgeClient } from './edge-client.js';
import { chooseProvider, probeProviders } from './embed.js';
import { WorkerLoop } from './loop.js';
import { createViewRenderer } from './preprocess-pool.js';

const log = (message: string) => console.log(`[worker] ${message}`);

async function main(): Promise<void> {
  const config = loadWorkerConfig(process.env);
  const choice = chooseProvider(config.provider, probeProviders());
  log(
    `execution provider: ${choice.provider} (${choice.reason}); ${config.concurrency} job(s) at a time; edge ${config.edgeUrl}`,
  );
  const edge = new EdgeClient({ baseUrl: config.edgeUrl, token: config.workerToken });
  const backbones = new BackboneStore(edge, {
    cacheDir: config.cacheDir,
    provider: choice.provider,
    threads: config.threads,
  });
  const renderer = createViewRenderer(config.preprocessThreads);
  await renderer.warm();
  log(
    config.preprocessThreads > 0
      ? `${config.preprocessThreads} preprocessing thread(s) decode and render views`
      : 'images are decoded on the main thread',
  );
  const loop = new WorkerLoop({
    edge,
    backbones,
    renderer,
    workerId: config.workerId,
    provider: choice.provider,
    concurrency: config.concurrency,
    leaseSeconds: config.leaseSeconds,
    cacheDir: config.cacheDir,
    producerVersion: process.env.npm_package_version ?? 'dev',
    log,
  });
  // A readiness endpoint for orchestrators: 200 once the edge answers lease requests.
  const health =
    config.healthPort > 0
      ? createServer((req, res) => {
          const state = loop.health();
          res.writeHead(req.url === '/healthz' && state.ready ? 200 : 503, {
            'content-type': 'application/json',
          });
          res.end(
            JSON.stringify({ workerId: config.workerId, provider: choice.provider, ...state }),
          );
        }).listen(config.healthPort)
      : undefined;
  if (health) log(`readiness on http://0.0.0.0:${config.healthPort}/healthz`);
  const stop = () => loop.stop({ graceSeconds: Math.max(5, config.leaseSeconds / 2) });
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await loop.run();
  health?.close();
  await Promise.all([backbones.close(), renderer.close()]);
  log(`stopped after ${loop.completed} completed and ${loop.failed} failed job(s)`);
}

main().catch((err: unknown) => {
  console.error(`[worker] ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
