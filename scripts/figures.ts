// `npm run figures`: writes the current value of every figure the README and the docs pages
// quote (`<!-- figure:key -->…<!-- /figure -->`) from bench/results.json; `--check` only says
// whether every page is up to date (the tests check the same pages).
import { readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { README_FIGURE, updateReadmeFigures, type Results } from '../src/shared/figures.js';
import { readResults } from '../bench/lib/results.js';

const ROOT = path.resolve(import.meta.dirname, '..');

/**
 * The pages that may quote figures, relative to the repository root: README.md and every
 * markdown page in docs/, in a stable order.
 */
export function figurePages(root: string = ROOT): string[] {
  const docs = readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`);
  return ['README.md', ...docs];
}

/** A page with every marked figure set to its current value; an unknown key names the page. */
export function updatePageFigures(page: string, text: string, results: Results): string {
  try {
    return updateReadmeFigures(text, results);
  } catch (err) {
    throw new Error(`${page}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Whether a page quotes any figure at all. */
export function quotesFigures(text: string): boolean {
  return [...text.matchAll(README_FIGURE)].length > 0;
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const results = await readResults();
  const quoting: string[] = [];
  const stale: { page: string; next: string }[] = [];
  for (const page of figurePages()) {
    const text = await readFile(path.join(ROOT, page), 'utf8');
    if (!quotesFigures(text)) continue;
    quoting.push(page);
    const next = updatePageFigures(page, text, results);
    if (next !== text) stale.push({ page, next });
  }
  if (stale.length === 0) {
    console.log(
      quoting.length === 0
        ? 'no page quotes a figure'
        : `${quoting.join(', ')}: every figure is current`,
    );
    return;
  }
  if (check) {
    for (const { page } of stale)
      console.error(`${page} quotes figures older than bench/results.json: run npm run figures`);
    process.exitCode = 1;
    return;
  }
  for (const { page, next } of stale) {
    await writeFile(path.join(ROOT, page), next);
    console.log(`${page} updated from bench/results.json`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(`figures failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
