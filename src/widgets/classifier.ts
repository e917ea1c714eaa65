// <headstart-classifier>: drop or pick a photo, see what a backbone (or your trained head) sees.
import { apiBase } from './client.js';
import { ClassifyPanel } from './classify-panel.js';
import { HeadstartElement, emit, h } from './dom.js';

const DEFAULT_TOP_K = 5;

/** `top-k` as the edge accepts it: an integer in 1–20, else the default. */
export function parseTopK(value: string | null): number {
  const n = Number(value);
  return Number.isInteger(n) && n >= 1 && n <= 20 ? n : DEFAULT_TOP_K;
}

/**
 * `<headstart-classifier>` — classify a photo with POST /v1/classify.
 *
 * Attributes: `model` (backbone id, head id or alias; several comma-separated; default: the
 * edge's default classifier), `top-k` (1–20, default 5), `api-key` (sent as a bearer token only
 * when set: heads and aliases need it), `api` (API base; default: the script's origin).
 * Events: `headstart:classified` (detail: the API's answer, as received).
 *
 * @example
 * <headstart-classifier model="mobilenet-v1-0.25" top-k="3"></headstart-classifier>
 */
export class HeadstartClassifier extends HeadstartElement {
  private readonly panel: ClassifyPanel;

  constructor() {
    super();
    this.panel = new ClassifyPanel({
      prompt: 'Choose a photo to classify',
      target: () => ({
        base: apiBase(this),
        model: this.attr('model'),
        topK: parseTopK(this.getAttribute('top-k')),
        apiKey: this.attr('api-key'),
      }),
      onStart: () => this.clearError(),
      onResult: (result) => emit(this, 'headstart:classified', result.response),
      onError: (message) => this.showError(message),
    });
    this.root.append(h('h3', {}, 'Classify a photo'), this.panel.element, this.alertBox);
  }

  disconnectedCallback(): void {
    this.panel.dispose();
  }
}
