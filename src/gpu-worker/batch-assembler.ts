// Backbone batches assembled in shared memory: each view gets a slot in a batch buffer before it
// is rendered, a preprocessing thread writes the tensor straight into that slot, and a batch
// goes to onnxruntime as soon as its last slot is written. Tensors never travel between threads
// as messages, so the main thread allocates nothing per view and its garbage collector rests.

/** Where one view's tensor goes, and how to say it is written. */
export interface Placement {
  /** A slot of a batch buffer (on a SharedArrayBuffer) of exactly one view's size. */
  readonly target: Float32Array;
  /** The tensor is in `target`: counts the slot towards running its batch. */
  done(): void;
}

interface Batch<T> {
  readonly data: Float32Array;
  readonly items: T[];
  filled: number;
  sealed: boolean;
}

/**
 * @example
 * const assembler = new BatchAssembler<Item>({ batchSize: 32, viewSize: 3 * 224 * 224, buffers: 3,
 *   run: async (tensors, items) => { ... } });
 * const { target, done } = await assembler.place(item); // render into target, then done()
 * await assembler.finish();
 */
export class BatchAssembler<T> {
  private readonly free: Float32Array[] = [];
  private readonly waiting: {
    resolve: (data: Float32Array) => void;
    reject: (err: Error) => void;
  }[] = [];
  private current: Batch<T> | undefined;
  private running: Promise<void> = Promise.resolve();
  private placing: Promise<unknown> = Promise.resolve();
  private failure: Error | undefined;

  constructor(
    private readonly opts: {
      readonly batchSize: number;
      readonly viewSize: number;
      /** Batch buffers (at least 2: one filling while another runs or waits for its last views). */
      readonly buffers: number;
      /** Runs one batch: `tensors[i]` is the tensor of `items[i]`, valid until the promise settles. */
      readonly run: (tensors: Float32Array[], items: T[]) => Promise<void>;
    },
  ) {
    if (opts.buffers < 2) throw new RangeError('a batch assembler needs at least 2 buffers');
    for (let i = 0; i < opts.buffers; i++) this.free.push(this.newBuffer());
  }

  /**
   * Reserves consecutive slots for a group of items (one image's views), waiting for a free
   * batch buffer when all are busy. Groups are placed one at a time, in call order, and a group
   * never waits on a batch that holds its own earlier slots (it cannot complete before the group
   * is rendered): it takes a new buffer instead, so a caller can never deadlock itself.
   */
  placeAll(items: readonly T[]): Promise<Placement[]> {
    const placed = this.placing.then(() => this.placeGroup(items));
    this.placing = placed.catch(() => undefined);
    return placed;
  }

  /** `placeAll` for one item. */
  async place(item: T): Promise<Placement> {
    return (await this.placeAll([item]))[0]!;
  }

  private async placeGroup(items: readonly T[]): Promise<Placement[]> {
    this.throwIfFailed();
    const placements: Placement[] = [];
    let holdsSealedSlot = false;
    for (const item of items) {
      if (this.current && this.current.items.length === this.opts.batchSize) {
        holdsSealedSlot ||= placements.length > 0;
        this.seal();
      }
      if (!this.current) {
        const data =
          this.free.pop() ??
          (holdsSealedSlot
            ? this.newBuffer()
            : await new Promise<Float32Array>((resolve, reject) =>
                this.waiting.push({ resolve, reject }),
              ));
        this.throwIfFailed();
        this.current = { data, items: [], filled: 0, sealed: false };
      }
      placements.push(this.reserve(this.current, item));
    }
    return placements;
  }

  private newBuffer(): Float32Array {
    const { batchSize, viewSize } = this.opts;
    return new Float32Array(new SharedArrayBuffer(batchSize * viewSize * 4));
  }

  private reserve(batch: Batch<T>, item: T): Placement {
    const index = batch.items.length;
    batch.items.push(item);
    const { viewSize } = this.opts;
    return {
      target: batch.data.subarray(index * viewSize, (index + 1) * viewSize),
      done: () => {
        batch.filled++;
        this.runIfComplete(batch);
      },
    };
  }

  /**
   * Gives up: places waiting for a buffer reject with `err`, and no further batch runs. For a
   * caller whose views will never all be written (an image failed), which would otherwise leave
   * those places waiting for ever.
   */
  abort(err: Error): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }

  /** Runs what is left and waits for every batch; rethrows the first failure of `run`. */
  async finish(): Promise<void> {
    if (this.current) this.seal();
    await this.running;
    this.throwIfFailed();
  }

  private seal(): void {
    const batch = this.current!;
    this.current = undefined;
    batch.sealed = true;
    this.runIfComplete(batch);
  }

  private runIfComplete(batch: Batch<T>): void {
    if (!batch.sealed || batch.filled !== batch.items.length) return;
    const { viewSize } = this.opts;
    const tensors = batch.items.map((_, i) =>
      batch.data.subarray(i * viewSize, (i + 1) * viewSize),
    );
    this.running = this.running.then(async () => {
      try {
        if (this.failure === undefined && batch.items.length > 0)
          await this.opts.run(tensors, batch.items);
      } catch (err) {
        this.abort(err instanceof Error ? err : new Error(String(err)));
      } finally {
        const next = this.waiting.shift();
        if (next) next.resolve(batch.data);
        else this.free.push(batch.data);
      }
    });
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
