// Converts one catalog backbone from a TF.js source into ONNX bytes plus its manifest.
import { z } from 'zod';
import type { BackboneSpec } from '../../src/shared/backbones.js';
import { sha256Hex, weightsFingerprint } from '../../src/shared/fingerprint.js';
import { backboneBlocks } from '../../src/shared/backbone-blocks.js';
import { blockInputs } from '../../src/shared/backbone-graph.js';
import { MANIFEST_FORMAT_VERSION, parseBackboneManifest, type BackboneManifest } from '../../src/shared/manifest.js';
import { foldBatchNorm, foldPadding, pruneInitializers, serialiseGraph } from './onnx-ir.js';
import { loadTfjsModel, readSource } from './tfjs-format.js';
import { convertKerasModel, type OutputInfo } from './tfjs-to-onnx.js';

/** Bump when the converter's output changes, so `models:import` rebuilds existing files. */
export const CONVERTER_VERSION = '1.2.0';
export const ONNX_OPSET = 13;

/** The weights of a source do not match the catalog's pinned fingerprint. */
export class FingerprintMismatchError extends Error {
  override name = 'FingerprintMismatchError';
}

/** Joins a mirror base (directory or URL) and a relative path. */
export function sourcePath(base: string, relative: string): string {
  if (/^https?:\/\//.test(base)) return new URL(relative, base.endsWith('/') ? base : `${base}/`).href;
  return `${base.replace(/\/+$/, '')}/${relative}`;
}

/** The catalogue's pinned class names for `spec`, index → label. */
export async function loadLabels(spec: Pick<BackboneSpec, 'id' | 'labels'>, source: string): Promise<Record<string, string> | undefined> {
  if (!spec.labels) return undefined;
  const bytes = await readSource(source, spec.labels.file);
  const digest = await sha256Hex(bytes);
  if (digest !== spec.labels.sha256) {
    throw new FingerprintMismatchError(
      `${spec.id}: ${spec.labels.file} has sha256 ${digest}, pinned ${spec.labels.sha256}; refusing it`,
    );
  }
  const labels = z.array(z.string().min(1)).parse(JSON.parse(new TextDecoder().decode(bytes)));
  return Object.fromEntries(labels.map((label, i) => [String(i), label]));
}

/**
 * Loads the backbone from `source` (a models mirror: directory or http(s) URL), checks its
 * fingerprint, converts it and describes it.
 *
 * @example
 * const { onnx, manifest } = await convertBackbone(findBackbone('mobilenet-v1-0.25')!, '../shared/models');
 */
export async function convertBackbone(
  spec: BackboneSpec,
  source: string,
): Promise<{ onnx: Uint8Array; manifest: BackboneManifest }> {
  const modelBase = sourcePath(source, spec.mirrorDir);
  const model = await loadTfjsModel(modelBase);
  const fingerprint = await weightsFingerprint(model.weights);
  if (fingerprint !== spec.fingerprint) {
    throw new FingerprintMismatchError(
      `${spec.id}: the weights at ${modelBase} have fingerprint ${fingerprint}, pinned ${spec.fingerprint}; refusing them`,
    );
  }
  const id2label = await loadLabels(spec, source);
  const graph = convertKerasModel(model.topology, model.weights);
  const outputs = Object.values(graph.outputs).filter((o): o is OutputInfo => o !== undefined);
  const keep = new Set(outputs.map((o) => o.name));
  foldPadding(graph, keep);
  foldBatchNorm(graph, keep);
  pruneInitializers(graph);
  const onnx = serialiseGraph(graph, {
    graphName: spec.id,
    input: graph.input,
    outputs,
    opset: ONNX_OPSET,
    producerVersion: CONVERTER_VERSION,
    docString: `${spec.displayName}; weights fingerprint ${fingerprint}; converted from TF.js by Headstart`,
  });
  const embeddingDim = graph.outputs.embedding.shape[1];
  const classes = graph.outputs.probabilities?.shape[1];
  if (id2label && classes !== Object.keys(id2label).length) {
    throw new Error(`${spec.id}: ${Object.keys(id2label).length} labels for ${String(classes)} classifier outputs`);
  }
  const [, , height, width] = graph.input.shape;
  // Each block records the tensor entering it: where a fine-tuned head's tail begins.
  const blocks = backboneBlocks(model.weights);
  const cuts = blockInputs(graph.nodes, blocks, new Set(graph.initializers.keys()), graph.input.name, graph.outputs.embedding.name);
  const blocksWithInputs = blocks.map((b) => (cuts.has(b.name) ? { ...b, input: cuts.get(b.name)! } : b));
  const manifest = parseBackboneManifest({
    formatVersion: MANIFEST_FORMAT_VERSION,
    kind: 'backbone',
    id: spec.id,
    displayName: spec.displayName,
    fingerprint,
    parameters: model.weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0),
    source: { format: 'tfjs-layers' as const, licence: spec.licence, origin: spec.origin },
    onnx: {
      file: 'model.onnx',
      sha256: await sha256Hex(onnx),
      bytes: onnx.byteLength,
      opset: ONNX_OPSET,
      quantized: false,
      input: graph.input,
      outputs: graph.outputs,
    },
    inputSize: { width, height },
    preprocessing: spec.preprocessing,
    embeddingDim,
    blocks: blocksWithInputs,
    ...(id2label ? { id2label } : {}),
    converter: { name: 'headstart-tfjs-to-onnx', version: CONVERTER_VERSION },
  });
  return { onnx, manifest };
}
