// A photo in, predictions out: the drop zone and file input, the preview, the POST /v1/classify
// call and the labelled bars. <headstart-classifier> is one of these; <headstart-trainer> shows
// one for the head it has just trained.
import { errorMessage, isAbort, request } from './client.js';
import { h, percent, uniqueId } from './dom.js';
import { type Classification, type ModelResult, parseClassification } from './responses.js';

/** Media types the edge decodes; the file input offers only these. */
export const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp'] as const;
/** The edge refuses bodies over 10 MB (CLASSIFY_LIMITS.maxBodyBytes). */
const MAX_BYTES = 10 * 1024 * 1024;

/** Where and how to classify; read when a photo is chosen, so attribute changes apply next time. */
export interface ClassifyTarget {
  readonly base: string;
  /** A backbone id, head id or alias (or several, comma-separated); null: the edge's default. */
  readonly model: string | null;
  readonly topK: number;
  readonly apiKey: string | null;
}

export interface ClassifyPanelOptions {
  readonly target: () => ClassifyTarget;
  /** Visible call to action inside the drop zone. */
  readonly prompt: string;
  readonly onStart: () => void;
  readonly onResult: (result: Classification, roundTripMs: number) => void;
  readonly onError: (message: string) => void;
}

/**
 * Classifies one image (the raw file as the body) and measures the round trip.
 *
 * @example
 * const { result, roundTripMs } = await classifyFile(file, { base, model: 'head_…', topK: 3, apiKey });
 */
export async function classifyFile(
  file: Blob,
  target: ClassifyTarget,
  signal?: AbortSignal,
): Promise<{ result: Classification; roundTripMs: number }> {
  const query = new URLSearchParams();
  if (target.model) query.set('model', target.model);
  query.set('topK', String(target.topK));
  const started = performance.now();
  const response = await request(target.base, `/v1/classify?${query.toString()}`, {
    method: 'POST',
    body: file,
    contentType: file.type || 'application/octet-stream',
    apiKey: target.apiKey,
    ...(signal ? { signal } : {}),
  });
  const body: unknown = await response.json();
  const roundTripMs = performance.now() - started;
  return { result: parseClassification(body), roundTripMs };
}

/** Why a file cannot be sent, or null when it can. */
export function refuseFile(file: File): string | null {
  if (!(IMAGE_TYPES as readonly string[]).includes(file.type))
    return `${file.name} is not a JPEG, PNG or WebP image.`;
  if (file.size > MAX_BYTES) return `${file.name} is larger than 10 MB.`;
  return null;
}

function renderResult(result: ModelResult, heading: boolean): HTMLElement {
  const titleId = uniqueId('predictions');
  const title =
    result.headId && result.headId !== result.model
      ? `${result.model} (${result.headId})`
      : result.model;
  const bars = h(
    'ol',
    { class: 'bars', 'aria-labelledby': titleId },
    ...result.predictions.map((p) => {
      const fill = h('span', { class: 'fill' });
      fill.style.width = percent(Math.min(Math.max(p.score, 0), 1));
      return h(
        'li',
        {},
        h('span', { class: 'label' }, p.label),
        h('span', { class: 'track', 'aria-hidden': 'true' }, fill),
        h('span', { class: 'value' }, percent(p.score)),
      );
    }),
  );
  return h(
    'section',
    {},
    heading
      ? h('h4', { id: titleId }, title)
      : h('p', { id: titleId, class: 'visually-hidden' }, `Predictions of ${title}`),
    bars,
  );
}

/**
 * The drop zone, preview and predictions, ready to put in a shadow root.
 *
 * @example
 * const panel = new ClassifyPanel({ target: () => ({ base, model, topK: 5, apiKey: null }), prompt: 'Choose a photo', … });
 * root.append(panel.element);
 */
export class ClassifyPanel {
  readonly element: HTMLElement;
  private readonly input: HTMLInputElement;
  private readonly preview: HTMLImageElement;
  private readonly status: HTMLParagraphElement;
  private readonly output: HTMLDivElement;
  private previewUrl: string | null = null;
  private controller: AbortController | null = null;

  constructor(private readonly options: ClassifyPanelOptions) {
    this.input = h('input', {
      type: 'file',
      class: 'visually-hidden',
      accept: IMAGE_TYPES.join(','),
      capture: 'environment',
    });
    const zone = h(
      'label',
      { class: 'dropzone' },
      h('span', { class: 'cta' }, options.prompt),
      h('span', { class: 'muted' }, 'or drop one here · JPEG, PNG or WebP, up to 10 MB'),
      this.input,
    );
    this.preview = h('img', { class: 'preview', alt: '', hidden: true });
    this.status = h('p', { class: 'muted', 'aria-live': 'polite' });
    this.output = h('div', {});
    this.element = h('div', { class: 'classify' }, zone, this.preview, this.status, this.output);

    this.input.addEventListener('change', () => {
      const file = this.input.files?.[0];
      if (file) void this.classify(file);
      this.input.value = '';
    });
    const over = (on: boolean) => (event: DragEvent) => {
      event.preventDefault();
      zone.classList.toggle('over', on);
    };
    zone.addEventListener('dragenter', over(true));
    zone.addEventListener('dragover', over(true));
    zone.addEventListener('dragleave', over(false));
    zone.addEventListener('drop', (event) => {
      over(false)(event);
      const file = event.dataTransfer?.files[0];
      if (file) void this.classify(file);
    });
  }

  /** Shows `file`, sends it, renders the answer; a newer photo cancels an older request. */
  async classify(file: File): Promise<void> {
    this.options.onStart();
    const refusal = refuseFile(file);
    if (refusal) {
      this.options.onError(refusal);
      return;
    }
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.showPreview(file);
    this.output.replaceChildren();
    this.status.textContent = `Classifying ${file.name}…`;
    try {
      const { result, roundTripMs } = await classifyFile(
        file,
        this.options.target(),
        controller.signal,
      );
      const heading = result.results.length > 1;
      const timing = h(
        'p',
        { class: 'muted' },
        `Edge: ${result.totalMs.toFixed(1)} ms · round trip: ${Math.round(roundTripMs)} ms`,
      );
      this.output.replaceChildren(...result.results.map((r) => renderResult(r, heading)), timing);
      const top = result.results[0]?.predictions[0];
      this.status.textContent = top
        ? `Top prediction: ${top.label} (${percent(top.score)}).`
        : 'No predictions.';
      this.options.onResult(result, roundTripMs);
    } catch (err) {
      if (isAbort(err)) return;
      this.status.textContent = '';
      this.options.onError(errorMessage(err));
    } finally {
      if (this.controller === controller) this.controller = null;
    }
  }

  private showPreview(file: File): void {
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = URL.createObjectURL(file);
    this.preview.src = this.previewUrl;
    this.preview.alt = `Preview of ${file.name}`;
    this.preview.hidden = false;
  }

  /** Cancels a request in flight and frees the preview (call when the element is removed). */
  dispose(): void {
    this.controller?.abort();
    this.controller = null;
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = null;
    this.preview.removeAttribute('src');
    this.preview.hidden = true;
  }
}
