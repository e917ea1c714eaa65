// `npm run figures`: writes the current value of every figure the README quotes
// (`<!-- figure:key -->…<!-- /figure -->`) from bench/results.json; `--check` only says whether
// the README is up to date (the tests run it that way).
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { updateReadmeFigures } from '../src/shared/figures.js';
import { readResults } from '../bench/lib/results.js';

const README = path.resolve(import.meta.dirname, '..', 'README.md');

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const readme = await readFile(README, 'utf8');
  const next = updateReadmeFigures(readme, await readResults());
  if (next === readme) {
    console.log('README.md quotes the current figures');
    return;
  }
  if (check) {
    console.error('README.md quotes figures older than bench/results.json: run npm run figures');
    process.exitCode = 1;
    return;
  }
  await writeFile(README, next);
  console.log('README.md updated from bench/results.json');
}

main().catch((err: unknown) => {
  console.error(`figures failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
