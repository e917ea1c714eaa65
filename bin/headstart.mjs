#!/usr/bin/env node
// The npm bin: runs the bundled CLI (dist/cli.mjs, from `npm run build:cli`); in a checkout where
// it is not built, runs the TypeScript sources through tsx (a dev dependency) instead, so
// `npx headstart` works straight after `npm ci`.
/* global process, URL */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/cli.mjs', import.meta.url));
const sources = new URL('../src/cli/main.ts', import.meta.url);

async function load() {
  if (existsSync(bundle)) return import(pathToFileURL(bundle).href);
  try {
    const { tsImport } = await import('tsx/esm/api');
    return await tsImport(sources.href, import.meta.url);
  } catch (err) {
    process.stderr.write(
      `headstart: the CLI is not built and its sources cannot run here (${err instanceof Error ? err.message.split('\n')[0] : err}); run \`npm run build:cli\`\n`,
    );
    return null;
  }
}

const cli = await load();
if (cli) process.exitCode = await cli.main(process.argv.slice(2));
else process.exitCode = 2;
