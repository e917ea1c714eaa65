// Decoding and view rendering on a pool of worker threads. The main thread fetches images and
// feeds onnxruntime; the threads turn encoded bytes into backbone tensors with the same shared
// code the edge runs (photon's decoder, `renderView`), so the pixels do not change with the
// thread they were made on. Tensors are written straight into shared batch buffers
// (`BatchAssembler`): nothing large crosses between threads as a message.
import { Worker } from 'node:worker_threads';
import { renderView, type ViewParams } from '../shared/augment.js';
import type { Preprocessing } from '../shared/manifest.js';
import { decodeTarget } from '../shared/decode.js';
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
  /** Where each view's tensor goes: slots of shared batch buffers, written in place. */
  readonly targets: readonly Float32Array[];
}

/** Preprocessing thread → main thread; every reply says how much memory its decoder holds. */
export type RenderReply = { readonly id: number; readonly decoderBytes: number } & (
  | { readonly ok: true; readonly ms: number }
  | { readonly ok: false; readonly message: string; readonly trapped: boolean }
);

/**
 * When a preprocessing thread is replaced: after `maxTraps` decoder traps (a wasm trap may leak
 * the decoder's memory), or once its decoder's linear memory passes `maxDecoderBytes` (wasm
 * memory never shrinks). A replaced thread finishes the images it holds first, so no job fails.
 */
export interface RecyclePolicy {
  readonly maxTraps: number;
  readonly maxDecoderBytes: number;
}
export const DEFAULT_RECYCLE: RecyclePolicy = { maxTraps: 8, maxDecoderBytes: 512 * 1024 * 1024 };

export interface RenderedViews {
  /** Milliseconds the decoding and rendering took on its thread. */
  readonly ms: number;
}

/**
 * The preprocessing an image is decoded for: one decode serves all its views, and the decoding
 * target does not depend on the input mode, only on the backbone's resize and crop.
 */
export function decodePreprocessing(views: readonly ViewRequest[]): Preprocessing {
  const first = views[0]?.preprocessing;
  if (!first) throw new RangeError('an image needs at least one view');
  const target = decodeTarget(first);
  if (views.some((v) => decodeTarget(v.preprocessing) !== target))
    throw new RangeError('the views of one image need one decoding target');
  return first;
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
   * Decodes `bytes` and renders view i into `targets[i]` (on a SharedArrayBuffer for a pool of
   * threads); rejects with ImageDecodeError for a bad image. The bytes move to the thread when
   * they own their whole buffer (no copy): do not read them after.
   */
  render(
    bytes: Uint8Array,
    views: readonly ViewRequest[],
    targets: readonly Float32Array[],
  ): Promise<RenderedViews>;
  /** Starts the threads now (a long-lived worker does this once, before its first job). */
  warm(): Promise<void>;
  close(): Promise<void>;
  /** Threads replaced so far (RecyclePolicy), and the most decoder memory a thread reported. */
  stats(): { readonly recycled: number; readonly maxDecoderBytes: number };
}

/**
 * A renderer with `threads` worker threads, or one that renders on the calling thread when
 * `threads` is 0.
 *
 * @example
 * const renderer = createViewRenderer(2);
 * const target = new Float32Array(new SharedArrayBuffer(3 * 224 * 224 * 4));
 * await renderer.render(jpegBytes, [{ view: CENTRE_VIEW, preprocessing }], [target]);
 * await renderer.close();
 */
export function createViewRenderer(
  threads: number,
  recycle: RecyclePolicy = DEFAULT_RECYCLE,
): ViewRenderer {
  return threads > 0 ? new ThreadPoolRenderer(threads, recycle) : new InlineRenderer();
}

/** Decodes and renders on the calling thread (HEADSTART_PREPROCESS_THREADS=0). */
class InlineRenderer implements ViewRenderer {
  readonly threads = 0;
  readonly capacity = 1;
  private readonly scratch = new ResampleScratch();

  async render(
    bytes: Uint8Array,
    views: readonly ViewRequest[],
    targets: readonly Float32Array[],
  ): Promise<RenderedViews> {
    const started = performance.now();
    let image;
    try {
      image = await decodeFile(bytes, decodePreprocessing(views));
    } catch (err) {
      throw new ImageDecodeError((err as Error).message);
    }
    views.forEach((v, i) =>
      renderView(image, v.view, v.preprocessing, { out: targets[i]!, scratch: this.scratch }),
    );
    return { ms: performance.now() - started };
  }

  async warm(): Promise<void> {}
  async close(): Promise<void> {}
  stats() {
    return { recycled: 0, maxDecoderBytes: 0 };
  }
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
  /** Decoder traps seen on this thread. */
  traps: number;
  /** Replaced: takes no new work, and ends once its tasks are answered. */
  retiring: boolean;
}

/**
 * Images posted to each thread ahead of its answers. More than one, because onnxruntime-node
 * runs a backbone batch synchronously on the main thread: a thread with work queued keeps
 * decoding while the main thread is busy, instead of waiting for its next image.
 */
const THREAD_QUEUE_DEPTH = 3;

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
  private nextId = 1;
  private closed = false;
  private recycled = 0;
  private maxDecoderBytes = 0;
  /** Replaced threads still finishing their images. */
  private readonly retiring = new Set<Slot>();

  constructor(
    readonly threads: number,
    private readonly recycle: RecyclePolicy,
  ) {
    this.capacity = threads * (THREAD_QUEUE_DEPTH + 1);
  }

  stats() {
    return { recycled: this.recycled, maxDecoderBytes: this.maxDecoderBytes };
  }

  warm(): Promise<void> {
    this.ensureThreads();
    return Promise.all(this.slots.map((s) => s.ready)).then(() => undefined);
  }

  render(
    bytes: Uint8Array,
    views: readonly ViewRequest[],
    targets: readonly Float32Array[],
  ): Promise<RenderedViews> {
    if (this.closed) return Promise.reject(new Error('the preprocessing pool is closed'));
    if (targets.length !== views.length || targets.some((t) => !isShared(t)))
      return Promise.reject(new TypeError('threads need one SharedArrayBuffer target per view'));
    this.ensureThreads();
    // Hand the bytes over without a copy when they own their whole buffer.
    const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
    const data = owned ? bytes : bytes.slice();
    return new Promise((resolve, reject) => {
      this.queue.push({
        request: { id: this.nextId++, bytes: data, views, targets },
        transfer: [data.buffer as ArrayBuffer],
        resolve,
        reject,
      });
      this.dispatch();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0))
      task.reject(new Error('the preprocessing pool closed'));
    const slots = [...this.slots, ...this.retiring];
    this.slots = [];
    this.retiring.clear();
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
      traps: 0,
      retiring: false,
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
        if (msg.ok) task.resolve({ ms: msg.ms });
        else task.reject(new ImageDecodeError(msg.message));
      }
      if (!msg.ok && msg.trapped) slot.traps++;
      this.maxDecoderBytes = Math.max(this.maxDecoderBytes, msg.decoderBytes);
      if (
        !slot.retiring &&
        (slot.traps >= this.recycle.maxTraps || msg.decoderBytes > this.recycle.maxDecoderBytes)
      )
        this.retire(slot);
      if (slot.retiring && slot.tasks.length === 0) {
        this.retiring.delete(slot);
        void worker.terminate();
      }
      this.dispatch();
    });
    const lost = (why: string) => {
      markReady();
      this.slots = this.slots.filter((s) => s !== slot);
      this.retiring.delete(slot);
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

  /** Takes a thread out of service: a new one takes its place; it ends after its last image. */
  private retire(slot: Slot): void {
    slot.retiring = true;
    this.recycled++;
    this.slots = this.slots.filter((s) => s !== slot);
    this.retiring.add(slot);
    if (!this.closed) this.ensureThreads();
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
      slot.tasks.push(task);
      // Keep the process alive while a thread works for it; idle threads do not.
      slot.worker.ref();
      slot.worker.postMessage(task.request, task.transfer);
    }
  }
}

const isShared = (t: Float32Array): boolean => t.buffer instanceof SharedArrayBuffer;
