// The converter refuses what it cannot translate faithfully, and says which layer or weight.
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { findBackbone } from '../../src/shared/backbones.js';
import { weightsFingerprint } from '../../src/shared/fingerprint.js';
import {
  FingerprintMismatchError,
  convertBackbone,
} from '../../scripts/models/convert-backbone.js';
import { loadTfjsModel } from '../../scripts/models/tfjs-format.js';
import { UnsupportedModelError, convertKerasModel } from '../../scripts/models/tfjs-to-onnx.js';
import { MODELS_SOURCE } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

const V1_DIR = path.join(MODELS_SOURCE, 'mobilenet_v1_0.25_224');

const Layer = z.looseObject({ class_name: z.string(), config: z.record(z.string(), z.unknown()) });
const EditableModelJson = z.looseObject({
  modelTopology: z.looseObject({
    model_config: z.looseObject({ config: z.looseObject({ layers: z.array(Layer) }) }),
  }),
  weightsManifest: z.array(
    z.looseObject({
      paths: z.array(z.string()),
      weights: z.array(z.record(z.string(), z.unknown())),
    }),
  ),
});
type EditableModelJson = z.infer<typeof EditableModelJson>;

/** A private copy of the v1 model whose model.json we can edit. */
async function editableV1(edit: (json: EditableModelJson) => void) {
  const dir = await tempDir('v1');
  await cp(V1_DIR, dir, { recursive: true });
  const json = EditableModelJson.parse(
    JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')),
  );
  edit(json);
  await writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
  return dir;
}

describe('converter errors', () => {
  it('names an unsupported layer kind and the layer', async () => {
    const dir = await editableV1((json) => {
      const layer = json.modelTopology.model_config.config.layers.find(
        (l) => l.config.name === 'conv_pw_3',
      )!;
      layer.class_name = 'SeparableConv2D';
    });
    const model = await loadTfjsModel(dir);
    expect(() => convertKerasModel(model.topology, model.weights)).toThrow(UnsupportedModelError);
    expect(() => convertKerasModel(model.topology, model.weights)).toThrow(
      'layer conv_pw_3: layer kind SeparableConv2D is not supported',
    );
  });

  it('names an unsupported activation', async () => {
    const dir = await editableV1((json) => {
      const layer = json.modelTopology.model_config.config.layers.find(
        (l) => l.config.name === 'conv1_relu',
      )!;
      layer.config.activation = 'gelu';
    });
    const model = await loadTfjsModel(dir);
    expect(() => convertKerasModel(model.topology, model.weights)).toThrow(
      'layer conv1_relu: activation "gelu" is not supported',
    );
  });

  it('refuses quantised weights, naming the weight', async () => {
    const dir = await editableV1((json) => {
      json.weightsManifest[0]!.weights[0]!.quantization = { dtype: 'uint8', scale: 0.1, min: 0 };
    });
    await expect(loadTfjsModel(dir)).rejects.toThrow(
      /weight conv1\/kernel: dtype float32 \(quantised\) is not supported/,
    );
  });

  it('refuses a source whose weights differ from the pinned fingerprint', async () => {
    const mirror = await tempDir('mirror');
    await cp(MODELS_SOURCE, mirror, { recursive: true });
    const shard = path.join(mirror, 'mobilenet_v1_0.25_224', 'group1-shard1of1');
    const bytes = await readFile(shard);
    bytes[100] = bytes[100]! ^ 0xff;
    await writeFile(shard, bytes);
    const spec = findBackbone('mobilenet-v1-0.25')!;
    await expect(convertBackbone(spec, mirror)).rejects.toThrow(FingerprintMismatchError);
    await expect(convertBackbone(spec, mirror)).rejects.toThrow(/pinned e17159038503/);
  });

  it('fingerprints weights the same however they are sharded', async () => {
    const original = await loadTfjsModel(V1_DIR);
    // Merge Google's 55 shards into one file with one weight group.
    const dir = await editableV1((json) => {
      json.weightsManifest = [
        { paths: ['all-weights.bin'], weights: json.weightsManifest.flatMap((g) => g.weights) },
      ];
    });
    const json = JSON.parse(await readFile(path.join(V1_DIR, 'model.json'), 'utf8')) as {
      weightsManifest: { paths: string[] }[];
    };
    const shards = await Promise.all(
      json.weightsManifest.flatMap((g) => g.paths).map((p) => readFile(path.join(V1_DIR, p))),
    );
    await writeFile(path.join(dir, 'all-weights.bin'), Buffer.concat(shards));
    const merged = await loadTfjsModel(dir);
    expect(await weightsFingerprint(merged.weights)).toBe(
      await weightsFingerprint(original.weights),
    );
    expect(await weightsFingerprint(original.weights)).toBe(
      findBackbone('mobilenet-v1-0.25')!.fingerprint,
    );
  });

  it('reports truncated shards instead of reading past the end', async () => {
    const dir = await editableV1(() => undefined);
    const shard = path.join(dir, 'group55-shard1of1');
    await writeFile(shard, (await readFile(shard)).subarray(0, 100));
    await expect(loadTfjsModel(dir)).rejects.toThrow(/shards end after 100 bytes/);
  });
});
