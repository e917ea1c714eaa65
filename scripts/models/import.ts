// Imports the catalog backbones: convert (when out of date) and upload to the local R2 bucket.
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../src/gpu-worker/atomic-write.js';
import { decodeFile } from '../../src/gpu-worker/decode.js';
import { parseBackboneCard } from '../../src/shared/backbone-card.js';
import { BACKBONES, IMAGENET_LABELS, backboneKeys, type BackboneSpec } from '../../src/shared/backbones.js';
import { sha256Hex } from '../../src/shared/fingerprint.js';
import type { RgbImage } from '../../src/shared/image.js';
import { parseBackboneManifest, type BackboneManifest } from '../../src/shared/manifest.js';
import {
  CONVERTER_VERSION,
  convertBackbone,
  FingerprintMismatchError,
  loadLabels,
  sourcePath,
} from './convert-backbone.js';
import {
  importOnnxBackbone,
  ONNX_IMPORTER_VERSION,
  syntheticTrialImages,
} from '../../src/shared/onnx-import.js';
import { nodeTrialRuntime } from './trial-runtime.js';
import { readSource } from './tfjs-format.js';

/** The default models mirror, next to the project (CI and development machines have it). */
export const DEFAULT_SOURCE = process.env.HEADSTART_MODELS_SOURCE ?? path.resolve('..', 'shared', 'models');
/** Where converted models are written. */
export const DEFAULT_OUT = process.env.HEADSTART_MODELS_DIR ?? path.resolve('models');

/** Real photos for an ONNX import's trial run (HEADSTART_TRIAL_PHOTOS overrides). */
export const DEFAULT_TRIAL_PHOTOS =
  process.env.HEADSTART_TRIAL_PHOTOS ??
  path.resolve('..', 'shared', 'datasets', 'hymenoptera_data', 'val', 'bees');

/** Two decoded photos from `dir` (the first two JPEG or PNG files by name). */
export async function trialPhotos(dir = DEFAULT_TRIAL_PHOTOS): Promise<RgbImage[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.(jpe?g|png)$/i.test(n)).sort();
  } catch {
    throw new Error(`no trial photos at ${dir}: set HEADSTART_TRIAL_PHOTOS to a folder of photos`);
  }
  if (names.length < 2) throw new Error(`the trial run needs two photos in ${dir}`);
  return Promise.all(names.slice(0, 2).map(async (n) => decodeFile(await readFile(path.join(dir, n)))));
}

/** Real photos when there are some, else synthetic ones (catalogue backbones only). */
async function catalogueTrialPhotos(dir: string | undefined, log: (line: string) => void): Promise<RgbImage[]> {
  try {
    return await trialPhotos(dir);
  } catch (err) {
    log(`trial run on synthetic images: ${err instanceof Error ? err.message : String(err)}`);
    return syntheticTrialImages();
  }
}

const versionOf = (spec: Pick<BackboneSpec, 'format'>) =>
  spec.format === 'onnx' ? ONNX_IMPORTER_VERSION : CONVERTER_VERSION;

/** A catalogue ONNX backbone: its mirror file imported like a user's, with the catalogue's card. */
async function importCatalogueOnnx(
  spec: BackboneSpec,
  source: string,
  photos: () => Promise<RgbImage[]>,
): Promise<{ onnx: Uint8Array; manifest: BackboneManifest }> {
  const labels = await loadLabels(spec, source);
  const card = parseBackboneCard({
    id: spec.id,
    displayName: spec.displayName,
    licence: spec.licence,
    origin: spec.origin,
    preprocessing: spec.preprocessing,
    outputs: spec.logits ? { logits: spec.logits, labels: 'imagenet' } : {},
  });
  const file = sourcePath(source, `${spec.mirrorDir}/model.onnx`);
  const result = await importOnnxBackbone({
    bytes: await readSource(source, `${spec.mirrorDir}/model.onnx`),
    card,
    ...(labels ? { labels: Object.values(labels) } : {}),
    photos: await photos(),
    runtime: nodeTrialRuntime,
  });
  if (result.manifest.fingerprint !== spec.fingerprint)
    throw new FingerprintMismatchError(
      `${spec.id}: the weights at ${file} have fingerprint ${result.manifest.fingerprint}, pinned ${spec.fingerprint}; refusing them`,
    );
  return result;
}

/**
 * Imports a person's own ONNX backbone: a folder holding `model.onnx` and its card
 * (`backbone.json`), or the file with `card` given. Writes `<out>/<id>/` and uploads to `bucket`
 * when given: the edge then serves it like a catalogue backbone (by id).
 *
 * @example
 * const result = await importOnnxFolder({ path: 'my-model/', out: 'models', bucket });
 */
export async function importOnnxFolder(opts: {
  readonly path: string;
  readonly card?: string;
  readonly out?: string;
  readonly source?: string;
  readonly bucket?: ModelBucket;
  readonly photos?: string;
  readonly log?: (line: string) => void;
}): Promise<ImportResult> {
  const out = opts.out ?? DEFAULT_OUT;
  const started = performance.now();
  const isFile = /\.onnx$/i.test(opts.path);
  const modelFile = isFile ? opts.path : path.join(opts.path, 'model.onnx');
  const cardFile = opts.card ?? path.join(isFile ? path.dirname(opts.path) : opts.path, 'backbone.json');
  let cardJson: unknown;
  try {
    cardJson = JSON.parse(await readFile(cardFile, 'utf8'));
  } catch (err) {
    throw new Error(`card: cannot read ${cardFile} as JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  const card = parseBackboneCard(cardJson);
  if (BACKBONES.some((b) => b.id === card.id))
    throw new Error(`card.id: "${card.id}" is a catalogue backbone; choose another id`);
  let labels: string[] | undefined;
  if (card.outputs.labels === 'imagenet') {
    const names = await loadLabels({ id: card.id, labels: IMAGENET_LABELS }, opts.source ?? DEFAULT_SOURCE);
    labels = Object.values(names!);
  } else labels = card.outputs.labels;
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(modelFile));
  } catch {
    throw new Error(`model: cannot read ${modelFile}`);
  }
  const { onnx, manifest } = await importOnnxBackbone({
    bytes,
    card,
    ...(labels ? { labels } : {}),
    photos: await trialPhotos(opts.photos),
    runtime: nodeTrialRuntime,
  });
  const dir = path.join(out, manifest.id);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, manifest.onnx.file), onnx);
  await writeFileAtomic(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const uploaded = opts.bucket ? await upload(opts.bucket, manifest, dir) : false;
  const trainable = manifest.onnx.quantized
    ? 'integer-quantized: feature extraction only'
    : `${(manifest.blocks ?? []).filter((b) => b.input).length} blocks to fine-tune from`;
  opts.log?.(
    `${manifest.id}: imported (${manifest.onnx.bytes} bytes, ${manifest.parameters} parameters, ` +
      `${manifest.embeddingDim}-d embedding${manifest.id2label ? `, ${Object.keys(manifest.id2label).length} classes` : ''}; ${trainable})` +
      `${opts.bucket ? (uploaded ? ', uploaded to R2' : ', R2 up to date') : ''} in ${Math.round(performance.now() - started)} ms`,
  );
  return { id: manifest.id, status: 'converted', uploaded, manifest, dir };
}

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
    if (manifest.fingerprint !== spec.fingerprint || manifest.converter.version !== versionOf(spec))
      return undefined;
    const onnx = await readFile(path.join(dir, manifest.onnx.file));
    return (await sha256Hex(onnx)) === manifest.onnx.sha256 ? manifest : undefined;
  } catch {
    return undefined;
  }
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
  /** Folder of real photos for ONNX trial runs (default DEFAULT_TRIAL_PHOTOS). */
  readonly photos?: string;
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
      const converted =
        spec.format === 'onnx'
          ? await importCatalogueOnnx(spec, source, () => catalogueTrialPhotos(opts.photos, log))
          : await convertBackbone(spec, source);
      await mkdir(dir, { recursive: true });
      await writeFileAtomic(path.join(dir, converted.manifest.onnx.file), converted.onnx);
      await writeFileAtomic(path.join(dir, 'manifest.json'), `${JSON.stringify(converted.manifest, null, 2)}\n`);
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
