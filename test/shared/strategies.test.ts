// Strategy plans: where the backbone is cut and which block trains from which epoch.
import { describe, expect, it } from 'vitest';
import { cutBlocks, planStrategy } from '../../src/shared/strategies.js';

const blocks = cutBlocks([
  { name: 'stem', role: 'trunk', input: 'pixel_values' },
  { name: 'block_15', role: 'trunk', input: 'block_14_add' },
  { name: 'block_16', role: 'trunk', input: 'block_15_add' },
  { name: 'top_conv', role: 'trunk', input: 'block_16_project_BN' },
  { name: 'classifier', role: 'classifier' },
]);
const spec = { epochs: 20, batchSize: 32, trainableFrom: null, unfreeze: [] };

describe('planStrategy', () => {
  it('has no plan for feature extraction and trains everything for full', () => {
    expect(planStrategy({ ...spec, strategy: 'feature_extraction' }, blocks)).toEqual({
      plan: null,
    });
    const full = planStrategy({ ...spec, strategy: 'full' }, blocks);
    expect(full).toEqual({
      plan: { cut: blocks[0], phases: [{ epoch: 1, from: blocks[0] }] },
    });
  });

  it('fine-tunes the last numbered block by default, or the block named', () => {
    const byDefault = planStrategy({ ...spec, strategy: 'fine_tune' }, blocks);
    expect(byDefault).toEqual({
      plan: { cut: blocks[2], phases: [{ epoch: 1, from: blocks[2] }] },
    });
    const named = planStrategy(
      { ...spec, strategy: 'fine_tune', trainableFrom: 'top_conv' },
      blocks,
    );
    expect(named).toMatchObject({ plan: { cut: { input: 'block_16_project_BN' } } });
  });

  it('starts with the head alone when unfreezing gradually, and cuts at the earliest block', () => {
    const plan = planStrategy(
      {
        ...spec,
        strategy: 'fine_tune',
        unfreeze: [
          { epoch: 3, from: 'block_16' },
          { epoch: 8, from: 'block_15' },
        ],
      },
      blocks,
    );
    expect(plan).toEqual({
      plan: {
        cut: blocks[1],
        phases: [
          { epoch: 1, from: null },
          { epoch: 3, from: blocks[2] },
          { epoch: 8, from: blocks[1] },
        ],
      },
    });
  });

  it.each([
    [{ strategy: 'fine_tune', trainableFrom: 'block_99' }, 'trainableFrom'],
    [{ strategy: 'full', batchSize: 512 }, 'batchSize'],
    [{ strategy: 'fine_tune', trainableFrom: 'classifier' }, 'trainableFrom'],
    [{ strategy: 'feature_extraction', trainableFrom: 'block_16' }, 'trainableFrom'],
    [{ strategy: 'full', unfreeze: [{ epoch: 2, from: 'stem' }] }, 'unfreeze'],
    [{ strategy: 'fine_tune', unfreeze: [{ epoch: 21, from: 'block_16' }] }, 'unfreeze.0.epoch'],
    [
      {
        strategy: 'fine_tune',
        trainableFrom: 'block_15',
        unfreeze: [{ epoch: 2, from: 'block_16' }],
      },
      'unfreeze.0.from',
    ],
    [
      {
        strategy: 'fine_tune',
        unfreeze: [
          { epoch: 4, from: 'block_16' },
          { epoch: 4, from: 'block_15' },
        ],
      },
      'unfreeze.1.epoch',
    ],
  ] as const)('refuses %j, naming %s', (fields, field) => {
    const result = planStrategy({ ...spec, ...fields }, blocks);
    expect(result).toMatchObject({ problem: { field } });
  });

  it('refuses fine-tuning a backbone that lists no blocks', () => {
    expect(planStrategy({ ...spec, strategy: 'fine_tune' }, [])).toMatchObject({
      problem: { field: 'backbone' },
    });
  });
});
