// The original TF.js models, run by @tensorflow/tfjs itself: the reference for parity tests.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';

const ModelJson = z.object({
  modelTopology: z.record(z.string(), z.unknown()),
  weightsManifest: z.array(
    z.object({
      paths: z.array(z.string()),
      weights: z.array(
        z.object({
          name: z.string(),
          shape: z.array(z.number()),
          dtype: z.enum(['float32', 'int32']),
        }),
      ),
    }),
  ),
});

let backendReady: Promise<boolean> | undefined;

/** Loads a TF.js layers model from a directory with TF.js's own loader. */
export async function loadReferenceModel(dir: string): Promise<tf.LayersModel> {
  backendReady ??= tf.setBackend('cpu');
  await backendReady;
  const json = ModelJson.parse(JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')));
  const shards = await Promise.all(
    json.weightsManifest.flatMap((g) => g.paths.map((p) => readFile(path.join(dir, p)))),
  );
  const all = Buffer.concat(shards);
  return tf.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
    }),
  );
}

/** Converts a batch of NCHW tensors to NHWC, TF.js's layout. */
export function nchwToNhwc(data: Float32Array, n: number, h: number, w: number): Float32Array {
  const out = new Float32Array(data.length);
  const plane = h * w;
  for (let b = 0; b < n; b++)
    for (let c = 0; c < 3; c++)
      for (let i = 0; i < plane; i++)
        out[b * plane * 3 + i * 3 + c] = data[b * plane * 3 + c * plane + i]!;
  return out;
}

/** Runs `model` on an NCHW batch, returning the named layers' outputs (flattened per image). */
export async function runReference(
  model: tf.LayersModel,
  batch: Float32Array,
  n: number,
  layerNames: readonly string[],
): Promise<Float32Array[]> {
  const outputs = layerNames.map((name) =>
    name === 'output' ? model.outputs[0]! : model.getLayer(name).output,
  );
  const probe = tf.model({ inputs: model.inputs, outputs: outputs as tf.SymbolicTensor[] });
  const input = tf.tensor4d(nchwToNhwc(batch, n, 224, 224), [n, 224, 224, 3]);
  const result = probe.predict(input);
  const tensors = Array.isArray(result) ? result : [result];
  const data = await Promise.all(tensors.map(async (t) => new Float32Array(await t.data())));
  tf.dispose([input, ...tensors]);
  return data;
}

/** Index of the largest value in each row of a [n, k] matrix. */
export function argmaxRows(data: Float32Array, k: number): number[] {
  return Array.from({ length: data.length / k }, (_, r) => {
    let best = 0;
    for (let j = 1; j < k; j++) if (data[r * k + j]! > data[r * k + best]!) best = j;
    return best;
  });
}
