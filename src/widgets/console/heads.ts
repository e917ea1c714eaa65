// Heads and aliases: the heads with their metrics, the aliases and a form to point one at a
// head, one head with its confusion matrix and a "try it" panel, and delete (the API's 409
// explanation is shown when an alias still pins the head).
import { ClassifyPanel } from '../classify-panel.js';
import { list, nullable, num, record, str } from '../check.js';
import { ApiProblem } from '../client.js';
import { h, percent } from '../dom.js';
import { parseHead } from '../training-responses.js';
import { confusionTable } from '../training-views.js';
import type { AliasView, HeadSummary } from './api.js';
import { Thumbnails } from './thumbs.js';
import {
  type Rendered,
  type ViewContext,
  PagedList,
  button,
  confirmed,
  field,
  link,
  table,
  when,
} from './ui.js';

function aliasForm(ctx: ViewContext, heads: readonly HeadSummary[], headId?: string): HTMLElement {
  const name = h('input', {
    type: 'text',
    required: true,
    maxlength: 48,
    pattern: '[a-z][a-z0-9\\-]*',
    autocomplete: 'off',
    value: 'production',
  });
  const head = h(
    'select',
    {},
    ...heads.map((x) => h('option', { value: x.id }, `${x.id} (${x.labels.join(', ')})`)),
  );
  if (headId) head.value = headId;
  const submit = h('button', { type: 'submit' }, 'Point the alias');
  const form = h(
    'form',
    { class: 'panel' },
    h('h3', {}, 'Create or move an alias'),
    h(
      'p',
      { class: 'muted' },
      'Classify with ?model=<alias> and move the alias to a better head without changing your app.',
    ),
    h(
      'div',
      { class: 'grid' },
      field('Alias', name, 'Lowercase letters, digits and dashes, starting with a letter'),
      field('Head', head),
    ),
    h('div', { class: 'actions' }, submit),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submit.disabled = true;
    ctx.clearError();
    const alias = name.value.trim();
    ctx.api.setAlias(alias, head.value).then(
      () => {
        ctx.say(`Alias ${alias} now points at ${head.value}.`);
        ctx.go(location.hash || '#heads');
      },
      (err: unknown) => {
        submit.disabled = false;
        ctx.error(err);
      },
    );
  });
  return form;
}

function deleteHead(ctx: ViewContext, id: string): HTMLButtonElement {
  return button(
    'Delete',
    () => {
      if (!confirmed(`Delete head ${id}? Apps that classify with it will get 404.`)) return;
      ctx.api.deleteHead(id).then(
        () => {
          ctx.say(`Deleted head ${id}.`);
          ctx.go('#heads');
        },
        (err: unknown) => ctx.error(err),
      );
    },
    true,
    `Delete head ${id}`,
  );
}

function aliasesTable(ctx: ViewContext, aliases: readonly AliasView[]): HTMLElement {
  if (aliases.length === 0) return h('p', {}, 'No aliases yet.');
  return table(
    'Your aliases',
    ['Alias', 'Head', 'Updated', 'Actions'],
    aliases.map((a) => [
      a.name,
      link(`#heads/${a.headId}`, a.headId),
      when(a.updatedAt),
      button(
        'Remove',
        () =>
          void ctx.api.deleteAlias(a.name).then(
            () => {
              ctx.say(`Removed alias ${a.name}.`);
              ctx.go(location.hash || '#heads');
            },
            (err: unknown) => ctx.error(err),
          ),
        true,
        `Remove alias ${a.name}`,
      ),
    ]),
  );
}

/** Cell photos shown as thumbnails (the rest are listed by name). */
const THUMBS_PER_CELL = 60;

/**
 * Makes each cell of a confusion table a button that lists its validation photos — a thumbnail
 * of each (while the head's dataset exists) and the head's probabilities for it — from GET
 * /v1/heads/{id}/evaluation, fetched once.
 */
function explorable(
  ctx: ViewContext,
  headId: string,
  datasetId: string | null,
  labels: readonly string[],
  box: HTMLElement,
): HTMLElement {
  const out = h('div', { 'aria-live': 'polite' });
  let evaluation: Promise<unknown> | null = null;
  // Whether the dataset is still there (a 404 means it was deleted).
  let present: Promise<boolean> | null = null;
  // Each listing has its own thumbnails: opening another cell drops the last one's photos.
  let listing: AbortController | null = null;
  ctx.signal.addEventListener('abort', () => listing?.abort(), { once: true });
  const show = (truth: string, predicted: string, body: unknown, withPhotos: boolean) => {
    const evaluated = record(body, 'evaluation');
    const classes = list(evaluated.classes ?? labels, 'classes', str);
    const images = list(evaluated.images, 'images', (x, at) => {
      const image = record(x, at);
      return {
        sha256: str(image.sha256, `${at}.sha256`),
        path: str(image.path, `${at}.path`),
        label: str(image.label, `${at}.label`),
        predicted: str(image.predicted, `${at}.predicted`),
        probabilities: list(image.probabilities, `${at}.probabilities`, num),
      };
    }).filter((i) => i.label === truth && i.predicted === predicted);
    listing?.abort();
    listing = new AbortController();
    const thumbs = new Thumbnails(ctx.api, listing.signal);
    out.replaceChildren(
      h('h4', {}, `${truth} predicted as ${predicted}: ${images.length} validation photo(s)`),
      ...(datasetId && !withPhotos
        ? [
            h(
              'p',
              { class: 'muted' },
              `The dataset ${datasetId} this head was trained on has been deleted, so its photos cannot be shown.`,
            ),
          ]
        : []),
      h(
        'ul',
        { class: 'photos' },
        ...images.map((i, n) => {
          const name = i.path.split('/').pop() ?? i.path;
          const scores = i.probabilities
            .map((p, k) => `${classes[k] ?? k} ${percent(p)}`)
            .join(', ');
          return h(
            'li',
            {},
            withPhotos && datasetId && n < THUMBS_PER_CELL
              ? thumbs.image(datasetId, i.sha256, `${truth}: ${name}`)
              : null,
            h('span', {}, `${i.path} (${scores})`),
          );
        }),
      ),
    );
  };
  box.querySelectorAll('td').forEach((td, k) => {
    const truth = labels[Math.floor(k / labels.length)] ?? '';
    const predicted = labels[k % labels.length] ?? '';
    const n = td.textContent ?? '0';
    const b = button(
      n,
      () => {
        evaluation ??= ctx.api.evaluation(headId, ctx.signal);
        present ??= datasetId
          ? ctx.api.dataset(datasetId, ctx.signal).then(
              () => true,
              (err: unknown) => {
                if (err instanceof ApiProblem && err.status === 404) return false;
                throw err;
              },
            )
          : Promise.resolve(false);
        Promise.all([evaluation, present]).then(
          ([body, withPhotos]) => show(truth, predicted, body, withPhotos),
          (err: unknown) => ctx.error(err),
        );
      },
      true,
      `${n} ${truth} photos predicted as ${predicted}: list them`,
    );
    td.replaceChildren(b);
  });
  box.append(out);
  return box;
}

const accuracy = (v: number | null) => (v === null ? '—' : percent(v));

async function headDetail(ctx: ViewContext, id: string): Promise<Rendered> {
  const [raw, heads] = await Promise.all([ctx.api.head(id, ctx.signal), ctx.api.heads(ctx.signal)]);
  const head = parseHead(raw);
  const datasetId = nullable(record(raw, 'head').datasetId, 'datasetId', str);
  const summary = heads.find((x) => x.id === head.id);
  const panel = new ClassifyPanel({
    prompt: 'Choose a photo to try this head',
    target: () => ({
      base: ctx.api.account.base,
      model: head.id,
      topK: Math.min(5, head.labels.length),
      apiKey: ctx.api.account.apiKey,
    }),
    onStart: () => ctx.clearError(),
    onResult: () => undefined,
    onError: (message) => ctx.error(new Error(message)),
  });
  ctx.signal.addEventListener('abort', () => panel.dispose(), { once: true });
  return {
    title: `Head ${head.id}`,
    nodes: [
      h(
        'dl',
        {},
        h('dt', {}, 'Labels'),
        h('dd', {}, head.labels.join(', ')),
        h('dt', {}, 'Validation accuracy'),
        h('dd', {}, accuracy(head.valAccuracy)),
        ...(summary
          ? [
              h('dt', {}, 'Backbone'),
              h('dd', {}, summary.backbone),
              h('dt', {}, 'Trained by'),
              h('dd', {}, link(`#jobs/${summary.jobId}`, summary.jobId)),
              h('dt', {}, 'Aliases'),
              h('dd', {}, summary.aliases.join(', ') || 'none'),
            ]
          : []),
      ),
      h('h3', {}, 'Confusion matrix'),
      head.confusion
        ? explorable(
            ctx,
            head.id,
            datasetId,
            head.confusion.labels,
            confusionTable(head.confusion.labels, head.confusion.matrix),
          )
        : h('p', { class: 'muted' }, 'This head was stored without a confusion matrix.'),
      h('h3', {}, 'Try it'),
      panel.element,
      aliasForm(ctx, heads, head.id),
      h('div', { class: 'actions' }, deleteHead(ctx, head.id), link('#heads', 'All heads')),
    ],
  };
}

/** #heads (heads, aliases) and #heads/ID (one head). */
export async function headsView(ctx: ViewContext, id: string | null): Promise<Rendered> {
  if (id) return headDetail(ctx, id);
  const heads = new PagedList(
    ctx,
    'heads',
    (cursor) => ctx.api.headsPage(cursor, ctx.signal),
    (shown: readonly HeadSummary[]) =>
      shown.length
        ? table(
            'Your heads',
            [
              'Head',
              'Labels',
              'Backbone',
              'Validation accuracy',
              'Epochs',
              'Aliases',
              'Trained',
              'Actions',
            ],
            shown.map((x) => [
              link(`#heads/${x.id}`, x.id),
              x.labels.join(', '),
              x.backbone,
              accuracy(x.valAccuracy),
              x.epochsRun === null ? '—' : String(x.epochsRun),
              x.aliases.join(', ') || 'none',
              when(x.createdAt),
              deleteHead(ctx, x.id),
            ]),
          )
        : h('p', {}, 'No heads yet: ', link('#jobs', 'submit a fine-tune'), ' to train one.'),
  );
  const [first, aliases] = await Promise.all([heads.load(), ctx.api.aliases(ctx.signal)]);
  return {
    title: 'Heads and aliases',
    nodes: [
      heads.element,
      h('h3', {}, 'Aliases'),
      aliasesTable(ctx, aliases),
      first.length ? aliasForm(ctx, first) : h('p', {}),
    ],
  };
}
