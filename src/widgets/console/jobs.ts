// Fine-tunes: the jobs with their live status, a form to submit one, and one job with its loss
// and accuracy curves over the job's event stream (the trainer's charts and follower), its
// error in plain words when it failed, and cancel.
import { TrainingCharts } from '../charts.js';
import { list, nullable, num, record, str } from '../check.js';
import { pause, requestJson } from '../client.js';
import { h, percent } from '../dom.js';
import { type CatalogueEntry, parseCatalogue } from '../responses.js';
import { backboneLabel } from '../trainer.js';
import type { Job } from '../training-responses.js';
import { cancelFineTune, followJob } from '../training.js';
import type { JobRow } from './api.js';
import {
  type Rendered,
  type ViewContext,
  PagedList,
  button,
  field,
  link,
  table,
  when,
} from './ui.js';

const FINAL = new Set(['succeeded', 'failed', 'canceled']);
const STRATEGIES = [
  ['feature_extraction', 'Feature extraction: train the head only (quickest)'],
  ['fine_tune', 'Fine-tune: the head and the backbone’s last block'],
  ['full', 'Full: every layer (slowest)'],
] as const;

/** "epoch 3 of 5 · 91.2% validation accuracy", or what the job is doing. */
function progressText(job: Job): string {
  const last = job.history.at(-1);
  if (!last)
    return job.status === 'queued'
      ? 'waiting for a worker'
      : job.status === 'running'
        ? 'computing embeddings'
        : '—';
  return `epoch ${last.epoch} of ${last.epochs} · ${percent(last.valAccuracy)} validation accuracy`;
}

const statusCell = (status: string): HTMLElement =>
  h('span', { class: `status-${status}` }, status);

function jobsTable(jobs: readonly JobRow[]): HTMLElement {
  return table(
    'Your fine-tune jobs',
    ['Job', 'Status', 'Progress', 'Dataset', 'Backbone', 'Strategy', 'Submitted'],
    jobs.map((j) => [
      link(`#jobs/${j.id}`, j.id),
      statusCell(j.status),
      progressText(j),
      link(`#datasets/${j.datasetId}`, j.datasetId),
      j.backbone || 'default',
      j.strategy.replace('_', ' '),
      when(j.createdAt),
    ]),
  );
}

async function submitForm(ctx: ViewContext): Promise<HTMLElement> {
  const [datasets, catalogue] = await Promise.all([
    ctx.api.datasets(ctx.signal),
    requestJson(ctx.api.account.base, '/v1/models', { signal: ctx.signal })
      .then(parseCatalogue)
      .catch((): readonly CatalogueEntry[] => []),
  ]);
  if (datasets.length === 0)
    return h(
      'p',
      { class: 'panel' },
      'To submit a job, first ',
      link('#datasets', 'upload a dataset'),
      '.',
    );
  const dataset = h(
    'select',
    { required: true },
    ...datasets.map((d) =>
      h(
        'option',
        { value: d.id },
        `${d.name ?? d.id} (${d.classCount} classes, ${d.imageCount} images)`,
      ),
    ),
  );
  const wanted = ctx.query.get('dataset');
  if (wanted && datasets.some((d) => d.id === wanted)) dataset.value = wanted;
  const strategy = h(
    'select',
    {},
    ...STRATEGIES.map(([v, text]) => h('option', { value: v }, text)),
  );
  const backbone = h(
    'select',
    {},
    h('option', { value: '' }, 'Headstart’s default backbone'),
    ...catalogue.map((m) => h('option', { value: m.id }, backboneLabel(m))),
  );
  const epochs = h('input', { type: 'number', min: 1, max: 500, value: 15, required: true });
  const submit = h('button', { type: 'submit' }, 'Submit the job');
  const form = h(
    'form',
    { class: 'panel' },
    h('h3', {}, 'Submit a fine-tune'),
    h(
      'div',
      { class: 'grid' },
      field('Dataset', dataset),
      field('Backbone', backbone),
      field('Strategy', strategy),
      field('Epochs', epochs, '1–500'),
    ),
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit.disabled = true;
    ctx.clearError();
    const spec: Record<string, unknown> = {
      datasetId: dataset.value,
      strategy: strategy.value,
      epochs: Number(epochs.value),
    };
    if (backbone.value) spec.backbone = backbone.value;
    ctx.api.submitJob(spec).then(
      (job) => {
        ctx.say(`Submitted job ${job.id}.`);
        ctx.go(`#jobs/${job.id}`);
      },
      (err: unknown) => {
        submit.disabled = false;
        ctx.error(err);
      },
    );
  });
  return form;
}

/** Polls the first page while a job on it is not final, so statuses stay live. */
function keepFresh(ctx: ViewContext, jobs: PagedList<JobRow>, first: readonly JobRow[]): void {
  if (first.every((j) => FINAL.has(j.status))) return;
  void (async () => {
    try {
      for (;;) {
        await pause(2000, ctx.signal, 'left the view');
        const next = await jobs.load();
        if (next.every((j) => FINAL.has(j.status))) return;
      }
    } catch (err) {
      ctx.error(err);
    }
  })();
}

function jobDetail(ctx: ViewContext, job: JobRow): Rendered {
  const charts = new TrainingCharts();
  const state = h('p', { 'aria-live': 'polite' });
  const outcome = h('div', {});
  const cancel = button('Cancel the job', () => {
    cancel.disabled = true;
    cancelFineTune(ctx.api.account, job.id).then(
      () => ctx.say('Cancelling the job…'),
      (err: unknown) => {
        cancel.disabled = false;
        ctx.error(err);
      },
    );
  });
  const show = (j: Job) => {
    charts.update(j.history);
    const progress = progressText(j);
    state.replaceChildren(
      'Status: ',
      statusCell(j.status),
      progress === '—' ? '.' : ` — ${progress}.`,
    );
    cancel.hidden = FINAL.has(j.status);
    if (j.status === 'succeeded' && j.headId)
      outcome.replaceChildren(
        h(
          'p',
          {},
          'Training finished. The trained head: ',
          link(`#heads/${j.headId}`, j.headId),
          '.',
        ),
      );
    else if (j.status === 'failed')
      outcome.replaceChildren(
        h(
          'p',
          { class: 'alert' },
          `This job failed after ${typeof j.raw.attempts === 'number' ? j.raw.attempts : 1} attempt(s). ` +
            `What went wrong: ${j.lastError ?? 'the worker gave no reason'}. ` +
            'Check the dataset and submit the job again; if it fails again, quote the job id to support.',
        ),
      );
    else if (j.status === 'canceled')
      outcome.replaceChildren(h('p', {}, 'This job was cancelled.'));
  };
  show(job);
  if (!FINAL.has(job.status))
    void followJob(ctx.api.account, job.id, show, ctx.signal).catch((err: unknown) =>
      ctx.error(err),
    );
  return {
    title: `Job ${job.id}`,
    nodes: [
      h(
        'dl',
        {},
        h('dt', {}, 'Dataset'),
        h('dd', {}, link(`#datasets/${job.datasetId}`, job.datasetId)),
        h('dt', {}, 'Backbone'),
        h('dd', {}, job.backbone || 'default'),
        h('dt', {}, 'Strategy'),
        h('dd', {}, job.strategy.replace('_', ' ')),
        h('dt', {}, 'Submitted'),
        h('dd', {}, when(job.createdAt)),
        ...(typeof job.raw.batchId === 'string'
          ? [
              h('dt', {}, 'Batch'),
              h(
                'dd',
                {},
                link(`#jobs/batch/${job.raw.batchId}`, `compare the jobs of ${job.raw.batchId}`),
              ),
            ]
          : []),
      ),
      state,
      h('div', { class: 'actions' }, cancel),
      outcome,
      h('h3', {}, 'Training curves'),
      charts.element,
      h('p', {}, link('#jobs', 'All jobs')),
    ],
  };
}

/** #jobs/batch/ID: a batch's jobs side by side (GET /v1/batches/{id}'s comparison table). */
async function batchDetail(ctx: ViewContext, id: string): Promise<Rendered> {
  const body = record(
    await requestJson(ctx.api.account.base, `/v1/batches/${encodeURIComponent(id)}`, {
      apiKey: ctx.api.account.apiKey,
      signal: ctx.signal,
    }),
    'batch',
  );
  const optNum = (v: unknown, at: string) => nullable(v, at, num);
  const rows = list(body.comparison, 'comparison', (x, at) => {
    const row = record(x, at);
    const valAccuracy = optNum(row.valAccuracy, `${at}.valAccuracy`);
    const seconds = optNum(row.trainSeconds, `${at}.trainSeconds`);
    const head = nullable(row.headId, `${at}.headId`, str);
    const jobId = str(row.jobId, `${at}.jobId`);
    return [
      link(`#jobs/${jobId}`, jobId),
      statusCell(str(row.status, `${at}.status`)),
      str(row.strategy, `${at}.strategy`).replace('_', ' '),
      list(row.trainedBlocks, `${at}.trainedBlocks`, str).join(', ') || 'head only',
      valAccuracy === null ? '—' : percent(valAccuracy),
      seconds === null ? '—' : `${seconds.toFixed(1)} s`,
      head ? link(`#heads/${head}`, head) : '—',
    ];
  });
  return {
    title: `Batch ${id}`,
    nodes: [
      table(
        'The batch’s jobs compared',
        [
          'Job',
          'Status',
          'Strategy',
          'Trained blocks',
          'Validation accuracy',
          'Training time',
          'Head',
        ],
        rows,
      ),
      h('p', {}, link('#jobs', 'All jobs')),
    ],
  };
}

/** #jobs (list and submit), #jobs/ID (one job, live) and #jobs/batch/ID. */
export async function jobsView(ctx: ViewContext, id: string | null): Promise<Rendered> {
  if (id?.startsWith('batch/')) return batchDetail(ctx, id.slice('batch/'.length));
  if (id) return jobDetail(ctx, await ctx.api.job(id, ctx.signal));
  const jobs = new PagedList(
    ctx,
    'jobs',
    (cursor) => ctx.api.jobsPage(cursor, ctx.signal),
    (shown: readonly JobRow[]) => (shown.length ? jobsTable(shown) : h('p', {}, 'No jobs yet.')),
  );
  const [first, form] = await Promise.all([jobs.load(), submitForm(ctx)]);
  keepFresh(ctx, jobs, first);
  return { title: 'Fine-tunes', nodes: [form, h('h3', {}, 'Jobs'), jobs.element] };
}
