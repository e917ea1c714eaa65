// `npm run models:publish`: uploads the converted backbones to the real R2 bucket with wrangler
// (needs `wrangler login` or CLOUDFLARE_API_TOKEN). Models first, manifests last, so the edge
// never sees a manifest whose model is not there yet.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BACKBONES, backboneKeys } from '../src/shared/backbones.js';
import { parseBackboneManifest } from '../src/shared/manifest.js';
import { DEFAULT_OUT } from './models/import.js';

const BUCKET = 'headstart-models';

/** The wrangler invocations that publish every converted backbone in `out`. */
export async function publishCommands(out: string, bucket = BUCKET): Promise<string[][]> {
  const models: string[][] = [];
  const manifests: string[][] = [];
  for (const spec of BACKBONES) {
    const dir = path.join(out, spec.id);
    const manifest = parseBackboneManifest(
      JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')),
    );
    const keys = backboneKeys(spec.id);
    const put = (key: string, file: string, type: string) => [
      'wrangler',
      'r2',
      'object',
      'put',
      `${bucket}/${key}`,
      '--file',
      file,
      '--content-type',
      type,
      '--remote',
    ];
    models.push(put(keys.model, path.join(dir, manifest.onnx.file), 'application/octet-stream'));
    manifests.push(put(keys.manifest, path.join(dir, 'manifest.json'), 'application/json'));
  }
  return [...models, ...manifests];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: DEFAULT_OUT },
      bucket: { type: 'string', default: BUCKET },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  const commands = await publishCommands(values.out, values.bucket);
  for (const command of commands) {
    console.log(`$ npx ${command.join(' ')}`);
    if (!values['dry-run']) execFileSync('npx', command, { stdio: 'inherit' });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    console.error(`models:publish failed: ${err instanceof Error ? err.message : String(err)}`);
    console.error('Run `npm run models:import` first, and log in with `npx wrangler login`.');
    process.exitCode = 1;
  });
}
