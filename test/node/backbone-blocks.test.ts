// The block table in each backbone manifest, computed from the real weights at conversion.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBackboneManifest } from '../../src/shared/manifest.js';
import { backboneBlocks } from '../../src/shared/backbone-blocks.js';
import { TEST_MODELS } from '../support/paths.js';

const manifest = async (id: string) =>
  parseBackboneManifest(
    JSON.parse(await readFile(path.join(TEST_MODELS, id, 'manifest.json'), 'utf8')),
  );

describe('backbone blocks', () => {
  it('splits MobileNetV2 into stem, 17 inverted-residual blocks and the top convolution', async () => {
    const m = await manifest('mobilenet-v2-0.35');
    const names = m.blocks!.map((b) => b.name);
    expect(names).toEqual([
      'stem',
      ...Array.from({ length: 17 }, (_, i) => `block_${i}`),
      'top_conv',
    ]);
    expect(m.blocks!.every((b) => b.role === 'trunk')).toBe(true);
    expect(m.blocks!.reduce((n, b) => n + b.parameters, 0)).toBe(m.parameters);
    // The final 1×1 convolution: 112 → 1280 channels, no bias, then BatchNorm (γ, β trainable).
    const top = m.blocks!.at(-1)!;
    expect(top.layers).toEqual(['Conv_1', 'Conv_1_bn']);
    expect(top.trainableParameters).toBe(112 * 1280 + 2 * 1280);
    expect(top.parameters).toBe(112 * 1280 + 4 * 1280);
  });

  it('keeps MobileNetV1’s own ImageNet classifier as a separate block at the end', async () => {
    const m = await manifest('mobilenet-v1-0.25');
    expect(m.blocks![0]!.name).toBe('stem');
    const classifier = m.blocks!.at(-1)!;
    expect(classifier).toMatchObject({ name: 'classifier', role: 'classifier' });
    expect(classifier.parameters).toBe(256 * 1000 + 1000);
    expect(m.blocks!.filter((b) => b.name.startsWith('block_'))).toHaveLength(13);
    expect(m.blocks!.reduce((n, b) => n + b.parameters, 0)).toBe(m.parameters);
  });

  it('orders blocks numerically whatever the order of the weights', () => {
    const blocks = backboneBlocks([
      { name: 'block_10_expand/kernel', shape: [1, 1, 4, 8] },
      { name: 'block_2_expand_BN/moving_mean', shape: [8] },
      { name: 'Conv1/kernel', shape: [3, 3, 3, 4] },
      { name: 'block_2_expand/kernel', shape: [1, 1, 4, 8] },
    ]);
    expect(blocks.map((b) => [b.name, b.parameters, b.trainableParameters])).toEqual([
      ['stem', 108, 108],
      ['block_2', 40, 32],
      ['block_10', 32, 32],
    ]);
  });
});
