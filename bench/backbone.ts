// `npm run bench:backbone`: per-image inference time of each backbone in onnxruntime-node (one
// thread) and in onnxruntime-web inside workerd, on the same preprocessed photos, side by side.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { decodeFile } from '../src/gpu-worker/decode.js';
import { BACKBONES } from '../src/shared/backbones.js';
import { MOBILENET_PREPROCESSING } from '../src/shared/manifest.js';
import { preprocess } from '../src/shared/preprocess.js';
import { DEFAULT_OUT, DEFAULT_SOURCE, importBackbones } from '../scripts/models/import.js';
import { photosOf } from '../test/support/photos.js';
import { measureInference } from './lib/inference.js';
import { recordFigures } from './lib/results.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '12' },
    iterations: { type: 'string', default: '10' },
  },
});

async function main(): Promise<void> {
  await importBackbones({ source: DEFAULT_SOURCE, out: DEFAULT_OUT });
  const files = (await photosOf('hymenoptera_data/val/bees')).slice(0, Number(values.images));
  const tensors = await Promise.all(
    files.map(async (f) =>
      preprocess(await decodeFile(await readFile(f)), MOBILENET_PREPROCESSING),
    ),
  );
  console.log(
    `${tensors.length} photos, ${values.iterations} runs each, batch 1; median ms per image`,
  );
  const rows = await measureInference(
    DEFAULT_OUT,
    BACKBONES.map((b) => b.id),
    tensors,
    Number(values.iterations),
  );
  for (const r of rows) {
    console.log(
      `${r.id.padEnd(20)} onnxruntime-node ${r.node_ms.toFixed(2)} ms   onnxruntime-web in workerd ${r.workerd_ms.toFixed(2)} ms   ratio ${r.ratio.toFixed(2)}×`,
    );
  }
  const figures: Parameters<typeof recordFigures>[1] = {};
  for (const r of rows) {
    figures[`backbone.${r.id}.node_ms`] = {
      value: r.node_ms,
      display: `${r.node_ms.toFixed(2)} ms`,
      label: `${r.id}: inference per image in onnxruntime-node (one thread, batch 1, median)`,
    };
    figures[`backbone.${r.id}.workerd_ms`] = {
      value: r.workerd_ms,
      display: `${r.workerd_ms.toFixed(2)} ms`,
      label: `${r.id}: inference per image in onnxruntime-web inside workerd (batch 1, median)`,
    };
    figures[`backbone.${r.id}.ratio`] = {
      value: r.ratio,
      display: `${r.ratio.toFixed(1)}×`,
      label: `${r.id}: onnxruntime-web in workerd against onnxruntime-node`,
    };
  }
  await recordFigures('npm run bench:backbone', figures);
  console.log(JSON.stringify({ backbones: rows }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
