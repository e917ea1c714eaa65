// Thumbnails of a dataset's photos. The image routes need the API key, so an <img> cannot point
// at them: each photo is fetched with the key (a few at a time, so a view never waits on them),
// shown through a blob: URL, and every URL is revoked when the view that made it is left.
import { h } from '../dom.js';
import { isAbort } from '../client.js';
import type { ConsoleApi } from './api.js';

/** Photos fetched at once per view. */
const CONCURRENCY = 4;

/**
 * A view's thumbnails: `image()` returns a fixed-size placeholder at once and fills it when its
 * turn comes; all pending fetches stop and all object URLs are revoked when `signal` aborts.
 *
 * @example
 * const thumbs = new Thumbnails(ctx.api, ctx.signal);
 * list.append(thumbs.image(datasetId, sha256, 'ants: 0013035.jpg'));
 */
export class Thumbnails {
  private readonly urls: string[] = [];
  private readonly queue: (() => Promise<void>)[] = [];
  private active = 0;

  constructor(
    private readonly api: ConsoleApi,
    private readonly signal: AbortSignal,
  ) {
    signal.addEventListener(
      'abort',
      () => {
        this.queue.length = 0;
        for (const url of this.urls.splice(0)) URL.revokeObjectURL(url);
      },
      { once: true },
    );
  }

  /** Runs `task` when fewer than CONCURRENCY are running (never after the view is left). */
  run(task: () => Promise<void>): void {
    if (this.signal.aborted) return;
    this.queue.push(task);
    this.next();
  }

  private next(): void {
    while (this.active < CONCURRENCY && this.queue.length && !this.signal.aborted) {
      const task = this.queue.shift()!;
      this.active++;
      void task().finally(() => {
        this.active--;
        this.next();
      });
    }
  }

  /** An <img> (96 × 96, cropped to fill) for a photo of `datasetId`, described by `alt`. */
  image(datasetId: string, sha256: string, alt: string): HTMLElement {
    const img = h('img', { class: 'thumb', alt, width: 96, height: 96, decoding: 'async' });
    this.run(async () => {
      try {
        const blob = await this.api.image(datasetId, sha256, this.signal);
        if (this.signal.aborted) return;
        const url = URL.createObjectURL(blob);
        this.urls.push(url);
        img.addEventListener('error', () => img.replaceWith(missing(alt)), { once: true });
        img.src = url;
      } catch (err) {
        if (!isAbort(err)) img.replaceWith(missing(alt));
      }
    });
    return img;
  }
}

/** Stands in for a photo that could not be fetched or decoded. */
const missing = (alt: string): HTMLElement =>
  h('span', { class: 'thumb missing', role: 'img', 'aria-label': `${alt} (not available)` }, '—');
