// `npm run bench:backbone`: per-image inference time of each backbone in onnxruntime-node (one
// thread) and in onnxruntime-web inside workerd, on the same preprocessed photos, side by side.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { unstable_startWorker } from 'wrangler';
import { createWorkerSession } from '../src/gpu-worker/embed.js';
import { BACKBONES } from '../src/shared/backbones.js';
import { preprocess } from '../src/shared/preprocess.js';
import { MOBILENET_PREPROCESSING } from '../src/shared/manifest.js';
import { DEFAULT_OUT, DEFAULT_SOURCE, importBackbones } from '../scripts/models/import.js';
import { decodePhoto, photosOf } from '../test/support/photos.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '12' },
    iterations: { type: 'string', default: '5' },
  },
});
const imageCount = Number(values.images);
const iterations = Number(values.iterations);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function main(): Promise<void> {
  await importBackbones({ source: DEFAULT_SOURCE, out: DEFAULT_OUT });
  const files = (await photosOf('hymenoptera_data/val/bees')).slice(0, imageCount);
  const tensors = await Promise.all(
    files.map(async (f) => preprocess(await decodePhoto(f), MOBILENET_PREPROCESSING)),
  );
  console.log(`${tensors.length} photos, ${iterations} runs each, batch 1; median ms per image`);

  const worker = await unstable_startWorker({
    name: 'headstart-bench',
    entrypoint: path.resolve('bench/workerd/backbone-worker.ts'),
    compatibilityDate: '2026-04-20',
    dev: { server: { hostname: '127.0.0.1', port: 0 }, inspector: false, logLevel: 'warn' },
  });
  const rows: { id: string; node_ms: number; workerd_ms: number; ratio: number }[] = [];
  try {
    for (const spec of BACKBONES) {
      const model = await readFile(path.join(DEFAULT_OUT, spec.id, 'model.onnx'));

      const node = await createWorkerSession(model, { provider: 'cpu', threads: 1 });
      const run = (t: Float32Array) =>
        node.run({ pixel_values: { data: t, dims: [1, 3, 224, 224] } }, ['embedding']);
      for (let i = 0; i < 3; i++) await run(tensors[0]!);
      const nodeTimes: number[] = [];
      for (const t of tensors) {
        const start = performance.now();
        for (let i = 0; i < iterations; i++) await run(t);
        nodeTimes.push((performance.now() - start) / iterations);
      }
      await node.release();

      const load = await worker.fetch(`http://bench/load?id=${spec.id}`, {
        method: 'POST',
        body: model,
      });
      if (!load.ok) throw new Error(`workerd could not load ${spec.id}: ${await load.text()}`);
      const remote = (t: Float32Array, n: number) =>
        worker.fetch(`http://bench/run?id=${spec.id}&iterations=${n}`, {
          method: 'POST',
          body: new Uint8Array(t.buffer),
        });
      await (await remote(tensors[0]!, 3)).text();
      const workerdTimes: number[] = [];
      for (const t of tensors) {
        const start = performance.now();
        const res = await remote(t, iterations);
        if (!res.ok) throw new Error(`workerd run failed: ${await res.text()}`);
        await res.text();
        workerdTimes.push((performance.now() - start) / iterations);
      }

      const row = {
        id: spec.id,
        node_ms: median(nodeTimes),
        workerd_ms: median(workerdTimes),
        ratio: 0,
      };
      row.ratio = row.workerd_ms / row.node_ms;
      rows.push(row);
      console.log(
        `${spec.id.padEnd(20)} onnxruntime-node ${row.node_ms.toFixed(2)} ms   onnxruntime-web in workerd ${row.workerd_ms.toFixed(2)} ms   ratio ${row.ratio.toFixed(2)}×`,
      );
    }
  } finally {
    await worker.dispose();
  }
  const round = (x: number) => Math.round(x * 100) / 100;
  console.log(
    JSON.stringify({
      backbones: rows.map((r) => ({
        id: r.id,
        node_ms: round(r.node_ms),
        workerd_ms: round(r.workerd_ms),
        ratio: round(r.ratio),
      })),
    }),
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
