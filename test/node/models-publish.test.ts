// models:publish builds wrangler uploads for every backbone: all models before any manifest.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { publishCommands } from '../../scripts/models-publish.js';
import { BACKBONES } from '../../src/shared/backbones.js';
import { TEST_MODELS } from '../support/paths.js';

describe('publishCommands', () => {
  it('uploads each model, then each manifest, to the remote bucket', async () => {
    const commands = await publishCommands(TEST_MODELS, 'my-bucket');
    expect(commands).toHaveLength(BACKBONES.length * 2);
    const targets = commands.map((c) => c[4]);
    expect(targets.slice(0, BACKBONES.length).every((t) => t?.endsWith('/model.onnx'))).toBe(true);
    expect(targets.slice(BACKBONES.length).every((t) => t?.endsWith('/manifest.json'))).toBe(true);
    expect(commands[0]).toEqual([
      'wrangler',
      'r2',
      'object',
      'put',
      `my-bucket/backbones/${BACKBONES[0].id}/model.onnx`,
      '--file',
      path.join(TEST_MODELS, BACKBONES[0].id, 'model.onnx'),
      '--content-type',
      'application/octet-stream',
      '--remote',
    ]);
  });

  it('says what is missing when nothing was imported', async () => {
    await expect(publishCommands('/nonexistent')).rejects.toThrow(/ENOENT/);
  });
});
