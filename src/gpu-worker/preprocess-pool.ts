// Decoding and view rendering on a pool of worker threads. The main thread fetches images and
// feeds onnxruntime; the threads turn encoded bytes into backbone tensors with the same shared
// code the edge runs (photon's decoder, `renderView`), so the pixels do not change with the
// thread they were made on.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { renderView, type ViewParams } from '../shared/augment.js';
import type { Preprocessing } from '../shared/manifest.js';
import { ResampleScratch } from '../shared/resample.js';
import { decodeFile } from './decode.js';

/** One view to render from an image. */
export interface ViewRequest {
  readonly view: ViewParams;
  readonly preprocessing: Preprocessing;
}

/** Main thread → preprocessing thread. */
export interface RenderRequest {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly views: readonly ViewRequest[];
  /** Buffers of tensors already used, handed back to be written again instead of allocated. */
  readonly spare: ArrayBuffer[];
}

/** Preprocessing thread → main thread. */
export type RenderReply =
  | {
      readonly id: number;
      readonly ok: true;
      readonly tensors: Float32Array[];
      readonly ms: number;
    }
  | { readonly id: number; readonly ok: false; readonly message: string };

export interface RenderedViews {
  /** One tensor per requested view, in order. */
  readonly tensors: Float32Array[];
  /** Milliseconds the decoding and rendering took on its thread. */
  readonly ms: number;
}

/** The image could not be decoded: the dataset is at fault, not the worker. */
export class ImageDecodeError extends Error {
  override name = 'ImageDecodeError';
}

export interface ViewRenderer {
  /** Threads rendering at once (0: the calling thread renders). */
  readonly threads: number;
  /** Images worth having in flight to keep every thread busy. */
  readonly capacity: number;
  /**
   * Decodes `bytes` and renders each view; rejects with ImageDecodeError for a bad image. The
   * bytes move to the thread when they own their whole buffer (no copy): do not read them after.
   */
  render(bytes: Uint8Array, views: readonly ViewRequest[]): Promise<RenderedViews>;
  /**
   * Gives tensors from `render` back once they are no longer needed (copied into a batch), so
   * their memory is written again: rendering a dataset then allocates almost nothing, which keeps
   * garbage collection from taking a core. The tensors must not be used afterwards.
   */
  recycle(tensors: readonly Float32Array[]): void;
  /** Starts the threads now (a long-lived worker does this once, before its first job). */
  warm(): Promise<void>;
  close(): Promise<void>;
}

/** The default number of preprocessing threads: one per core. */
export const defaultPreprocessThreads = (): number => availableParallelism();

/**
 * A renderer with `threads` worker threads, or one that renders on the calling thread when
 * `threads` is 0.
 *
 * @example
 * const renderer = createViewRenderer(2);
 * const { tensors } = await renderer.render(jpegBytes, [{ view: CENTRE_VIEW, preprocessing }]);
 * await renderer.close();
 */
export function createViewRenderer(threads: number): ViewRenderer {
  return threads > 0 ? new ThreadPoolRenderer(threads) : new InlineRenderer();
}

class InlineRenderer implements ViewRenderer {
  readonly threads = 0;
  readonly capacity = 1;
  private readonly scratch = new ResampleScratch();
  render(bytes: Uint8Array, views: readonly ViewRequest[]): Promise<RenderedViews> {
    const started = performance.now();
    let image;
    try {
      image = decodeFile(bytes);
    } catch (err) {
      return Promise.reject(new ImageDecodeError((err as Error).message));
    }
    const tensors = views.map((v) =>
      renderView(image, v.view, v.preprocessing, { scratch: this.scratch }),
    );
    return Promise.resolve({ tensors, ms: performance.now() - started });
  }
  recycle(): void {}
  async warm(): Promise<void> {}
  async close(): Promise<void> {}
}

interface Task {
  readonly request: RenderRequest;
  readonly transfer: ArrayBuffer[];
  readonly resolve: (rendered: RenderedViews) => void;
  readonly reject: (err: Error) => void;
}

interface Slot {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  /** Posted to the thread and not answered yet, oldest first (a thread answers in order). */
  readonly tasks: Task[];
}

/**
 * Images posted to each thread ahead of its answers. More than one, because onnxruntime-node
 * runs a backbone batch synchronously on the main thread: a thread with work queued keeps
 * decoding while the main thread is busy, instead of waiting for its next image.
 */
const THREAD_QUEUE_DEPTH = 3;

/** Spare tensor buffers kept for the threads (about 600 KB each at 224 × 224). */
const MAX_SPARE_BUFFERS = 128;

/**
 * The thread's entry: the bundled `.mjs` beside the worker bundle in production; from source
 * (tsx, vitest), a bootstrap that registers tsx's loader in the thread before importing the
 * TypeScript entry, since loader flags are not inherited by worker threads on Node 20.
 */
function spawnThread(): Worker {
  const here = import.meta.url;
  if (here.endsWith('.ts')) {
    const entry = new URL('./preprocess-thread.ts', here).href;
    const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
    return new Worker(boot, { eval: true, name: 'headstart-preprocess' });
  }
  return new Worker(new URL('./preprocess-thread.mjs', here), { name: 'headstart-preprocess' });
}

class ThreadPoolRenderer implements ViewRenderer {
  readonly capacity: number;
  private slots: Slot[] = [];
  private readonly queue: Task[] = [];
  private readonly spare: ArrayBuffer[] = [];
  private nextId = 1;
  private closed = false;

  constructor(readonly threads: number) {
    this.capacity = threads * (THREAD_QUEUE_DEPTH + 1);
  }

  warm(): Promise<void> {
    this.ensureThreads();
    return Promise.all(this.slots.map((s) => s.ready)).then(() => undefined);
  }

  render(bytes: Uint8Array, views: readonly ViewRequest[]): Promise<RenderedViews> {
    if (this.closed) return Promise.reject(new Error('the preprocessing pool is closed'));
    this.ensureThreads();
    // Hand the bytes over without a copy when they own their whole buffer.
    const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const data = owned ? bytes : bytes.slice();
    return new Promise((resolve, reject) => {
      this.queue.push({
        request: { id: this.nextId++, bytes: data, views, spare: [] },
        transfer: [data.buffer as ArrayBuffer],
        resolve,
        reject,
      });
      this.dispatch();
    });
  }

  recycle(tensors: readonly Float32Array[]): void {
    for (const t of tensors) {
      if (this.spare.length >= MAX_SPARE_BUFFERS) return;
      // Only whole, still-attached buffers (a tensor that shares its buffer is not ours to reuse).
      const buffer = t.buffer;
      if (buffer instanceof ArrayBuffer && t.byteOffset === 0 && t.byteLength === buffer.byteLength)
        this.spare.push(buffer);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.spare.length = 0;
    for (const task of this.queue.splice(0))
      task.reject(new Error('the preprocessing pool closed'));
    const slots = this.slots;
    this.slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private ensureThreads(): void {
    while (this.slots.length < this.threads) this.slots.push(this.startSlot());
  }

  private startSlot(): Slot {
    const worker = spawnThread();
    let markReady!: () => void;
    const slot: Slot = {
      worker,
      ready: new Promise<void>((resolve) => (markReady = resolve)),
      tasks: [],
    };
    worker.unref();
    worker.on('message', (msg: RenderReply | { ready: true }) => {
      if ('ready' in msg) {
        markReady();
        return;
      }
      const task = slot.tasks.shift();
      if (slot.tasks.length === 0) worker.unref();
      if (task && task.request.id === msg.id) {
        if (msg.ok) task.resolve({ tensors: msg.tensors, ms: msg.ms });
        else {
          task.reject(new ImageDecodeError(msg.message));
        }
      }
      this.dispatch();
    });
    const lost = (why: string) => {
      markReady();
      this.slots = this.slots.filter((s) => s !== slot);
      // A crashed thread fails only the images it held (a retryable error); a new thread replaces it.
      for (const task of slot.tasks.splice(0))
        task.reject(new Error(`a preprocessing thread stopped (${why})`));
      if (!this.closed) {
        this.ensureThreads();
        this.dispatch();
      }
    };
    worker.on('error', (err) => lost(err.message));
    worker.on('exit', (code) => {
      if (this.slots.includes(slot)) lost(`exit code ${code}`);
    });
    return slot;
  }

  private dispatch(): void {
    // Fill the emptiest thread first, one image at a time, so work spreads evenly.
    while (this.queue.length > 0) {
      let slot: Slot | undefined;
      for (const s of this.slots)
        if (s.tasks.length < THREAD_QUEUE_DEPTH && (!slot || s.tasks.length < slot.tasks.length))
          slot = s;
      if (!slot) return;
      const task = this.queue.shift()!;
      const spare = this.spare.splice(0, task.request.views.length);
      task.request.spare.push(...spare);
      task.transfer.push(...spare);
      slot.tasks.push(task);
      // Keep the process alive while a thread works for it; idle threads do not.
      slot.worker.ref();
      slot.worker.postMessage(task.request, task.transfer);
    }
  }
}
