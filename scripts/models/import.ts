// Imports the catalog backbones: convert (when out of date) and upload to the local R2 bucket.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BACKBONES, backboneKeys, type BackboneSpec } from '../../src/shared/backbones.js';
import { sha256Hex } from '../../src/shared/fingerprint.js';
import { parseBackboneManifest, type BackboneManifest } from '../../src/shared/manifest.js';
import { CONVERTER_VERSION, convertBackbone } from './convert-backbone.js';

/** The default models mirror, next to the project (CI and development machines have it). */
export const DEFAULT_SOURCE = process.env.HEADSTART_MODELS_SOURCE ?? path.resolve('..', 'shared', 'models');
/** Where converted models are written. */
export const DEFAULT_OUT = process.env.HEADSTART_MODELS_DIR ?? path.resolve('models');

/** The subset of an R2 bucket binding the importer uses (local or remote alike). */
export interface ModelBucket {
  head(key: string): Promise<{ customMetadata?: Record<string, string> } | null>;
  put(
    key: string,
    value: Uint8Array | string,
    options?: { httpMetadata?: { contentType?: string }; customMetadata?: Record<string, string> },
  ): Promise<unknown>;
}

export type ImportStatus = 'converted' | 'up-to-date';
export interface ImportResult {
  readonly id: string;
  readonly status: ImportStatus;
  readonly uploaded: boolean;
  readonly manifest: BackboneManifest;
  readonly dir: string;
}

async function readCurrent(spec: BackboneSpec, dir: string): Promise<BackboneManifest | undefined> {
  try {
    const manifest = parseBackboneManifest(JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')));
    if (manifest.fingerprint !== spec.fingerprint || manifest.converter.version !== CONVERTER_VERSION) return undefined;
    const onnx = await readFile(path.join(dir, manifest.onnx.file));
    return (await sha256Hex(onnx)) === manifest.onnx.sha256 ? manifest : undefined;
  } catch {
    return undefined;
  }
}

async function writeAtomically(file: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** Uploads model then manifest (so a reader never finds a manifest without its model). */
async function upload(bucket: ModelBucket, manifest: BackboneManifest, dir: string): Promise<boolean> {
  const keys = backboneKeys(manifest.id);
  const [head, modelHead] = await Promise.all([bucket.head(keys.manifest), bucket.head(keys.model)]);
  if (head?.customMetadata?.sha256 === manifest.onnx.sha256 && modelHead?.customMetadata?.sha256 === manifest.onnx.sha256) {
    return false;
  }
  const meta = { sha256: manifest.onnx.sha256, fingerprint: manifest.fingerprint };
  await bucket.put(keys.model, new Uint8Array(await readFile(path.join(dir, manifest.onnx.file))), {
    httpMetadata: { contentType: 'application/octet-stream' },
    customMetadata: meta,
  });
  await bucket.put(keys.manifest, JSON.stringify(manifest, null, 2), {
    httpMetadata: { contentType: 'application/json' },
    customMetadata: meta,
  });
  return true;
}

/**
 * Converts every requested backbone whose output is missing or stale and uploads it to
 * `bucket` when given. Running it twice in a row does nothing the second time.
 *
 * @example
 * const results = await importBackbones({ source: '../shared/models', out: 'models' });
 */
export async function importBackbones(opts: {
  readonly source?: string;
  readonly out?: string;
  readonly only?: readonly string[];
  readonly force?: boolean;
  readonly bucket?: ModelBucket;
  readonly log?: (line: string) => void;
}): Promise<ImportResult[]> {
  const source = opts.source ?? DEFAULT_SOURCE;
  const out = opts.out ?? DEFAULT_OUT;
  const log = opts.log ?? (() => undefined);
  const unknown = (opts.only ?? []).filter((id) => !BACKBONES.some((b) => b.id === id));
  if (unknown.length > 0) {
    throw new Error(`unknown backbone ${unknown.join(', ')}; known: ${BACKBONES.map((b) => b.id).join(', ')}`);
  }
  const specs = BACKBONES.filter((b) => !opts.only || opts.only.length === 0 || opts.only.includes(b.id));
  const results: ImportResult[] = [];
  for (const spec of specs) {
    const dir = path.join(out, spec.id);
    const started = performance.now();
    let manifest = opts.force ? undefined : await readCurrent(spec, dir);
    const status: ImportStatus = manifest ? 'up-to-date' : 'converted';
    if (!manifest) {
      log(`${spec.id}: converting from ${source}`);
      const converted = await convertBackbone(spec, source);
      await mkdir(dir, { recursive: true });
      await writeAtomically(path.join(dir, converted.manifest.onnx.file), converted.onnx);
      await writeAtomically(path.join(dir, 'manifest.json'), `${JSON.stringify(converted.manifest, null, 2)}\n`);
      manifest = converted.manifest;
    }
    const uploaded = opts.bucket ? await upload(opts.bucket, manifest, dir) : false;
    const ms = Math.round(performance.now() - started);
    log(
      `${spec.id}: ${status === 'converted' ? `converted (${manifest.onnx.bytes} bytes)` : 'up to date'}` +
        `${opts.bucket ? (uploaded ? ', uploaded to R2' : ', R2 up to date') : ''} in ${ms} ms`,
    );
    results.push({ id: spec.id, status, uploaded, manifest, dir });
  }
  return results;
}
