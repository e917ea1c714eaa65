// <headstart-trainer>: name a few classes, pick photos, and watch a head train on them — the
// whole API loop (dataset → fine-tune → events → head → classify) in one element.
import { TrainingCharts } from './charts.js';
import { ClassPicker } from './class-picker.js';
import { ClassifyPanel } from './classify-panel.js';
import { apiBase, errorMessage, isAbort, requestJson } from './client.js';
import { datasetProblems, imageFolderZip } from './dataset-zip.js';
import { HeadstartElement, emit, h, percent, uniqueId } from './dom.js';
import { type CatalogueEntry, parseCatalogue } from './responses.js';
import type { HeadDetails, Job } from './training-responses.js';
import { confusionTable, datasetReportView } from './training-views.js';
import {
  type Account,
  cancelFineTune,
  fetchHead,
  followJob,
  startFineTune,
  uploadDataset,
} from './training.js';

const DEFAULT_EPOCHS = 15;

const STRATEGY_VALUES = ['feature_extraction', 'fine_tune', 'full'] as const;
type TrainerStrategy = (typeof STRATEGY_VALUES)[number];

/** `strategy` as the API accepts it, else feature extraction (the quickest). */
export function parseStrategy(value: string | null): TrainerStrategy {
  return STRATEGY_VALUES.find((s) => s === value) ?? 'feature_extraction';
}

/** `epochs` as the API accepts it (1–500), else the widget's default. */
export function parseEpochs(value: string | null): number {
  const n = Number(value);
  return value !== null && Number.isInteger(n) && n >= 1 && n <= 500 ? n : DEFAULT_EPOCHS;
}

/** "mobilenet-v2-1.0 · 32.7 ms · 96.7% / 88.8%": a backbone with what it measured. */
export function backboneLabel(m: CatalogueEntry): string {
  const parts = [m.id];
  if (m.edgeMs !== null) parts.push(`${m.edgeMs.toFixed(0)} ms at the edge`);
  if (m.hymenoptera !== null || m.flowers !== null)
    parts.push(
      `${m.hymenoptera === null ? '?' : percent(m.hymenoptera)} / ${m.flowers === null ? '?' : percent(m.flowers)} on the reference datasets`,
    );
  return parts.join(' · ');
}

/**
 * `<headstart-trainer>` — train a head on the reader's own photos.
 *
 * Attributes: `api-key` (without it, the reader pastes a key into a password field; it stays
 * in memory only — this is how the iframe embed, which takes no key in its URL, is used),
 * `backbone` (the backbone first chosen in its list, which the reader may change; the list
 * comes from GET /v1/models with each backbone's measured speed and accuracy; without either the
 * API's default, mobilenet-v2-1.0, is used), `epochs`
 * (1–500, default 15), `strategy` (`feature_extraction`, the default; `fine_tune` also trains
 * the backbone's last block; `full` trains every layer and is much slower), `api` (API base;
 * default: the script's origin).
 * Events: `headstart:job` (detail: the JobView, on every job event), `headstart:complete`
 * (detail: `{ jobId, headId, valAccuracy }`), `headstart:classified` (trying the new head).
 *
 * @example
 * <headstart-trainer api-key="…" backbone="mobilenet-v2-0.35"></headstart-trainer>
 */
export class HeadstartTrainer extends HeadstartElement {
  static readonly observedAttributes = ['api-key'];
  private readonly picker = new ClassPicker();
  private readonly charts = new TrainingCharts();
  private readonly keyNotice = h(
    'p',
    { class: 'alert' },
    'Training needs an API key: paste one of yours below (it stays in this page and is sent ' +
      'only to Headstart), or set this element’s api-key attribute.',
  );
  private readonly keyInput = h('input', {
    type: 'password',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'hs_key_…',
  });
  private readonly keyField = h('label', { class: 'key' }, 'Your API key ', this.keyInput);
  private readonly backboneSelect = h(
    'select',
    { id: uniqueId('backbone') },
    h('option', { value: '' }, 'Headstart’s default backbone'),
  );
  private backbonesLoaded = false;
  private readonly form: HTMLFormElement;
  private readonly start = h('button', { type: 'submit' }, 'Upload and train');
  private readonly cancel = h(
    'button',
    { type: 'button', class: 'secondary', hidden: true },
    'Cancel training',
  );
  private readonly status = h('p', { 'aria-live': 'polite' });
  private readonly report = h('div', {});
  private readonly progress = h('div', { hidden: true });
  private readonly results = h('div', {});
  private panel: ClassifyPanel | null = null;
  private controller: AbortController | null = null;
  private job: { account: Account; id: string } | null = null;

  constructor() {
    super();
    this.form = h(
      'form',
      {},
      h(
        'p',
        { class: 'muted' },
        'Name two to five classes and pick a few photos of each (JPEG, PNG or WebP). Headstart ' +
          'uploads them as a dataset, trains a new head on a frozen backbone and shows it learning.',
      ),
      this.keyField,
      h(
        'p',
        { class: 'key' },
        h('label', { for: this.backboneSelect.id }, 'Backbone '),
        this.backboneSelect,
      ),
      this.picker.element,
      h('div', { class: 'actions' }, this.start, this.cancel),
    );
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.train();
    });
    this.cancel.addEventListener('click', () => void this.cancelJob());
    // The notice asks for a key: once one is pasted it has nothing left to say.
    this.keyInput.addEventListener('input', () => this.showKeyState());
    this.progress.append(h('h4', {}, 'Training progress'), this.charts.element);
    this.root.append(
      h('h3', {}, 'Train your own classifier'),
      this.keyNotice,
      this.form,
      this.status,
      this.alertBox,
      this.report,
      this.progress,
      this.results,
    );
  }

  connectedCallback(): void {
    this.showKeyState();
    if (!this.backbonesLoaded) void this.loadBackbones();
  }

  /** Fills the backbone list from the catalogue; without it, the default stays the only choice. */
  private async loadBackbones(): Promise<void> {
    this.backbonesLoaded = true;
    const wanted = this.attr('backbone');
    let catalogue: readonly CatalogueEntry[] = [];
    try {
      catalogue = parseCatalogue(await requestJson(apiBase(this), '/v1/models'));
    } catch {
      // The list is a convenience; training works with the default (or the attribute's) backbone.
    }
    const ids = new Set(catalogue.map((m) => m.id));
    const options = catalogue.map((m) => h('option', { value: m.id }, backboneLabel(m)));
    // A backbone named by the attribute but not listed (the catalogue could not load) still counts.
    if (wanted && !ids.has(wanted)) options.push(h('option', { value: wanted }, wanted));
    this.backboneSelect.append(...options);
    if (wanted) this.backboneSelect.value = wanted;
  }

  attributeChangedCallback(): void {
    this.showKeyState();
  }

  disconnectedCallback(): void {
    this.controller?.abort();
    this.controller = null;
    this.panel?.dispose();
  }

  /** Without a key attribute the reader pastes one; a job already running keeps its own key. */
  private showKeyState(): void {
    const hasKey = this.attr('api-key') !== null;
    const pasted = this.keyInput.value.trim() !== '';
    this.keyNotice.hidden = hasKey || pasted || this.controller !== null;
    this.keyField.hidden = hasKey;
  }

  private say(text: string): void {
    this.status.textContent = text;
  }

  private async train(): Promise<void> {
    const apiKey = this.attr('api-key') ?? this.keyInput.value.trim();
    if (!apiKey) {
      this.showError('Paste your API key first.');
      this.keyInput.focus();
      return;
    }
    const classes = this.picker.classes();
    const problems = datasetProblems(classes);
    if (problems.length > 0) return this.showError(problems.join(' '));
    this.clearError();
    const controller = new AbortController();
    const { signal } = controller;
    this.controller = controller;
    const account: Account = { base: apiBase(this), apiKey };
    this.setBusy(true);
    this.report.replaceChildren();
    this.results.replaceChildren();
    this.panel?.dispose();
    this.panel = null;
    this.progress.hidden = true;
    try {
      this.say('Packing the photos…');
      const zip = await imageFolderZip(classes);
      this.say(`Uploading ${(zip.byteLength / 1024 / 1024).toFixed(1)} MB of photos…`);
      const dataset = await uploadDataset(account, zip, signal);
      this.report.replaceChildren(...datasetReportView(dataset));
      this.say('Submitting the fine-tune job…');
      const backbone = this.backboneSelect.value || this.attr('backbone');
      const spec = {
        datasetId: dataset.id,
        epochs: parseEpochs(this.attr('epochs')),
        strategy: parseStrategy(this.attr('strategy')),
      };
      const queued = await startFineTune(account, backbone ? { ...spec, backbone } : spec, signal);
      this.job = { account, id: queued.id };
      this.cancel.hidden = false;
      this.onJob(queued);
      const final = await followJob(account, queued.id, (job) => this.onJob(job), signal);
      this.cancel.hidden = true;
      if (final.status === 'canceled') return this.say('Training was cancelled.');
      if (final.status !== 'succeeded' || !final.headId) {
        this.say(`Job ${final.status}.`);
        return this.showError(final.lastError ?? `The job ended as ${final.status}.`);
      }
      this.say('Training finished. Reading the results…');
      const head = await fetchHead(account, final.headId, signal);
      const valAccuracy = head.valAccuracy ?? final.history.at(-1)?.valAccuracy ?? null;
      this.showResults(account, head, valAccuracy);
      emit(this, 'headstart:complete', { jobId: final.id, headId: final.headId, valAccuracy });
    } catch (err) {
      if (!isAbort(err)) this.showError(errorMessage(err));
    } finally {
      if (this.controller === controller) this.controller = null;
      this.job = null;
      this.cancel.hidden = true;
      this.setBusy(false);
      this.showKeyState();
    }
  }

  private async cancelJob(): Promise<void> {
    if (!this.job) return;
    this.cancel.disabled = true;
    try {
      await cancelFineTune(this.job.account, this.job.id);
      this.say('Cancelling the job…');
    } catch (err) {
      this.showError(errorMessage(err));
    } finally {
      this.cancel.disabled = false;
    }
  }

  private setBusy(busy: boolean): void {
    this.picker.setDisabled(busy);
    this.start.disabled = busy;
    this.backboneSelect.disabled = busy;
    this.form.toggleAttribute('aria-busy', busy);
  }

  private onJob(job: Job): void {
    emit(this, 'headstart:job', job.raw);
    this.progress.hidden = false;
    this.charts.update(job.history);
    const last = job.history.at(-1);
    if (job.status === 'queued') this.say(`Job ${job.id} is queued, waiting for a worker…`);
    else if (job.status === 'running')
      this.say(
        last
          ? `Training: epoch ${last.epoch} of ${last.epochs}, validation accuracy ${percent(last.valAccuracy)}.`
          : 'Training: computing embeddings of your photos…',
      );
    else this.say(`Job ${job.status}.`);
  }

  private showResults(account: Account, head: HeadDetails, valAccuracy: number | null): void {
    this.say(
      valAccuracy === null
        ? 'Training finished.'
        : `Training finished: ${percent(valAccuracy)} of the validation photos right.`,
    );
    const panel = new ClassifyPanel({
      prompt: 'Choose a new photo to try your model',
      target: () => ({
        base: account.base,
        model: head.id,
        topK: Math.min(5, Math.max(1, head.labels.length)),
        apiKey: account.apiKey,
      }),
      onStart: () => this.clearError(),
      onResult: (result) => emit(this, 'headstart:classified', result.response),
      onError: (message) => this.showError(message),
    });
    this.panel = panel;
    this.results.replaceChildren(
      h('h4', {}, 'Results'),
      head.confusion
        ? confusionTable(head.confusion.labels, head.confusion.matrix)
        : h('p', { class: 'muted' }, 'This head was stored without a confusion matrix.'),
      h('h4', {}, 'Try your model'),
      panel.element,
    );
  }
}
