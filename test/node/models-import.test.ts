// models:import end to end: convert, write, upload to a real local R2, and do nothing twice.
import { createServer, type Server } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { getPlatformProxy } from 'wrangler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKBONES, backboneKeys } from '../../src/shared/backbones.js';
import { sha256Hex } from '../../src/shared/fingerprint.js';
import { parseBackboneManifest } from '../../src/shared/manifest.js';
import { importBackbones, type ModelBucket } from '../../scripts/models/import.js';
import { MODELS_SOURCE } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

interface LocalR2 extends ModelBucket {
  get(
    key: string,
  ): Promise<{ arrayBuffer(): Promise<ArrayBuffer>; text(): Promise<string> } | null>;
}

let proxy: Awaited<ReturnType<typeof getPlatformProxy<{ MODELS: LocalR2 }>>>;
let bucket: LocalR2;

beforeAll(async () => {
  const state = await tempDir('r2');
  proxy = await getPlatformProxy<{ MODELS: LocalR2 }>({
    configPath: 'wrangler.toml',
    persist: { path: state },
  });
  bucket = proxy.env.MODELS;
});
afterAll(async () => {
  await proxy?.dispose();
});

describe('importBackbones', () => {
  it('converts and uploads every backbone, then finds everything current on a second run', async () => {
    const out = await tempDir('models');
    const first = await importBackbones({ source: MODELS_SOURCE, out, bucket });
    expect(first.map((r) => [r.id, r.status, r.uploaded])).toEqual(
      BACKBONES.map((b) => [b.id, 'converted', true]),
    );

    for (const result of first) {
      const manifest = parseBackboneManifest(
        JSON.parse(await readFile(path.join(out, result.id, 'manifest.json'), 'utf8')),
      );
      const local = await readFile(path.join(out, result.id, 'model.onnx'));
      expect(await sha256Hex(local)).toBe(manifest.onnx.sha256);
      const stored = await bucket.get(backboneKeys(result.id).model);
      expect(await sha256Hex(new Uint8Array(await stored!.arrayBuffer()))).toBe(
        manifest.onnx.sha256,
      );
      const storedManifest = parseBackboneManifest(
        JSON.parse(await (await bucket.get(backboneKeys(result.id).manifest))!.text()),
      );
      expect(storedManifest).toEqual(manifest);
    }
    const v2 = first.find((r) => r.id === 'mobilenet-v2-0.35')!.manifest;
    expect(v2.embeddingDim).toBe(1280);
    expect(v2.parameters).toBe(410208);
    expect(v2.id2label).toBeUndefined();
    expect(v2.onnx.outputs.logits).toBeUndefined();
    const v1 = first.find((r) => r.id === 'mobilenet-v1-0.25')!.manifest;
    expect(v1.embeddingDim).toBe(256);
    expect(Object.keys(v1.id2label!)).toHaveLength(1000);
    expect(v1.id2label!['309']).toBe('bee');
    expect(v1.onnx.outputs.probabilities?.shape).toEqual(['batch', 1000]);

    const second = await importBackbones({ source: MODELS_SOURCE, out, bucket });
    expect(second.map((r) => [r.status, r.uploaded])).toEqual(
      BACKBONES.map(() => ['up-to-date', false]),
    );

    // A damaged local file is noticed and rebuilt, and R2 is left alone when it already matches.
    await writeFile(path.join(out, 'mobilenet-v1-0.25', 'model.onnx'), 'garbage');
    const third = await importBackbones({
      source: MODELS_SOURCE,
      out,
      bucket,
      only: ['mobilenet-v1-0.25'],
    });
    expect(third.map((r) => [r.id, r.status, r.uploaded])).toEqual([
      ['mobilenet-v1-0.25', 'converted', false],
    ]);
  });

  it('reads a mirror over HTTP', async () => {
    const server: Server = createServer((req, res) => {
      const file = path.join(
        MODELS_SOURCE,
        decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname),
      );
      readFile(file).then(
        (data) => res.end(data),
        () => {
          res.statusCode = 404;
          res.end();
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const out = await tempDir('models');
      const results = await importBackbones({
        source: `http://127.0.0.1:${port}/`,
        out,
        only: ['mobilenet-v1-0.25'],
      });
      expect(results[0]!.status).toBe('converted');
      expect(results[0]!.manifest.fingerprint).toBe(
        BACKBONES.find((b) => b.id === 'mobilenet-v1-0.25')!.fingerprint,
      );
      await expect(
        importBackbones({ source: `http://127.0.0.1:${port}/missing/`, out: `${out}-2` }),
      ).rejects.toThrow(/answered 404/);
    } finally {
      server.close();
    }
  });

  it('refuses an unknown backbone id', async () => {
    await expect(
      importBackbones({ source: MODELS_SOURCE, out: tmpdir(), only: ['resnet-999'] }),
    ).rejects.toThrow(/unknown backbone resnet-999; known: mobilenet-v2-0.35, mobilenet-v1-0.25/);
  });
});
