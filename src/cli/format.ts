// Output formats: aligned text tables, CSV (RFC 4180), JSON, and the confusion matrix.
import { paint, stripAnsi } from './terminal.js';

/** Output formats of the listing commands. */
export const FORMATS = ['table', 'json', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

/** A cell: text, a number, or nothing. */
export type Cell = string | number | null | undefined;

const isNumeric = (c: Cell) =>
  typeof c === 'number' || (typeof c === 'string' && /^-?[\d.]+%?$/.test(c));
const text = (c: Cell) => (c === null || c === undefined ? '' : String(c));

/**
 * An aligned text table: a header row, then one line per row; numeric columns are right-aligned.
 *
 * @example
 * renderTable(['file', 'score'], [['a.jpg', '0.91']]);
 * // 'file   score\na.jpg   0.91\n'
 */
export function renderTable(
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
  opts: { color?: boolean; right?: readonly number[] } = {},
): string {
  const cells = rows.map((r) => headers.map((_, i) => text(r[i])));
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...cells.map((r) => stripAnsi(r[i]!).length)),
  );
  const right = headers.map(
    (_, i) =>
      opts.right?.includes(i) ||
      (rows.length > 0 &&
        rows.every((r) => r[i] === null || r[i] === undefined || r[i] === '' || isNumeric(r[i]))),
  );
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => {
        const pad = ' '.repeat(widths[i]! - stripAnsi(c).length);
        return right[i] ? pad + c : c + pad;
      })
      .join('  ')
      .trimEnd();
  const head = line(headers);
  return [opts.color ? paint(true, 'bold', head) : head, ...cells.map(line)].join('\n') + '\n';
}

/**
 * CSV with a header row; fields with commas, quotes or line breaks are quoted.
 *
 * @example
 * toCsv(['file', 'label'], [['a,b.jpg', 'daisy']]); // 'file,label\n"a,b.jpg",daisy\n'
 */
export function toCsv(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const field = (c: Cell) => {
    const t = text(c);
    return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
  };
  return (
    [headers, ...rows].map((r) => headers.map((_, i) => field(r[i])).join(',')).join('\n') + '\n'
  );
}

/**
 * Rows in the chosen format: a table, CSV, or `json` (pretty-printed) when given.
 *
 * @example
 * formatRows('csv', ['a'], [[1]], { json: [{ a: 1 }] });
 */
export function formatRows(
  format: Format,
  headers: readonly string[],
  rows: readonly (readonly Cell[])[],
  opts: { json: unknown; color?: boolean; right?: readonly number[] },
): string {
  if (format === 'json') return `${JSON.stringify(opts.json, null, 2)}\n`;
  if (format === 'csv') return toCsv(headers, rows);
  return renderTable(headers, rows, { color: opts.color ?? false, right: opts.right ?? [] });
}

/**
 * The confusion matrix as a text table: one row per true class, one column per predicted class,
 * and each class's recall; the diagonal is bold on a terminal.
 *
 * @example
 * renderConfusion(['ants', 'bees'], [[60, 10], [5, 78]]);
 */
export function renderConfusion(
  labels: readonly string[],
  matrix: readonly (readonly number[])[],
  opts: { color?: boolean } = {},
): string {
  const rows = labels.map((label, t) => {
    const row = matrix[t] ?? [];
    const total = row.reduce((a, b) => a + b, 0);
    const cells = labels.map((_, p) => {
      const n = String(row[p] ?? 0);
      return t === p && opts.color ? paint(true, 'bold', n) : n;
    });
    return [label, ...cells, total === 0 ? '' : ((row[t] ?? 0) / total).toFixed(3)];
  });
  return renderTable(['true \\ predicted', ...labels, 'recall'], rows, opts);
}

/** A fraction as 0.873 (or '' when missing). */
export const fixed = (v: number | null | undefined, digits = 3): string =>
  v === null || v === undefined || !Number.isFinite(v) ? '' : v.toFixed(digits);

/**
 * Seconds as `42.1 s` or `3 m 05 s`.
 *
 * @example
 * duration(185); // '3 m 05 s'
 */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '';
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const total = Math.round(seconds);
  return `${Math.floor(total / 60)} m ${String(total % 60).padStart(2, '0')} s`;
}

/**
 * Bytes as `12.3 MB` (decimal units, as networks count).
 *
 * @example
 * megabytes(12_345_678); // '12.3 MB'
 */
export function megabytes(bytes: number): string {
  return bytes < 1e6 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(1)} MB`;
}
