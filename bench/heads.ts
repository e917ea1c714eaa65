// `npm run bench:heads`: what trained heads cost at the edge, through `wrangler dev` — one head
// against four heads that share one backbone pass (and four that need two), and a batch of 16
// photos against 16 single requests — ending with one JSON line.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_OUT, DEFAULT_SOURCE } from '../scripts/models/import.js';
import { startLocalEdge, type LocalEdge } from '../scripts/lib/local-edge.js';
import { photosOf } from '../test/support/photos.js';
import { edgeCall, makeBenchHead } from './lib/heads.js';
import { median, round2 } from './lib/inference.js';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '15' } } });
const ITERATIONS = Number(values.iterations);
const BACKBONE = 'mobilenet-v2-0.35';

const call = (edge: LocalEdge, route: string, init: RequestInit & { key?: string } = {}) =>
  edgeCall(edge, route, init.key ?? edge.apiKey, init);

const LABELS = ['a', 'b', 'c', 'd', 'e'];

/** A head made the way a worker makes one: a leased job completed with seeded weights. */
const makeHead = (
  edge: LocalEdge,
  datasetId: string,
  seed: number,
  mode: 'shortest-edge' | 'squash',
) =>
  makeBenchHead(edge, {
    apiKey: edge.apiKey,
    datasetId,
    backbone: BACKBONE,
    seed,
    labels: LABELS,
    mode,
  });

async function timed(run: () => Promise<unknown>): Promise<number> {
  await run(); // warm
  const samples: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const t0 = performance.now();
    await run();
    samples.push(performance.now() - t0);
  }
  return round2(median(samples));
}

async function main(): Promise<void> {
  const state = await mkdtemp(path.join(tmpdir(), 'headstart-bench-heads-'));
  const edge = await startLocalEdge(state, {
    modelsSource: DEFAULT_SOURCE,
    modelsOut: DEFAULT_OUT,
  });
  try {
    const photos = await photosOf('hymenoptera_data/val/bees', 16);
    const bytes = await Promise.all(photos.map((f) => readFile(f)));
    // A dataset record for the jobs (the heads do not train on it here).
    const zip = await readFile(path.resolve('.cache/test/datasets/hymenoptera.zip')).catch(() => {
      throw new Error(
        'run the tests once first: the bench uploads .cache/test/datasets/hymenoptera.zip',
      );
    });
    const dataset = (await (
      await call(edge, '/v1/datasets', {
        method: 'POST',
        headers: { 'content-type': 'application/zip' },
        body: zip,
      })
    ).json()) as { id: string };
    const crop: string[] = [];
    for (let i = 0; i < 4; i++) crop.push(await makeHead(edge, dataset.id, i + 1, 'shortest-edge'));
    const squash: string[] = [];
    for (let i = 0; i < 2; i++) squash.push(await makeHead(edge, dataset.id, i + 10, 'squash'));
    const classify = (model: string, photo = bytes[0]!) =>
      call(edge, `/v1/classify?model=${model}`, {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg' },
        body: photo,
      }).then((r) => r.json());
    const one = await timed(() => classify(crop[0]!));
    const four = await timed(() => classify(crop.join(',')));
    const twoPasses = await timed(() => classify([crop[0], crop[1], ...squash].join(',')));
    const single16 = await timed(async () => {
      for (const b of bytes) await classify(crop[0]!, b);
    });
    const batch16 = await timed(() => {
      const form = new FormData();
      form.set('model', crop[0]!);
      for (const [i, b] of bytes.entries()) form.append('images', new Blob([b]), `${i}.jpg`);
      return call(edge, '/v1/classify/batch', { method: 'POST', body: form }).then((r) => r.json());
    });
    console.log(`one head: ${one} ms per request (median of ${ITERATIONS})`);
    console.log(`four heads, one backbone pass: ${four} ms (${round2(four / one)}× one head)`);
    console.log(`four heads, two passes (crop + squash): ${twoPasses} ms`);
    console.log(`16 photos: ${single16} ms as single requests, ${batch16} ms as one batch`);
    console.log(
      JSON.stringify({
        one_head_ms: one,
        four_heads_ms: four,
        four_heads_ratio: round2(four / one),
        two_passes_ms: twoPasses,
        single16_ms: single16,
        batch16_ms: batch16,
      }),
    );
  } finally {
    await edge.stop();
    await rm(state, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:heads failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
