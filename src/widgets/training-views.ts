// What the trainer shows about its data and its result: the dataset report (with every file the
// edge left out, and why) and the confusion matrix as a real table — true classes as row
// headers, predictions as column headers, the diagonal marked by weight and outline, not colour.
import { h } from './dom.js';
import type { DatasetReport } from './training-responses.js';

const describeCounts = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .map(([name, n]) => `${name} ${n}`)
    .join(', ');

/**
 * Counts per split and class, then the rejected files with their reasons.
 *
 * @example
 * reportBox.replaceChildren(...datasetReportView(report));
 */
export function datasetReportView(dataset: DatasetReport): HTMLElement[] {
  const parts: HTMLElement[] = [
    h(
      'p',
      {},
      `Dataset ${dataset.id}: training photos ${describeCounts(dataset.counts.train)}; ` +
        `validation photos ${describeCounts(dataset.counts.val)}.`,
    ),
  ];
  if (dataset.rejected.length > 0) {
    const n = dataset.rejected.length;
    parts.push(
      h('p', {}, `${n} ${n === 1 ? 'file was' : 'files were'} left out:`),
      h(
        'ul',
        { class: 'rejected' },
        ...dataset.rejected.map((r) =>
          h(
            'li',
            {},
            `${r.path}: ${r.reason.replaceAll('_', ' ')}${r.detail ? ` (${r.detail})` : ''}`,
          ),
        ),
      ),
    );
  }
  return parts;
}

/**
 * The table for `matrix[true][predicted]` over `labels`.
 *
 * @example
 * root.append(confusionTable(['ants', 'bees'], [[60, 10], [5, 78]]));
 */
export function confusionTable(
  labels: readonly string[],
  matrix: readonly (readonly number[])[],
): HTMLElement {
  const total = matrix.reduce((n, row) => n + row.reduce((m, v) => m + v, 0), 0);
  const right = labels.reduce((n, _l, i) => n + (matrix[i]?.[i] ?? 0), 0);
  const table = h(
    'table',
    {},
    h('caption', {}, 'Confusion matrix'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'True \\ predicted'),
        ...labels.map((label) => h('th', { scope: 'col' }, label)),
      ),
    ),
    h(
      'tbody',
      {},
      ...labels.map((label, i) =>
        h(
          'tr',
          {},
          h('th', { scope: 'row' }, label),
          ...labels.map((_p, j) =>
            h('td', { class: i === j ? 'diagonal' : null }, String(matrix[i]?.[j] ?? 0)),
          ),
        ),
      ),
    ),
  );
  return h(
    'div',
    {},
    h(
      'p',
      { class: 'muted' },
      'On the validation photos: rows are the true class, columns what the model predicted.',
    ),
    h('div', { class: 'table-scroll' }, table),
    h('p', { class: 'muted' }, `${right} of ${total} validation photos on the diagonal (correct).`),
  );
}
