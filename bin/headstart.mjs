#!/usr/bin/env node
// The npm bin: runs the bundled CLI (dist/cli.mjs), or says how to build it.
/* global process, URL */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/cli.mjs', import.meta.url));
if (!existsSync(bundle)) {
  process.stderr.write(
    'headstart: the CLI is not built yet; run `npm run build:cli` (or use `npm run cli -- <command>`)\n',
  );
  process.exitCode = 2;
} else {
  const { main } = await import(pathToFileURL(bundle).href);
  process.exitCode = await main(process.argv.slice(2));
}
