// Side-by-side inference timing: onnxruntime-node on one thread vs onnxruntime-web in workerd,
// same model bytes, same input tensors, batch 1.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { unstable_startWorker } from 'wrangler';
import { createWorkerSession } from '../../src/gpu-worker/embed.js';

export interface InferenceRow {
  readonly id: string;
  readonly node_ms: number;
  readonly workerd_ms: number;
  readonly ratio: number;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export const round2 = (x: number) => Math.round(x * 100) / 100;

/**
 * Times each model on every tensor (`iterations` runs each, after a warm-up) in both runtimes.
 * The workerd side is timed from outside, because workerd's clock does not advance during
 * computation in production; one HTTP round trip per tensor is amortised over the iterations.
 */
export async function measureInference(
  modelsDir: string,
  ids: readonly string[],
  tensors: readonly Float32Array[],
  iterations: number,
): Promise<InferenceRow[]> {
  const worker = await unstable_startWorker({
    // Its own wrangler.toml: without one, wrangler would read the product's and its bindings.
    config: path.resolve('bench/workerd/wrangler.toml'),
    dev: { server: { hostname: '127.0.0.1', port: 0 }, inspector: false, logLevel: 'warn' },
  });
  const rows: InferenceRow[] = [];
  try {
    for (const id of ids) {
      const model = await readFile(path.join(modelsDir, id, 'model.onnx'));

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

      const load = await worker.fetch(`http://bench/load?id=${id}`, {
        method: 'POST',
        body: model,
      });
      if (!load.ok) throw new Error(`workerd could not load ${id}: ${await load.text()}`);
      const remote = async (t: Float32Array, n: number) => {
        const res = await worker.fetch(`http://bench/run?id=${id}&iterations=${n}`, {
          method: 'POST',
          body: new Uint8Array(t.buffer, t.byteOffset, t.byteLength),
        });
        if (!res.ok) throw new Error(`workerd run failed: ${await res.text()}`);
        await res.text();
      };
      await remote(tensors[0]!, 3);
      const workerdTimes: number[] = [];
      for (const t of tensors) {
        const start = performance.now();
        await remote(t, iterations);
        workerdTimes.push((performance.now() - start) / iterations);
      }
      const nodeMs = median(nodeTimes);
      const workerdMs = median(workerdTimes);
      rows.push({
        id,
        node_ms: round2(nodeMs),
        workerd_ms: round2(workerdMs),
        ratio: round2(workerdMs / nodeMs),
      });
    }
  } finally {
    await worker.dispose();
  }
  return rows;
}
