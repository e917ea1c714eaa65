// The weights fingerprint: order-independent, sensitive to every name, shape and byte.
import { describe, expect, it } from 'vitest';
import {
  sha256Hex,
  weightsFingerprint,
  type NamedTensorBytes,
} from '../../src/shared/fingerprint.js';

const t = (name: string, shape: number[], bytes: number[]): NamedTensorBytes => ({
  name,
  dtype: 'float32',
  shape,
  bytes: new Uint8Array(bytes),
});

describe('weightsFingerprint', () => {
  const a = t('conv/kernel', [2], [1, 2, 3, 4, 5, 6, 7, 8]);
  const b = t('conv/bias', [1], [9, 9, 9, 9]);

  it('does not depend on tensor order (sharding)', async () => {
    expect(await weightsFingerprint([a, b])).toBe(await weightsFingerprint([b, a]));
  });

  it('changes with a byte, a shape or a name', async () => {
    const base = await weightsFingerprint([a, b]);
    expect(await weightsFingerprint([t('conv/kernel', [2], [1, 2, 3, 4, 5, 6, 7, 9]), b])).not.toBe(
      base,
    );
    expect(
      await weightsFingerprint([t('conv/kernel', [1, 2], [1, 2, 3, 4, 5, 6, 7, 8]), b]),
    ).not.toBe(base);
    expect(
      await weightsFingerprint([t('conv/kernel2', [2], [1, 2, 3, 4, 5, 6, 7, 8]), b]),
    ).not.toBe(base);
  });

  it('refuses duplicate names', async () => {
    await expect(weightsFingerprint([a, a])).rejects.toThrow(/duplicate tensor name conv\/kernel/);
  });

  it('hashes with sha256', async () => {
    expect(await sha256Hex(new TextEncoder().encode('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});
