// `datasets upload` (an ImageFolder directory zipped on the fly, or a zip) and `datasets list`.
import { randomUUID } from 'node:crypto';
import { openAsBlob } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from '../args.js';
import { choiceValue, numberValue, stringValue } from '../args.js';
import type { DatasetReport } from '../client.js';
import { UsageError } from '../errors.js';
import { FORMATS, formatRows, megabytes, renderTable } from '../format.js';
import { imageFolderZip, scanImageFolder, type ZipProgress } from '../image-folder.js';
import { StatusLines, bar } from '../progress.js';
import { paint } from '../terminal.js';

/** The archive to send: its size, a fresh stream per try, and how many images it holds. */
interface Archive {
  readonly bytes: number;
  readonly images: number | undefined;
  readonly body: () => ReadableStream<Uint8Array>;
}

async function archiveOf(
  target: string,
  onProgress: (p: ZipProgress) => void,
): Promise<Archive & { note: string }> {
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new UsageError(`${target} does not exist`);
  if (info.isDirectory()) {
    const folder = await scanImageFolder(target);
    const zip = imageFolderZip(folder.images, onProgress);
    const skipped = folder.skipped > 0 ? `, ${folder.skipped} other file(s) left out` : '';
    return {
      bytes: zip.bytes,
      images: folder.images.length,
      body: zip.stream,
      note: `${folder.images.length} images in ${folder.classes.length} classes${folder.hasVal ? '' : ' (no val/: the edge splits train/)'}${skipped}`,
    };
  }
  if (path.extname(target).toLowerCase() !== '.zip')
    throw new UsageError(`${target} is neither a folder nor a .zip archive`);
  const blob = await openAsBlob(target);
  const body = () => {
    let sent = 0;
    const count = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        sent += chunk.length;
        onProgress({ bytes: sent, images: 0 });
        controller.enqueue(chunk);
      },
    });
    return blob.stream().pipeThrough(count);
  };
  return { bytes: info.size, images: undefined, body, note: 'a zip archive' };
}

/**
 * The validation report as text: classes with counts per split, rejected files and reasons.
 *
 * @example
 * renderReport(report); // 'Dataset ds_… "flowers": 5 classes, 750 images …'
 */
export function renderReport(report: DatasetReport, color = false): string {
  const { train, val } = report.counts;
  const split =
    report.split.source === 'archive'
      ? 'val/ from the archive'
      : `val split by the edge: fraction ${report.split.valFraction}, seed ${report.split.seed}`;
  const rows = report.classes.map((c) => [c, train[c] ?? 0, val[c] ?? 0]);
  rows.push(['total', report.imageCount.train, report.imageCount.val]);
  const lines = [
    `Dataset ${paint(color, 'bold', report.id)} "${report.name}": ${report.classes.length} classes, ` +
      `${report.imageCount.train + report.imageCount.val} images (${split})`,
    '',
    renderTable(['class', 'train', 'val'], rows, { color }),
  ];
  if (report.rejected.length > 0) {
    lines.push(`Rejected ${report.rejected.length} file(s):`);
    const rejected = report.rejected.map((r) => ['', r.path, r.reason, r.detail]);
    lines.push(
      renderTable(['', 'file', 'reason', 'detail'], rejected).split('\n').slice(1).join('\n'),
    );
  } else lines.push('Rejected: none');
  if (report.ignored > 0) lines.push(`Ignored ${report.ignored} OS file(s) (__MACOSX, .DS_Store…)`);
  return `${lines.join('\n').trimEnd()}\n`;
}

const upload: Command = {
  name: 'datasets upload',
  usage:
    'datasets upload <dir|zip> [--name N] [--val-fraction F] [--seed S] [--idempotency-key K] [--json]',
  summary: 'Check an ImageFolder directory, zip it on the fly and upload it; print the report',
  key: 'required',
  options: {
    name: { type: 'string', value: '<name>', help: 'dataset name (default: the folder name)' },
    'val-fraction': {
      type: 'string',
      value: '<f>',
      help: 'share of train/ moved to val when there is no val/ (edge default 0.2)',
    },
    seed: { type: 'string', value: '<n>', help: 'seed of that split (edge default 0)' },
    json: { type: 'boolean', help: 'print the raw report as JSON' },
    'idempotency-key': {
      type: 'string',
      value: '<key>',
      help: 'makes a repeated upload answer the first one (default: one per run)',
    },
  },
  notes: [
    'The layout: train/<class>/<image> (JPEG, PNG, WebP), val/<class>/<image> optional; other',
    'files are left out. A zip file is sent as it is. A dropped upload is retried with the same',
    'Idempotency-Key, so it never makes two datasets.',
  ],
  async run({ term, client, values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('datasets upload takes one folder or zip');
    const target = positionals[0]!;
    const valFraction = numberValue(values, 'val-fraction', { min: 0, max: 1 });
    if (valFraction === 0 || valFraction === 1)
      throw new UsageError('--val-fraction must lie strictly between 0 and 1');
    const seed = numberValue(values, 'seed', { integer: true, min: 0, max: 2 ** 31 - 1 });
    const status = new StatusLines(term);
    const draw = (archive: Archive, p: ZipProgress) => {
      const images = archive.images === undefined ? '' : `  ${p.images}/${archive.images} images`;
      status.set([
        `uploading  ${bar(p.bytes / archive.bytes)}  ${megabytes(p.bytes)} / ${megabytes(archive.bytes)}${images}`,
      ]);
      if (p.bytes >= archive.bytes) status.set(['the edge is checking every image…'], true);
    };
    // Progress is only reported while the upload streams, after `made` is set.
    const made: Archive & { note: string } = await archiveOf(target, (p) => draw(made, p));
    status.note(`uploading ${made.note}, ${megabytes(made.bytes)}`);
    const name =
      stringValue(values, 'name') ?? path.basename(path.resolve(target)).replace(/\.zip$/i, '');
    const report = await client()
      .uploadDataset(
        { bytes: made.bytes, body: made.body },
        { name, valFraction, seed },
        stringValue(values, 'idempotency-key') ?? randomUUID(),
      )
      .finally(() => status.done());
    term.out(
      values.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report, term.color),
    );
    return 0;
  },
};

const list: Command = {
  name: 'datasets list',
  usage: 'datasets list [--format table|json|csv]',
  summary: 'Your datasets, newest first',
  key: 'required',
  options: { format: { type: 'string', value: '<fmt>', help: 'table (default), json or csv' } },
  async run({ term, client, values }) {
    const format = choiceValue(values, 'format', FORMATS);
    const datasets = await client().listDatasets();
    const rows = datasets.map((d) => [d.id, d.name, d.classCount, d.imageCount, d.createdAt]);
    const headers = ['id', 'name', 'classes', 'images', 'created'];
    term.out(formatRows(format, headers, rows, { json: datasets, color: term.color }));
    return 0;
  },
};

/** The dataset commands. */
export const DATASET_COMMANDS: readonly Command[] = [upload, list];
