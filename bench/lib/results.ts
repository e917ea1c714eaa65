// Writes benchmark figures into bench/results.json, the one file the lesson and the docs quote
// from: each with what it is, the command that measured it and the date.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ResultsSchema, type Figure, type Results } from '../../src/shared/figures.js';

export const RESULTS_FILE = path.resolve(import.meta.dirname, '..', 'results.json');

const COMMENT =
  'Written by the benchmarks (bench/lib/results.ts). The lesson quotes {{figure:key}}, README.md ' +
  'and docs/*.md <!-- figure:key -->…<!-- /figure --> (npm run figures). Run the command of a figure to refresh it.';

export async function readResults(file = RESULTS_FILE): Promise<Results> {
  const text = await readFile(file, 'utf8').catch(() => null);
  return text === null ? { figures: {} } : ResultsSchema.parse(JSON.parse(text));
}

/**
 * Records figures measured by `command` today, replacing earlier values of the same keys.
 *
 * @example
 * await recordFigures('npm run bench:train', { 'train.hymenoptera.val_acc': { value: 0.922, display: '0.922', label: 'hymenoptera validation accuracy' } });
 */
export async function recordFigures(
  command: string,
  figures: Record<string, Omit<Figure, 'command' | 'date'>>,
  file = RESULTS_FILE,
): Promise<void> {
  const results = await readResults(file);
  const date = new Date().toISOString().slice(0, 10);
  for (const [key, figure] of Object.entries(figures))
    results.figures[key] = { ...figure, command, date };
  const sorted = Object.fromEntries(
    Object.entries(results.figures).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const next = ResultsSchema.parse({ $comment: COMMENT, figures: sorted });
  await writeFile(file, `${JSON.stringify(next, null, 2)}\n`);
  console.error(
    `recorded ${Object.keys(figures).length} figure(s) in ${path.relative(process.cwd(), file)}`,
  );
}
