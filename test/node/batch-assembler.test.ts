// Batches assembled in shared memory: a batch runs once all its slots are written (in any
// order), buffers are reused, a failing run stops the rest, and abort frees waiting callers.
import { describe, expect, it } from 'vitest';
import { BatchAssembler, type Placement } from '../../src/gpu-worker/batch-assembler.js';

describe('BatchAssembler', () => {
  it('runs each batch when its last slot is written, whatever the order, reusing buffers', async () => {
    const runs: { items: number[]; values: number[] }[] = [];
    const buffers = new Set<ArrayBufferLike>();
    const assembler = new BatchAssembler<number>({
      batchSize: 3,
      viewSize: 2,
      buffers: 2,
      run: async (tensors, items) => {
        tensors.forEach((t) => buffers.add(t.buffer));
        runs.push({ items: [...items], values: tensors.map((t) => t[0]! + t[1]!) });
        await new Promise((r) => setTimeout(r, 5));
      },
    });
    const placed: Placement[] = [];
    // 8 items: batches [0,1,2], [3,4,5], [6,7]; written in reverse order.
    for (let i = 0; i < 8; i++) {
      const p = await assembler.place(i);
      expect(p.target.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(p.target).toHaveLength(2);
      placed.push(p);
      if (i === 5) {
        // Both buffers are taken: finish the first two batches so the third can have one.
        for (let j = 5; j >= 0; j--) {
          placed[j]!.target.set([j, 10 * j]);
          placed[j]!.done();
        }
      }
    }
    for (const j of [7, 6]) {
      placed[j]!.target.set([j, 10 * j]);
      placed[j]!.done();
    }
    await assembler.finish();
    // Each batch ran once, with its items in slot order, though the slots were written backwards;
    // the second batch waited to be sealed (the next place) before it could run.
    expect(runs.map((r) => r.items)).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [6, 7],
    ]);
    for (const r of runs) expect(r.values).toEqual(r.items.map((i) => 11 * i));
    expect(buffers.size).toBe(2);
  });

  it('stops after a failed run and rejects places waiting for a buffer', async () => {
    const assembler = new BatchAssembler<number>({
      batchSize: 1,
      viewSize: 1,
      buffers: 2,
      run: () => Promise.reject(new Error('backbone failed')),
    });
    const a = await assembler.place(0);
    const b = await assembler.place(1);
    const waiting = assembler.place(2);
    a.done();
    await expect(waiting).rejects.toThrow(/backbone failed/);
    b.done();
    await expect(assembler.finish()).rejects.toThrow(/backbone failed/);
    await expect(assembler.place(3)).rejects.toThrow(/backbone failed/);
  });

  it('abort releases callers waiting on a batch that can never complete', async () => {
    const assembler = new BatchAssembler<number>({
      batchSize: 1,
      viewSize: 1,
      buffers: 2,
      run: () => Promise.resolve(),
    });
    await assembler.place(0); // never written: its image failed
    await assembler.place(1);
    const waiting = assembler.place(2);
    assembler.abort(new Error('image 0 cannot be decoded'));
    await expect(waiting).rejects.toThrow(/cannot be decoded/);
  });
});

/** An assembler of 2 buffers × 2 one-value slots recording what ran, each run taking `ms`. */
function recording(ms: number) {
  const ran: number[] = [];
  const assembler = new BatchAssembler<number>({
    batchSize: 2,
    viewSize: 1,
    buffers: 2,
    run: async (_t, items) => {
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      ran.push(...items);
    },
  });
  return { ran, assembler };
}

describe('BatchAssembler under concurrent callers', () => {
  it('never loses a batch when several callers wait for a buffer at once', async () => {
    const { ran, assembler } = recording(2);
    // 40 callers, each placing a group of two items concurrently and writing them a little later,
    // as the worker's images do: every item must run exactly once, and finish() must return.
    await Promise.all(
      Array.from({ length: 40 }, async (_, caller) => {
        const [a, b] = await assembler.placeAll([caller * 2, caller * 2 + 1]);
        await new Promise((r) => setTimeout(r, (caller * 7) % 5));
        a!.done();
        b!.done();
      }),
    );
    await assembler.finish();
    expect(ran.sort((x, y) => x - y)).toEqual(Array.from({ length: 80 }, (_, i) => i));
  });
});

describe('BatchAssembler with groups larger than its buffers hold', () => {
  it('gives a group spanning every buffer a new one instead of waiting on itself', async () => {
    const { ran, assembler } = recording(0);
    // One image with 7 views needs 4 batches of 2; with 2 buffers it would wait for itself.
    const placements = await assembler.placeAll([0, 1, 2, 3, 4, 5, 6]);
    for (const p of placements) p.done();
    await assembler.finish();
    expect(ran).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});
