// How a job request is filled from its preset.
import { describe, expect, it } from 'vitest';
import { JOB_PRESETS, resolveFineTuneSpec } from '../../src/shared/jobs.js';

describe('resolveFineTuneSpec', () => {
  it('fills a head type change from the preset: {type: "mlp"} keeps dropout and hidden units', () => {
    const spec = resolveFineTuneSpec({ datasetId: 'ds_abc12345', head: { type: 'mlp' } });
    expect(spec.success, JSON.stringify(spec.error?.issues)).toBe(true);
    expect(spec.data!.head).toEqual({ ...JOB_PRESETS.headstart.head, type: 'mlp' });
  });

  it('replaces the scheduler whole when its variant changes', () => {
    const spec = resolveFineTuneSpec({ datasetId: 'ds_abc12345', scheduler: { type: 'none' } });
    expect(spec.data!.scheduler).toEqual({ type: 'none' });
    const step = resolveFineTuneSpec({ datasetId: 'ds_abc12345', scheduler: { gamma: 0.5 } });
    expect(step.data!.scheduler).toEqual({ type: 'step', stepSize: 7, gamma: 0.5 });
  });

  it('uses the headstart preset by default and the lesson preset on request', () => {
    expect(resolveFineTuneSpec({ datasetId: 'ds_abc12345' }).data!.optimizer.lr).toBe(3e-3);
    const lesson = resolveFineTuneSpec({ datasetId: 'ds_abc12345', preset: 'lesson' }).data!;
    expect(lesson.optimizer.lr).toBe(1e-3);
    expect(lesson.inputMode).toBe('crop');
  });

  it('names an unknown field', () => {
    const bad = resolveFineTuneSpec({ datasetId: 'ds_abc12345', head: { kind: 'x' } });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path).toEqual(['head']);
  });

  it('names the preset when it is unknown, not a field of the spec', () => {
    const bad = resolveFineTuneSpec({ datasetId: 'ds_abc12345', preset: 'yolo' });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues[0]!.path).toEqual(['preset']);
  });

  it('fills the fine-tuning fields with the lesson’s safe defaults', () => {
    const spec = resolveFineTuneSpec({ datasetId: 'ds_abc12345', strategy: 'fine_tune' }).data!;
    expect(spec.optimizer).toMatchObject({ lr: 3e-3, backboneLr: 1e-5, layerDecay: 1 });
    expect(spec).toMatchObject({ trainableFrom: null, unfreeze: [], batchNorm: 'frozen' });
  });
});
