// `npm run bench:import`: what importing a tenant's own ONNX backbone costs the edge — time per
// POST /v1/backbones and the isolate's wasm memory high-water mark (it never shrinks) after each
// import and after classifying with each — through a local edge, ending with one JSON line.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DEFAULT_OUT, DEFAULT_SOURCE } from '../scripts/models/import.js';
import { startLocalEdge, type LocalEdge } from '../scripts/lib/local-edge.js';
import { photosOf } from '../test/support/photos.js';
import { round2 } from './lib/inference.js';

const TORCHVISION = {
  resize: { mode: 'shortest-edge', shortestEdge: 256 },
  crop: { width: 224, height: 224 },
  rescaleFactor: 1 / 255,
  image_mean: [0.485, 0.456, 0.406],
  image_std: [0.229, 0.224, 0.225],
};

/** The shared files as users bring them, with their cards. */
const SOURCES = [
  {
    name: 'zoo-int8',
    file: 'mobilenet_v2_1.0_224_torchvision/source/mobilenetv2-12-int8.onnx',
    outputs: { logits: 'output', labels: 'imagenet' },
  },
  {
    name: 'my-mnv2',
    file: 'mobilenet_v2_1.0_224_torchvision/model.onnx',
    outputs: { logits: 'logits', labels: 'imagenet' },
  },
] as const;

async function wasmMiB(edge: LocalEdge): Promise<number> {
  const res = await fetch(`${edge.url}/internal/diagnostics/memory`);
  if (!res.ok) throw new Error(`diagnostics: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { wasmMemoryBytes: { total: number } };
  return round2(body.wasmMemoryBytes.total / 1024 / 1024);
}

async function main(): Promise<void> {
  const state = await mkdtemp(path.join(tmpdir(), 'headstart-bench-import-'));
  const edge = await startLocalEdge(state, {
    modelsSource: DEFAULT_SOURCE,
    modelsOut: DEFAULT_OUT,
    frozen: true,
    vars: { DIAGNOSTICS: 'true' },
  });
  const auth = { authorization: `Bearer ${edge.apiKey}` };
  try {
    const [bee] = await photosOf('hymenoptera_data/val/bees', 1);
    const photo = await readFile(bee!);
    const rows = [];
    console.log(`fresh isolate: wasm ${await wasmMiB(edge)} MiB`);
    for (const source of SOURCES) {
      const model = await readFile(path.join(DEFAULT_SOURCE, source.file));
      const form = new FormData();
      form.set('model', new File([model], 'model.onnx'));
      form.set(
        'card',
        JSON.stringify({
          id: source.name,
          displayName: source.name,
          licence: 'see ../shared/models',
          origin: source.file,
          preprocessing: TORCHVISION,
          outputs: source.outputs,
        }),
      );
      const t0 = performance.now();
      const res = await fetch(`${edge.url}/v1/backbones`, {
        method: 'POST',
        headers: auth,
        body: form,
      });
      const importMs = performance.now() - t0;
      if (res.status !== 201)
        throw new Error(`import ${source.name}: ${res.status} ${await res.text()}`);
      const afterImport = await wasmMiB(edge);
      const t1 = performance.now();
      const classified = await fetch(`${edge.url}/v1/classify?model=${source.name}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'image/jpeg' },
        body: photo,
      });
      const firstClassifyMs = performance.now() - t1;
      if (classified.status !== 200)
        throw new Error(`classify ${source.name}: ${classified.status} ${await classified.text()}`);
      const afterClassify = await wasmMiB(edge);
      const row = {
        name: source.name,
        model_mib: round2(model.byteLength / 1024 / 1024),
        import_ms: round2(importMs),
        first_classify_ms: round2(firstClassifyMs),
        wasm_after_import_mib: afterImport,
        wasm_after_classify_mib: afterClassify,
      };
      rows.push(row);
      console.log(
        `${source.name.padEnd(9)} ${row.model_mib.toFixed(1)} MiB model: import ${importMs.toFixed(0)} ms, wasm high-water ${afterImport} MiB; first classification ${firstClassifyMs.toFixed(0)} ms, wasm ${afterClassify} MiB`,
      );
    }
    console.log(
      JSON.stringify({ bench: 'backbone-import', rows, final_wasm_mib: await wasmMiB(edge) }),
    );
  } finally {
    await edge.stop();
    await rm(state, { recursive: true, force: true });
  }
}

await main();
