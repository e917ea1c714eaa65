// Helpers for edge tests: Node-generated fixtures over the FIXTURES binding, and R2 seeding.
import { env } from 'cloudflare:workers';
import { z } from 'zod';
import { BACKBONES, backboneKeys } from '../../src/shared/backbones.js';

/**
 * A fixture file, read whole. Miniflare's loopback server may close a connection idle for ~5 s
 * just as workerd reuses it ("Network connection lost"), also in the middle of a large body
 * right after another large transfer; a GET of a file is safe to repeat, so it is, a few times.
 */
async function readFixture(path: string): Promise<ArrayBuffer> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await env.FIXTURES.fetch(`http://fixtures/${path}`);
      if (!res.ok) throw new Error(`fixture ${path}: ${res.status} ${await res.text()}`);
      return await res.arrayBuffer();
    } catch (err) {
      if (!String(err).includes('Network connection lost') || attempt >= 4) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

export async function fixtureBytes(path: string): Promise<Uint8Array> {
  return new Uint8Array(await readFixture(path));
}

export async function fixtureFloats(path: string): Promise<Float32Array> {
  return new Float32Array(await readFixture(path));
}

const ViewSchema = z.object({
  crop: z.union([
    z.literal('centre'),
    z.object({ x: z.number(), y: z.number(), width: z.number(), height: z.number() }),
  ]),
  flip: z.boolean(),
  rotationDegrees: z.number(),
  brightness: z.number(),
  contrast: z.number(),
  saturation: z.number(),
});

const ParityIndex = z.object({
  images: z.array(
    z.object({
      file: z.string(),
      width: z.number(),
      height: z.number(),
      channels: z.union([z.literal(3), z.literal(4)]),
      view: ViewSchema,
    }),
  ),
  outputs: z.record(z.string(), z.record(z.string(), z.array(z.number()))),
});

export async function parityIndex() {
  return ParityIndex.parse(
    JSON.parse(new TextDecoder().decode(await readFixture('parity/index.json'))),
  );
}

/** Puts a converted backbone (model then manifest) into the test's R2 bucket. */
export async function seedBackbone(id: string): Promise<void> {
  const keys = backboneKeys(id);
  await env.MODELS.put(keys.model, await fixtureBytes(`models/${id}/model.onnx`));
  await env.MODELS.put(keys.manifest, await fixtureBytes(`models/${id}/manifest.json`));
}

/**
 * Puts every catalogue backbone's manifest (not its weights) into the test's R2 bucket: what a
 * deployment that ran models:import has, and all that a job submission reads.
 */
export async function seedManifests(): Promise<void> {
  for (const { id } of BACKBONES)
    await env.MODELS.put(
      backboneKeys(id).manifest,
      await fixtureBytes(`models/${id}/manifest.json`),
    );
}
