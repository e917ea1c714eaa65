// Reads a TF.js layers model (model.json + weight shards) from a directory or an http(s) URL.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { concatBytes } from '../../src/shared/bytes.js';
import type { NamedTensorBytes } from '../../src/shared/fingerprint.js';

const WeightSpecSchema = z.object({
  name: z.string().min(1),
  shape: z.array(z.number().int().min(0)),
  dtype: z.string(),
  quantization: z.unknown().optional(),
});

const WeightGroupSchema = z.object({
  paths: z.array(z.string().min(1)).min(1),
  weights: z.array(WeightSpecSchema),
});

/** A Keras layer as serialised by Keras 2 / tfjs-layers. Configs are validated per layer kind. */
export interface KerasLayerJson {
  readonly class_name: string;
  readonly name?: string | undefined;
  readonly config: unknown;
  readonly inbound_nodes?: unknown;
}

export const KerasLayerSchema: z.ZodType<KerasLayerJson> = z.object({
  class_name: z.string().min(1),
  name: z.string().optional(),
  config: z.unknown(),
  inbound_nodes: z.unknown().optional(),
});

const TopologySchema = z.union([
  // Keras 2.1-style: { keras_version, backend, model_config: { class_name, config } }
  z.object({ model_config: KerasLayerSchema }).transform((t) => t.model_config),
  // tfjs-layers style: the model itself at the top level.
  KerasLayerSchema,
]);

export const ModelJsonSchema = z.object({
  modelTopology: TopologySchema,
  weightsManifest: z.array(WeightGroupSchema).min(1),
  format: z.string().optional(),
});

export interface TfjsModel {
  readonly topology: KerasLayerJson;
  /** Weights in manifest order, raw little-endian bytes. */
  readonly weights: readonly NamedTensorBytes[];
  /** Where the model came from: a directory path or a URL. */
  readonly origin: string;
}

/** Reads a file from a directory or fetches it relative to a base URL. */
export async function readSource(base: string, relative: string): Promise<Uint8Array> {
  if (/^https?:\/\//.test(base)) {
    const url = new URL(relative, base.endsWith('/') ? base : `${base}/`);
    const res = await fetch(url);
    if (!res.ok) throw new Error(`GET ${url.href} answered ${res.status} ${res.statusText}`);
    return new Uint8Array(await res.arrayBuffer());
  }
  return new Uint8Array(await readFile(path.join(base, relative)));
}

const BYTES_PER_ELEMENT: Record<string, number> = { float32: 4 };

/**
 * Loads model.json and its shards. Only unquantised float32 weights are accepted; anything
 * else is refused with the weight's name.
 *
 * @example
 * const model = await loadTfjsModel('../shared/models/mobilenet_v1_0.25_224');
 */
export async function loadTfjsModel(base: string): Promise<TfjsModel> {
  const jsonBytes = await readSource(base, 'model.json');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(jsonBytes));
  } catch (err) {
    throw new Error(`${base}/model.json is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = ModelJsonSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(`${base}/model.json is not a TF.js layers model: ${z.prettifyError(parsed.error)}`);
  }
  const weights: NamedTensorBytes[] = [];
  for (const group of parsed.data.weightsManifest) {
    const shards = await Promise.all(group.paths.map((p) => readSource(base, p)));
    const bytes = concatBytes(shards);
    let cursor = 0;
    for (const spec of group.weights) {
      const width = BYTES_PER_ELEMENT[spec.dtype];
      if (spec.quantization !== undefined || width === undefined) {
        throw new Error(
          `weight ${spec.name}: dtype ${spec.dtype}${spec.quantization ? ' (quantised)' : ''} is not supported; only float32 is`,
        );
      }
      const size = spec.shape.reduce((a, b) => a * b, 1) * width;
      if (cursor + size > bytes.byteLength) {
        throw new Error(`weight ${spec.name}: shards end after ${bytes.byteLength} bytes, need ${cursor + size}`);
      }
      weights.push({ name: spec.name, dtype: spec.dtype, shape: spec.shape, bytes: bytes.slice(cursor, cursor + size) });
      cursor += size;
    }
    if (cursor !== bytes.byteLength) {
      throw new Error(`weight group ${group.paths.join(', ')}: ${bytes.byteLength - cursor} bytes left over`);
    }
  }
  return { topology: parsed.data.modelTopology, weights, origin: base };
}

/** Float32 view of a weight's bytes (copied, so alignment never matters). */
export function asFloat32(t: NamedTensorBytes): Float32Array {
  const copy = t.bytes.slice();
  return new Float32Array(copy.buffer, copy.byteOffset, copy.byteLength / 4);
}
