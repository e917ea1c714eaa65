// `classify`: local photos (files, or folders walked for JPEG/PNG/WebP) through POST
// /v1/classify/batch in chunks, one result or error per photo, as a table, CSV or JSON.
import { openAsBlob } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { CLASSIFY_LIMITS, type BatchClassifyResponse } from '../../shared/api.js';
import type { Command } from '../args.js';
import { choiceValue, numberValue, stringValue } from '../args.js';
import type { ImageUpload } from '../client.js';
import { UsageError } from '../errors.js';
import { FORMATS, fixed, formatRows, type Cell } from '../format.js';
import { isImageFile } from '../image-folder.js';
import { StatusLines, bar } from '../progress.js';

type Entry = BatchClassifyResponse['results'][number];
/** One photo's outcome: the edge's entry for it, or an error found before sending. */
export type ImageResult = { readonly file: string } & (
  | Omit<Extract<Entry, { status: 200 }>, 'index' | 'filename'>
  | { readonly status: number; readonly error: { code: string; detail: string; field?: string } }
);

/** Space kept in each batch request for the multipart framing and the form fields. */
const FRAMING_BYTES = 64 * 1024;

async function walk(dir: string): Promise<string[]> {
  const found: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true });
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (e.name.startsWith('.')) continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) found.push(...(await walk(full)));
    else if (e.isFile() && isImageFile(e.name)) found.push(full);
  }
  return found;
}

/**
 * The photos named on the command line: files as given, folders walked (sorted) for .jpg,
 * .jpeg, .png and .webp.
 *
 * @example
 * await photosOf(['val/daisy', 'extra.png']);
 */
export async function photosOf(targets: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const target of targets) {
    const info = await stat(target).catch(() => undefined);
    if (!info) throw new UsageError(`${target} does not exist`);
    files.push(...(info.isDirectory() ? await walk(target) : [target]));
  }
  if (files.length === 0)
    throw new UsageError(`no .jpg, .jpeg, .png or .webp files in ${targets.join(', ')}`);
  return files;
}

/**
 * Groups photos into batch requests: at most maxBatchImages each and within the batch body
 * limit; a photo over the single-image limit is answered locally.
 */
export function chunkPhotos<T extends { readonly size: number }>(photos: readonly T[]): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const photo of photos) {
    const full =
      current.length >= CLASSIFY_LIMITS.maxBatchImages ||
      bytes + photo.size > CLASSIFY_LIMITS.maxBatchBodyBytes - FRAMING_BYTES;
    if (full && current.length > 0) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(photo);
    bytes += photo.size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Table/CSV rows: the top-k predictions of every model per photo, or its error. */
export function resultRows(results: readonly ImageResult[], csv: boolean): Cell[][] {
  return results.flatMap((r): Cell[][] => {
    if ('error' in r) return [[r.file, '', '', '', `${r.error.code}: ${r.error.detail}`]];
    return r.results.flatMap((m) =>
      m.predictions.map((p) => [r.file, m.model, p.label, csv ? p.score : fixed(p.score, 4), '']),
    );
  });
}

const classify: Command = {
  name: 'classify',
  usage: 'classify <files|dirs…> [--model id|alias[,…]] [--top-k N] [--format table|json|csv]',
  summary: 'Classify local photos with backbones, heads or aliases',
  key: 'optional',
  options: {
    model: {
      type: 'string',
      value: '<m[,m]>',
      help: `backbone id, head id or alias; up to ${CLASSIFY_LIMITS.maxModels}, comma-separated (edge default: its classifier)`,
    },
    'top-k': {
      type: 'string',
      value: '<n>',
      help: `labels per photo and model, 1–${CLASSIFY_LIMITS.maxTopK} (default 1)`,
    },
    format: { type: 'string', value: '<fmt>', help: 'table (default), json or csv' },
  },
  notes: ['Exit code 1 when any photo could not be classified (its error is in the output).'],
  async run({ term, client, values, positionals }) {
    if (positionals.length === 0) throw new UsageError('name the photos or folders to classify');
    const format = choiceValue(values, 'format', FORMATS);
    const topK =
      numberValue(values, 'top-k', { integer: true, min: 1, max: CLASSIFY_LIMITS.maxTopK }) ?? 1;
    const model = stringValue(values, 'model');
    const files = await photosOf(positionals);
    const photos = await Promise.all(
      files.map(async (file) => ({ file, size: (await stat(file)).size })),
    );
    const results = new Map<string, ImageResult>();
    const tooLarge = photos.filter((p) => p.size > CLASSIFY_LIMITS.maxBodyBytes);
    for (const p of tooLarge) {
      const detail = `the image is ${p.size} bytes; the limit is ${CLASSIFY_LIMITS.maxBodyBytes}`;
      results.set(p.file, { file: p.file, status: 413, error: { code: 'body_too_large', detail } });
    }
    const status = new StatusLines(term);
    let done = tooLarge.length;
    const draw = () =>
      status.set(
        [`classifying  ${bar(done / files.length)}  ${done}/${files.length} photos`],
        true,
      );
    try {
      draw();
      for (const chunk of chunkPhotos(
        photos.filter((p) => p.size <= CLASSIFY_LIMITS.maxBodyBytes),
      )) {
        const uploads: ImageUpload[] = await Promise.all(
          chunk.map(async (p) => ({ name: path.basename(p.file), data: await openAsBlob(p.file) })),
        );
        const answer = await client().classifyBatch(uploads, { model, topK });
        for (const entry of answer.results) {
          const file = chunk[entry.index]!.file;
          const { index: _i, filename: _f, ...rest } = entry;
          results.set(file, { file, ...rest });
        }
        done += chunk.length;
        draw();
      }
    } finally {
      status.done();
    }
    const ordered = files.map((f) => results.get(f)!);
    const headers = ['file', 'model', 'label', 'score', 'error'];
    const rows = resultRows(ordered, format === 'csv');
    const anyError = ordered.some((r) => 'error' in r);
    term.out(
      formatRows(format, anyError || format === 'csv' ? headers : headers.slice(0, 4), rows, {
        json: ordered,
        color: term.color,
      }),
    );
    return anyError ? 1 : 0;
  },
};

/** `classify`. */
export const CLASSIFY_COMMANDS: readonly Command[] = [classify];
