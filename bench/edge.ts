// `npm run bench:edge`: the classification path measured end to end — inference in both
// runtimes side by side, requests through `wrangler dev`, the cold first request, the Worker
// bundle size and the isolate's memory — ending with one JSON line.
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { openStorageProxy } from '../scripts/lib/storage-proxy.js';
import { decodeFile } from '../src/gpu-worker/decode.js';
import { BACKBONES, DEFAULT_CLASSIFIER } from '../src/shared/backbones.js';
import { MOBILENET_PREPROCESSING } from '../src/shared/manifest.js';
import { preprocess } from '../src/shared/preprocess.js';
import {
  DEFAULT_OUT,
  DEFAULT_SOURCE,
  importBackbones,
  type ModelBucket,
} from '../scripts/models/import.js';
import { photosOf } from '../test/support/photos.js';
import { measureInference, median, round2 } from './lib/inference.js';
import { recordFigures } from './lib/results.js';
import { workerdMemory } from './lib/workerd-memory.js';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '12' },
    iterations: { type: 'string', default: '10' },
    port: { type: 'string', default: '8799' },
  },
});
const PORT = Number(values.port);
const BASE = `http://127.0.0.1:${PORT}`;

/** gzip size of everything `wrangler deploy` would upload. */
async function bundleGzipBytes(work: string): Promise<number> {
  const out = path.join(work, 'dist');
  execFileSync('npx', ['wrangler', 'deploy', '--dry-run', '--outdir', out], { stdio: 'ignore' });
  let total = 0;
  for (const name of await readdir(out)) {
    if (name.endsWith('.map') || name === 'README.md') continue;
    total += gzipSync(await readFile(path.join(out, name)), { level: 9 }).byteLength;
  }
  return total;
}

async function waitForHealth(): Promise<void> {
  for (let i = 0; i < 240; i++) {
    try {
      if ((await fetch(`${BASE}/healthz`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('wrangler dev did not start');
}

async function classify(
  body: Uint8Array<ArrayBuffer>,
  query = '',
): Promise<{ ms: number; status: number }> {
  const start = performance.now();
  const res = await fetch(`${BASE}/v1/classify${query}`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'image/jpeg' },
  });
  await res.text();
  return { ms: performance.now() - start, status: res.status };
}

async function main(): Promise<void> {
  const iterations = Number(values.iterations);
  const work = await mkdtemp(path.join(tmpdir(), 'headstart-bench-edge-'));
  try {
    // A private local R2 with every catalogue backbone, so each first request really is cold.
    await importBackbones({ source: DEFAULT_SOURCE, out: DEFAULT_OUT });
    const proxy = await openStorageProxy<{ MODELS: ModelBucket }>(`${work}/state/v3`);
    await importBackbones({ source: DEFAULT_SOURCE, out: DEFAULT_OUT, bucket: proxy.env.MODELS });
    await proxy.dispose();

    const files = (await photosOf('hymenoptera_data/val/bees')).slice(0, Number(values.images));
    const photos = await Promise.all(
      files.map(async (f) => new Uint8Array(await readFile(f)).slice()),
    );
    const tensors = await Promise.all(
      photos.map(async (p) => preprocess(await decodeFile(p), MOBILENET_PREPROCESSING)),
    );
    const bytesTotal = (await Promise.all(files.map((f) => stat(f)))).reduce(
      (n, s) => n + s.size,
      0,
    );
    console.log(
      `${files.length} photos (${Math.round(bytesTotal / files.length / 1024)} KiB on average), model ${DEFAULT_CLASSIFIER}`,
    );

    const ids = BACKBONES.map((b) => b.id);
    const rows = await measureInference(DEFAULT_OUT, ids, tensors, iterations);
    const row = rows.find((r) => r.id === DEFAULT_CLASSIFIER);
    for (const r of rows)
      console.log(
        `inference ${r.id.padEnd(18)} onnxruntime-node ${r.node_ms.toFixed(2).padStart(6)} ms, onnxruntime-web in workerd ${r.workerd_ms.toFixed(2).padStart(6)} ms (${r.ratio}×)`,
      );

    const bundle = await bundleGzipBytes(work);
    console.log(
      `bundle: ${(bundle / 1024 / 1024).toFixed(2)} MiB gzipped (Workers paid limit: 10 MiB)`,
    );

    const dev = spawn(
      'npx',
      [
        'wrangler',
        'dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(PORT),
        '--persist-to',
        `${work}/state`,
        '--show-interactive-dev-session=false',
        '--log-level',
        'warn',
        '--var',
        'DIAGNOSTICS:true',
      ],
      { stdio: 'ignore', detached: true },
    );
    try {
      await waitForHealth();
      const idle = workerdMemory(dev.pid!);
      const cold = await classify(photos[0]!);
      if (cold.status !== 200) throw new Error(`cold request answered ${cold.status}`);
      console.log(
        `cold first request (model load from R2, runtime start, session, decode, inference): ${cold.ms.toFixed(1)} ms`,
      );
      // Every other backbone's first request in turn (one without a classifier answers 422, but
      // its session is created): cold per backbone, and the isolate's memory with all of them.
      const coldMs = new Map<string, number>([[DEFAULT_CLASSIFIER, cold.ms]]);
      for (const id of ids.filter((i) => i !== DEFAULT_CLASSIFIER)) {
        const first = await classify(photos[0]!, `?model=${id}`);
        if (first.status !== 200 && first.status !== 422)
          throw new Error(`the first request to ${id} answered ${first.status}`);
        coldMs.set(id, first.ms);
      }
      console.log(
        `first request per backbone (its model from R2 and its session): ${ids.map((i) => `${i} ${coldMs.get(i)!.toFixed(0)} ms`).join(', ')}`,
      );
      const e2e: number[] = [];
      for (const photo of photos) {
        const runs: number[] = [];
        for (let i = 0; i < iterations; i++) runs.push((await classify(photo)).ms);
        e2e.push(median(runs));
      }
      const after = workerdMemory(dev.pid!);
      const wasm = (await (await fetch(`${BASE}/internal/diagnostics/memory`)).json()) as {
        wasmMemoryBytes: { onnxruntime: number; decoder: number; total: number };
      };
      const wasmMb = wasm.wasmMemoryBytes.total / 1024 / 1024;
      let growth = 0;
      let peak = 0;
      for (const [pid, mem] of after) {
        const delta = mem.hwm - (idle.get(pid)?.rss ?? mem.hwm);
        if (delta > growth) [growth, peak] = [delta, mem.hwm];
      }
      console.log(
        `end to end through wrangler dev (decode + preprocess + inference + HTTP): ${median(e2e).toFixed(2)} ms median`,
      );
      console.log(
        `isolate wasm memory (high-water mark) with all ${ids.length} backbones loaded in turn: ${wasmMb.toFixed(1)} MiB (onnxruntime ${(wasm.wasmMemoryBytes.onnxruntime / 1048576).toFixed(1)}, decoder ${(wasm.wasmMemoryBytes.decoder / 1048576).toFixed(1)}); ` +
          `workerd process RSS grew ${growth.toFixed(1)} MiB (peak ${peak.toFixed(0)} MiB, includes compiled code)`,
      );

      // Per-backbone inference times are bench:backbone's figures; the first request is ours.
      const perBackbone = Object.fromEntries(
        rows.map((r) => [
          `backbone.${r.id}.cold_ms`,
          {
            value: round2(coldMs.get(r.id)!),
            display: `${coldMs.get(r.id)!.toFixed(0)} ms`,
            label: `${r.id}: its first request in a running isolate (model from R2, session)`,
          },
        ]),
      );
      await recordFigures('npm run bench:edge', {
        ...perBackbone,
        'edge.e2e_ms': {
          value: round2(median(e2e)),
          display: `${median(e2e).toFixed(0)} ms`,
          label: `a whole classification through the local edge (decode, preprocess, inference, HTTP; ${DEFAULT_CLASSIFIER}, median)`,
        },
        'edge.cold_ms': {
          value: round2(cold.ms),
          display: `${cold.ms.toFixed(0)} ms`,
          label: 'the first request of a fresh isolate (model from R2, runtime start, session)',
        },
        'edge.bundle_gzip_mib': {
          value: round2(bundle / 1024 / 1024),
          display: `${(bundle / 1024 / 1024).toFixed(1)} MiB`,
          label: 'the Worker upload, gzipped',
        },
        'edge.wasm_mib': {
          value: round2(wasmMb),
          display: `${wasmMb.toFixed(1)} MiB`,
          label: `isolate wasm memory (high-water mark) with all ${ids.length} catalogue backbones loaded in turn`,
        },
      });
      console.log(
        JSON.stringify({
          node_ms: row!.node_ms,
          workerd_ms: row!.workerd_ms,
          ratio: row!.ratio,
          e2e_ms: round2(median(e2e)),
          cold_ms: round2(cold.ms),
          bundle_gzip_bytes: bundle,
          peak_memory_mb: round2(wasmMb),
          backbones: rows.map((r) => ({
            id: r.id,
            node_ms: r.node_ms,
            workerd_ms: r.workerd_ms,
            ratio: r.ratio,
            cold_ms: round2(coldMs.get(r.id)!),
          })),
        }),
      );
    } finally {
      process.kill(-dev.pid!, 'SIGTERM');
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
