// `npm run bench:photos`: what real photos cost at the edge. Each photo of
// ../shared/datasets/camera_photos (3–9 MP phone and camera JPEGs) and generated 12, 24 and 40 MP
// JPEGs and PNGs is classified through a local `wrangler dev` edge (the Worker bundle, the
// default classifier), first each in a fresh isolate, then all in one isolate, printing per photo
// the decode, preprocess and total ms the edge reports and the isolate's wasm high-water mark
// (onnxruntime + decoder, from GET /internal/diagnostics/memory) and the workerd process's peak
// resident memory. The last line is one JSON object: `max_wasm_mb` (all photos in one isolate,
// the 40 MP ones included; target ≤ 64) and `p50_ms_12mp` (decode + preprocess + inference of the
// 12 MP JPEG, median of --runs; target ≤ 60).
process.env.CLOUDFLARE_CF_FETCH_ENABLED ??= 'false';
process.env.WRANGLER_SEND_METRICS ??= 'false';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { startLocalEdge, type LocalEdge } from '../scripts/lib/local-edge.js';
import { DEFAULT_OUT, DEFAULT_SOURCE } from '../scripts/models/import.js';
import { ClassifyResponseSchema } from '../src/shared/api.js';
import { DATASETS_DIR } from '../test/support/paths.js';
import { recordFigures } from './lib/results.js';
import { workerdMemory } from './lib/workerd-memory.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    /** Where generated photos are kept between runs. */
    cache: { type: 'string', default: '.cache/bench-photos' },
  },
});
const RUNS = Number(values.runs);
const MiB = 1024 * 1024;
const log = (line: string) => console.error(line);
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

interface Photo {
  readonly name: string;
  readonly file: string;
  readonly type: string;
}

/**
 * Large photos made from a real one: upscaled (Lanczos) to 12, 24 and 40 MP, as JPEG (quality
 * 90, 4:2:0, as phones write) and as PNG. A photographic PNG of 12 MP is over the 10 MB body
 * limit, so the PNGs are 64-colour palette images of the same photo: real decoding work (inflate,
 * unfilter, palette lookup and alpha) at sizes the edge accepts.
 */
async function generatedPhotos(dir: string): Promise<Photo[]> {
  await mkdir(dir, { recursive: true });
  const source = path.join(DATASETS_DIR, 'camera_photos', 'jolla.jpg');
  const sizes: [number, number, number][] = [
    [12, 4000, 3000],
    [24, 5657, 4243],
    [40, 7303, 5477],
  ];
  const photos: Photo[] = [];
  for (const [mp, width, height] of sizes) {
    for (const format of ['jpeg', 'png'] as const) {
      const file = path.join(dir, `generated-${mp}mp.${format === 'jpeg' ? 'jpg' : 'png'}`);
      const exists = await stat(file).then(
        () => true,
        () => false,
      );
      if (!exists) {
        const resized = sharp(source).resize(width, height, { fit: 'fill' });
        const encoded =
          format === 'jpeg'
            ? resized.jpeg({ quality: 90, chromaSubsampling: '4:2:0' })
            : resized.png({ palette: true, colours: 64, dither: 0, compressionLevel: 9 });
        await writeFile(file, await encoded.toBuffer());
      }
      photos.push({ name: `${mp} MP ${format.toUpperCase()}`, file, type: `image/${format}` });
    }
  }
  return photos;
}

interface Measured {
  readonly status: number;
  readonly decodeMs: number;
  readonly preprocessMs: number;
  readonly inferenceMs: number;
  readonly totalMs: number;
  readonly decoded: string;
  readonly detail?: string;
}

async function classify(edge: LocalEdge, photo: Photo, bytes: Uint8Array): Promise<Measured> {
  const res = await fetch(`${edge.url}/v1/classify`, {
    method: 'POST',
    headers: { 'content-type': photo.type },
    body: bytes.slice(),
  });
  const json: unknown = await res.json();
  const answer = ClassifyResponseSchema.safeParse(json);
  if (res.status !== 200 || !answer.success)
    return {
      status: res.status,
      decodeMs: 0,
      preprocessMs: 0,
      inferenceMs: 0,
      totalMs: 0,
      decoded: '-',
      detail: JSON.stringify(json).slice(0, 200),
    };
  const { timings, image } = answer.data;
  return {
    status: res.status,
    ...timings,
    decoded: `${image.width}×${image.height} → 1/${image.decoded.scale} ${image.decoded.width}×${image.decoded.height}`,
  };
}

/** The isolate's wasm memory (high-water marks: wasm memory never shrinks) in MiB. */
async function wasmMiB(
  edge: LocalEdge,
): Promise<{ onnxruntime: number; decoder: number; total: number }> {
  const res = await fetch(`${edge.url}/internal/diagnostics/memory`);
  const body = (await res.json()) as {
    wasmMemoryBytes: { onnxruntime: number; decoder: number; total: number };
  };
  const m = body.wasmMemoryBytes;
  return { onnxruntime: m.onnxruntime / MiB, decoder: m.decoder / MiB, total: m.total / MiB };
}

/** Peak resident memory of the workerd processes this process started, in MiB. */
function workerdPeakMiB(): number {
  let peak = 0;
  for (const { hwm } of workerdMemory(process.pid).values()) peak = Math.max(peak, hwm);
  return peak;
}

const row = (name: string, m: Measured, wasm: number, rss: number) =>
  `${name.padEnd(26)} ${String(m.status).padEnd(4)} ${m.decoded.padEnd(32)} ${String(round(m.decodeMs)).padStart(7)} ${String(round(m.preprocessMs)).padStart(7)} ${String(round(m.inferenceMs)).padStart(7)} ${String(round(m.totalMs)).padStart(7)} ${String(round(wasm)).padStart(8)} ${String(round(rss)).padStart(8)}${m.detail ? `  ${m.detail}` : ''}`;
const HEADER = `${'photo'.padEnd(26)} ${'code'.padEnd(4)} ${'decoded'.padEnd(32)} ${'decode'.padStart(7)} ${'prep'.padStart(7)} ${'infer'.padStart(7)} ${'total'.padStart(7)} ${'wasm MB'.padStart(8)} ${'rss MB'.padStart(8)}`;

async function main(): Promise<void> {
  const camera = (await readdir(path.join(DATASETS_DIR, 'camera_photos')))
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .map((f) => ({
      name: f.replace(/\.jpg$/, ''),
      file: path.join(DATASETS_DIR, 'camera_photos', f),
      type: 'image/jpeg',
    }));
  const photos = [...camera, ...(await generatedPhotos(values.cache))];
  const bytes = new Map<string, Uint8Array>();
  for (const p of photos) bytes.set(p.name, new Uint8Array(await readFile(p.file)));
  for (const p of photos)
    log(`${p.name}: ${(bytes.get(p.name)!.byteLength / MiB).toFixed(1)} MiB (${p.file})`);

  const work = await mkdtemp(path.join(tmpdir(), 'headstart-bench-photos-'));
  let edge = await startLocalEdge(path.join(work, 'state'), {
    modelsSource: DEFAULT_SOURCE,
    modelsOut: DEFAULT_OUT,
    frozen: true,
    vars: { DIAGNOSTICS: 'true' },
  });
  try {
    log('\nEach photo in a fresh isolate (ms as the edge reports them; wasm and rss are peaks):');
    log(HEADER);
    for (const p of photos) {
      edge = await edge.restart();
      const m = await classify(edge, p, bytes.get(p.name)!);
      log(row(p.name, m, (await wasmMiB(edge)).total, workerdPeakMiB()));
    }

    log('\nAll photos in one isolate, one after another (the high-water marks accumulate):');
    edge = await edge.restart();
    log(HEADER);
    let wasm = { onnxruntime: 0, decoder: 0, total: 0 };
    for (const p of photos) {
      const m = await classify(edge, p, bytes.get(p.name)!);
      wasm = await wasmMiB(edge);
      log(row(p.name, m, wasm.total, workerdPeakMiB()));
    }
    const rss = workerdPeakMiB();

    log(
      `\nThe 12 MP photos, ${RUNS} runs each in the same isolate (decode + preprocess + inference):`,
    );
    const warm: Record<string, number> = {};
    for (const name of ['12 MP JPEG', '12 MP PNG', 'iphone_hdr_NO']) {
      const photo = photos.find((p) => p.name === name)!;
      const runs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const m = await classify(edge, photo, bytes.get(name)!);
        runs.push(m.decodeMs + m.preprocessMs + m.inferenceMs);
      }
      warm[name] = median(runs);
      log(
        `${name.padEnd(16)} median ${round(median(runs))} ms (runs: ${runs.map((r) => round(r)).join(', ')})`,
      );
    }
    const after = await wasmMiB(edge);
    log(
      `wasm high-water in the shared isolate: ${round(after.total)} MB (onnxruntime ${round(after.onnxruntime)}, WebP decoder ${round(after.decoder)}); workerd peak rss ${round(rss)} MB`,
    );
    await recordFigures('npm run bench:photos', {
      'photos.max_wasm_mb': {
        value: round(after.total),
        display: `${round(after.total)} MB`,
        label: 'isolate wasm high-water after every photo (40 MP ones included) in one isolate',
      },
      'photos.p50_ms_12mp': {
        value: round(warm['12 MP JPEG']!),
        display: `${round(warm['12 MP JPEG']!, 0)} ms`,
        label:
          'a 12 MP JPEG from bytes to labels at the edge (decode, preprocess, inference; median)',
      },
      'photos.p50_ms_12mp_png': {
        value: round(warm['12 MP PNG']!),
        display: `${round(warm['12 MP PNG']!, 0)} ms`,
        label: 'a 12 MP PNG from bytes to labels at the edge (median)',
      },
    });
    console.log(
      JSON.stringify({
        max_wasm_mb: round(after.total),
        p50_ms_12mp: round(warm['12 MP JPEG']!),
        p50_ms_12mp_png: round(warm['12 MP PNG']!),
        p50_ms_8mp_phone: round(warm.iphone_hdr_NO!),
        workerd_peak_rss_mb: round(rss),
        photos: photos.length,
      }),
    );
  } finally {
    await edge.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`bench:photos failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exitCode = 1;
});
