// The worker's onnxruntime-node adapter: explicit provider choice, and real CPU inference.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ProviderUnavailableError,
  chooseProvider,
  createWorkerSession,
  probeProviders,
} from '../../src/gpu-worker/embed.js';
import { TEST_MODELS } from '../support/paths.js';

describe('execution provider choice', () => {
  const both = { cudaProviderInstalled: true, gpuVisible: true };
  const noLib = { cudaProviderInstalled: false, gpuVisible: true };
  const noGpu = { cudaProviderInstalled: true, gpuVisible: false };

  it('auto picks CUDA only when the provider library and a GPU are both there', () => {
    expect(chooseProvider('auto', both).provider).toBe('cuda');
    expect(chooseProvider('auto', noLib)).toEqual({
      provider: 'cpu',
      reason:
        'falling back to CPU: onnxruntime-node has no CUDA provider (install with --onnxruntime-node-install=cuda12)',
    });
    expect(chooseProvider('auto', noGpu).reason).toMatch(/no NVIDIA device is visible/);
  });

  it('a forced provider is honoured or refused, never silently swapped', () => {
    expect(chooseProvider('cpu', both).provider).toBe('cpu');
    expect(() => chooseProvider('cuda', noGpu)).toThrow(ProviderUnavailableError);
    expect(() => chooseProvider('cuda', noLib)).toThrow(
      /CUDA was requested but onnxruntime-node has no CUDA provider/,
    );
  });

  it('probes this machine without throwing', () => {
    const probe = probeProviders();
    expect(typeof probe.cudaProviderInstalled).toBe('boolean');
    expect(typeof probe.gpuVisible).toBe('boolean');
  });

  it('runs a converted backbone on CPU with a batch of two', async () => {
    const model = await readFile(path.join(TEST_MODELS, 'mobilenet-v2-0.35', 'model.onnx'));
    const session = await createWorkerSession(model, { provider: 'cpu', threads: 1 });
    expect(session.inputNames).toEqual(['pixel_values']);
    const data = new Float32Array(2 * 3 * 224 * 224).fill(0.25);
    const out = await session.run({ pixel_values: { data, dims: [2, 3, 224, 224] } });
    expect(out.embedding!.dims).toEqual([2, 1280]);
    // Two identical images give identical embeddings.
    expect(Array.from(out.embedding!.data.subarray(0, 1280))).toEqual(
      Array.from(out.embedding!.data.subarray(1280)),
    );
    await session.release();
  });
});
