// `npm run models:import`: TF.js backbones → ONNX + manifests → models/ and the local R2 bucket.
import { parseArgs } from 'node:util';
import {
  DEFAULT_OUT,
  DEFAULT_SOURCE,
  DEFAULT_TRIAL_PHOTOS,
  importBackbones,
  importOnnxFolder,
  type ModelBucket,
} from './models/import.js';

const HELP = `Usage: npm run models:import -- [options]

Imports the catalogue's backbones (TF.js ones converted to ONNX, ONNX ones checked; skipping
those already current) and uploads them to the local R2 bucket that \`wrangler dev\` uses.
With --onnx, imports your own ONNX backbone instead: a folder with model.onnx and its card
backbone.json (see docs/backbones.md), checked and tried on two real photos first.

Options:
  --onnx <dir|file>    import your own ONNX backbone (a folder, or a .onnx file with --card)
  --card <file>        its card (default: backbone.json beside the model)
  --photos <dir>       photos for the trial run (default ${DEFAULT_TRIAL_PHOTOS}; env HEADSTART_TRIAL_PHOTOS)
  --source <dir|url>   models mirror (default ${DEFAULT_SOURCE}; env HEADSTART_MODELS_SOURCE)
  --out <dir>          where ONNX files and manifests go (default ${DEFAULT_OUT}; env HEADSTART_MODELS_DIR)
  --only <id,...>      import only these backbones
  --persist-to <dir>   local wrangler state directory (default .wrangler/state)
  --no-upload          convert only, leave R2 alone
  --force              convert again even when the outputs are current
  -h, --help           show this help`;

async function openLocalBucket(
  persistTo: string,
): Promise<{ bucket: ModelBucket; close: () => Promise<void> }> {
  const { openStorageProxy } = await import('./lib/storage-proxy.js');
  const proxy = await openStorageProxy<{ MODELS: ModelBucket }>(`${persistTo}/v3`);
  return { bucket: proxy.env.MODELS, close: () => proxy.dispose() };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      source: { type: 'string' },
      out: { type: 'string' },
      only: { type: 'string' },
      onnx: { type: 'string' },
      card: { type: 'string' },
      photos: { type: 'string' },
      'persist-to': { type: 'string', default: '.wrangler/state' },
      'no-upload': { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const local = values['no-upload'] ? undefined : await openLocalBucket(values['persist-to']);
  try {
    if (values.onnx) {
      await importOnnxFolder({
        path: values.onnx,
        ...(values.card ? { card: values.card } : {}),
        ...(values.photos ? { photos: values.photos } : {}),
        source: values.source ?? DEFAULT_SOURCE,
        out: values.out ?? DEFAULT_OUT,
        bucket: local?.bucket,
        log: (line) => console.log(line),
      });
      return;
    }
    await importBackbones({
      ...(values.photos ? { photos: values.photos } : {}),
      source: values.source ?? DEFAULT_SOURCE,
      out: values.out ?? DEFAULT_OUT,
      only: values.only
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      force: values.force,
      bucket: local?.bucket,
      log: (line) => console.log(line),
    });
  } finally {
    await local?.close();
  }
}

main().catch((err: unknown) => {
  console.error(`models:import failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
