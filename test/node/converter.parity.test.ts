// The converted ONNX backbones, run by onnxruntime-node, against the TF.js originals on real photos.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createWorkerSession } from '../../src/gpu-worker/embed.js';
import { findBackbone } from '../../src/shared/backbones.js';
import { MOBILENET_PREPROCESSING } from '../../src/shared/manifest.js';
import { preprocess, stackBatch } from '../../src/shared/preprocess.js';
import { convertKerasModel } from '../../scripts/models/tfjs-to-onnx.js';
import {
  foldBatchNorm,
  foldPadding,
  pruneInitializers,
  serialiseGraph,
} from '../../scripts/models/onnx-ir.js';
import { loadTfjsModel } from '../../scripts/models/tfjs-format.js';
import { MODELS_SOURCE, TEST_MODELS } from '../support/paths.js';
import { decodePhoto, parityPhotos } from '../support/photos.js';
import { relativeError } from '../support/numeric.js';
import { argmaxRows, loadReferenceModel, runReference } from '../support/tfjs-reference.js';

let batch: Float32Array;
let n: number;

beforeAll(async () => {
  const images = await Promise.all((await parityPhotos()).map(decodePhoto));
  n = images.length;
  batch = stackBatch(images.map((img) => preprocess(img, MOBILENET_PREPROCESSING)));
});

async function runOnnx(modelBytes: Uint8Array) {
  const session = await createWorkerSession(modelBytes, { provider: 'cpu' });
  const out = await session.run({ pixel_values: { data: batch, dims: [n, 3, 224, 224] } });
  await session.release();
  return out;
}

describe('converted backbones match TF.js on real photos', () => {
  it('mobilenet-v2-0.35: 1280-d embeddings within 1e-4 (relative to scale)', async () => {
    const spec = findBackbone('mobilenet-v2-0.35')!;
    const onnx = await runOnnx(await readFile(path.join(TEST_MODELS, spec.id, 'model.onnx')));
    const reference = await loadReferenceModel(path.join(MODELS_SOURCE, spec.mirrorDir));
    const [embedding] = await runReference(reference, batch, n, ['output']);
    expect(onnx.embedding!.dims).toEqual([n, 1280]);
    const error = relativeError(onnx.embedding!.data, embedding!);
    console.log(
      `mobilenet-v2-0.35 embedding vs TF.js: relative error ${error.toExponential(2)} over ${n} photos`,
    );
    expect(error).toBeLessThan(1e-4);
  });

  it('mobilenet-v1-0.25: embeddings within 1e-4 and the same ImageNet top-1 for every photo', async () => {
    const spec = findBackbone('mobilenet-v1-0.25')!;
    const onnx = await runOnnx(await readFile(path.join(TEST_MODELS, spec.id, 'model.onnx')));
    const reference = await loadReferenceModel(path.join(MODELS_SOURCE, spec.mirrorDir));
    const [embedding, probabilities] = await runReference(reference, batch, n, [
      'global_average_pooling2d_1',
      'output',
    ]);
    expect(onnx.embedding!.dims).toEqual([n, 256]);
    const error = relativeError(onnx.embedding!.data, embedding!);
    console.log(
      `mobilenet-v1-0.25 embedding vs TF.js: relative error ${error.toExponential(2)} over ${n} photos`,
    );
    expect(error).toBeLessThan(1e-4);
    expect(relativeError(onnx.probabilities!.data, probabilities!)).toBeLessThan(1e-4);
    expect(argmaxRows(onnx.probabilities!.data, 1000)).toEqual(argmaxRows(probabilities!, 1000));
    // logits are the pre-softmax scores: softmax(logits) reproduces the probabilities.
    const logits = onnx.logits!.data.subarray(0, 1000);
    const max = Math.max(...logits);
    const exp = Array.from(logits, (v) => Math.exp(v - max));
    const sum = exp.reduce((a, b) => a + b, 0);
    expect(exp[42]! / sum).toBeCloseTo(onnx.probabilities!.data[42]!, 6);
  });

  it('a Teachable Machine export (nested Sequential models, Dense head) converts faithfully too', async () => {
    const dir = path.join(MODELS_SOURCE, 'mobilenet_v2_0.35_224_notop', 'teachable-machine-export');
    const model = await loadTfjsModel(dir);
    const graph = convertKerasModel(model.topology, model.weights);
    const outputs = Object.values(graph.outputs);
    const keep = new Set(outputs.map((o) => o.name));
    expect(foldPadding(graph, keep)).toBe(5);
    expect(foldBatchNorm(graph, keep)).toBe(52);
    pruneInitializers(graph);
    const bytes = serialiseGraph(graph, {
      graphName: 'tm',
      input: graph.input,
      outputs,
      opset: 13,
      producerVersion: 'test',
      docString: '',
    });
    const onnx = await runOnnx(bytes);
    const [probabilities] = await runReference(await loadReferenceModel(dir), batch, n, ['output']);
    expect(onnx.probabilities!.dims).toEqual([n, 5]);
    expect(relativeError(onnx.probabilities!.data, probabilities!)).toBeLessThan(1e-4);
    expect(onnx.embedding!.dims).toEqual([n, 1280]);
  });
});
