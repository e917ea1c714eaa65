// `backbones import|list|delete`: a tenant's own ONNX backbones. An import is checked here first
// (the card against its schema, the model against the size limit) so a mistake costs no upload;
// the edge then checks the graph, trial-runs it and stores it.
import { openAsBlob } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from '../args.js';
import { choiceValue, stringValue } from '../args.js';
import type { BackboneListing, ImportedBackbone } from '../client.js';
import { UsageError } from '../errors.js';
import { FORMATS, fixed, formatRows, megabytes } from '../format.js';
import { StatusLines } from '../progress.js';
import { paint } from '../terminal.js';
import { CardError, MAX_BACKBONE_BYTES, parseBackboneCard } from '../../shared/backbone-card.js';
import { findBackbone } from '../../shared/backbones.js';
import { cutBlocks } from '../../shared/strategies.js';

/** The files an import sends: the model, and the card as written (the edge parses it again). */
export interface BackboneUpload {
  readonly modelFile: string;
  readonly modelBytes: number;
  readonly cardFile: string;
  readonly cardText: string;
}

/**
 * The model and card of `target` (a folder with `model.onnx` and `backbone.json`, as
 * `npm run models:import` takes, or an .onnx file with `card`), checked locally: the card
 * parses (an error names its field), the model exists and is within MAX_BACKBONE_BYTES.
 *
 * @example
 * const upload = await readBackboneUpload('my-model/'); // my-model/model.onnx + my-model/backbone.json
 */
export async function readBackboneUpload(
  target: string,
  card: string | undefined,
): Promise<BackboneUpload> {
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new UsageError(`${target} does not exist`);
  let modelFile: string;
  let cardFile: string;
  if (info.isDirectory()) {
    modelFile = path.join(target, 'model.onnx');
    cardFile = card ?? path.join(target, 'backbone.json');
  } else {
    if (path.extname(target).toLowerCase() !== '.onnx')
      throw new UsageError(`${target} is neither a folder nor an .onnx file`);
    if (card === undefined)
      throw new UsageError(`an .onnx file needs its card: --card backbone.json`);
    modelFile = target;
    cardFile = card;
  }
  let cardText: string;
  let cardJson: unknown;
  try {
    cardText = await readFile(cardFile, 'utf8');
    cardJson = JSON.parse(cardText);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new UsageError(`card: cannot read ${cardFile} as JSON (${reason})`);
  }
  let id: string;
  try {
    id = parseBackboneCard(cardJson).id;
  } catch (err) {
    if (err instanceof CardError) throw new UsageError(`${cardFile}: ${err.message}`);
    throw err;
  }
  if (findBackbone(id))
    throw new UsageError(
      `${cardFile}: card.id: "${id}" is a catalogue backbone's id; choose another`,
    );
  const model = await stat(modelFile).catch(() => undefined);
  if (!model?.isFile())
    throw new UsageError(
      `${modelFile} does not exist (a folder holds model.onnx and backbone.json)`,
    );
  if (model.size > MAX_BACKBONE_BYTES)
    throw new UsageError(
      `${modelFile} is ${model.size} bytes, over the ${MAX_BACKBONE_BYTES}-byte (${MAX_BACKBONE_BYTES / 2 ** 20} MiB) limit for a backbone ` +
        '(the edge isolate has 128 MB for everything)',
    );
  return { modelFile, modelBytes: model.size, cardFile, cardText };
}

/**
 * What an import stored, in a few lines: name, embedding, parameters, weights, blocks.
 *
 * @example
 * renderImported(backbone); // 'Backbone my-mnv2 "My MobileNetV2"\n  embedding   1280 …'
 */
export function renderImported(b: ImportedBackbone, color = false): string {
  const blocks = b.blocks ?? [];
  const cuts = cutBlocks(blocks).length;
  const rows: [string, string][] = [
    ['embedding', `${b.embeddingDim}`],
    ['parameters', b.parameters.toLocaleString('en-US')],
    [
      'weights',
      `${megabytes(b.onnx.bytes)}, ${
        b.onnx.quantized ? 'quantized (feature extraction only)' : 'float (every strategy)'
      }`,
    ],
    ['blocks', `${blocks.length} (${cuts} where a fine-tune can start)`],
  ];
  return [
    `Backbone ${paint(color, 'bold', b.name)} "${b.displayName}"`,
    ...rows.map(([k, v]) => `  ${k.padEnd(11)} ${v}`),
    `Use it as --backbone ${b.name} (finetune) and --model ${b.name} (classify).`,
    '',
  ].join('\n');
}

const upload: Command = {
  name: 'backbones import',
  usage: 'backbones import <dir|model.onnx> [--card backbone.json] [--json]',
  summary:
    'Check an ONNX backbone and its card here, upload them; the edge trial-runs and stores it',
  key: 'required',
  options: {
    card: {
      type: 'string',
      value: '<file>',
      help: 'the JSON card (default: backbone.json in the folder; needed with an .onnx file)',
    },
    json: { type: 'boolean', help: 'print the stored manifest as JSON' },
  },
  notes: [
    'A folder holds model.onnx (weights inside it, at most 32 MB) and backbone.json, its card',
    '(id, displayName, licence, origin, preprocessing, outputs: see docs/backbones.md). The card',
    'and the size are checked before anything is sent; the edge checks the graph, runs it once',
    'and stores it under your tenant. Use it by its id, like a catalogue backbone.',
  ],
  async run({ term, client, values, positionals }) {
    if (positionals.length !== 1)
      throw new UsageError('backbones import takes one folder or .onnx file');
    const files = await readBackboneUpload(positionals[0]!, stringValue(values, 'card'));
    const status = new StatusLines(term);
    status.note(
      `uploading ${files.modelFile} (${megabytes(files.modelBytes)}) with its card; the edge checks and trial-runs it…`,
    );
    const model = { name: path.basename(files.modelFile), data: await openAsBlob(files.modelFile) };
    const backbone = await client()
      .importBackbone(model, files.cardText)
      .finally(() => status.done());
    term.out(
      values.json ? `${JSON.stringify(backbone, null, 2)}\n` : renderImported(backbone, term.color),
    );
    return 0;
  },
};

/** A listing's table or CSV row (CSV: plain numbers, nothing for what is not measured). */
function listRow(b: BackboneListing, csv: boolean): (string | number | null)[] {
  const ms = b.measured?.edgeInferenceMs;
  return [
    b.name,
    b.owner,
    b.embeddingDim,
    csv ? b.parameters : `${(b.parameters / 1e6).toFixed(2)} M`,
    (b.onnx.bytes / 1e6).toFixed(1),
    b.onnx.quantized ? 'yes' : 'no',
    ms === null || ms === undefined ? (csv ? null : '-') : fixed(ms, 1),
  ];
}

const list: Command = {
  name: 'backbones list',
  usage: 'backbones list [--format table|json|csv]',
  summary: "The catalogue's backbones and your own",
  key: 'required',
  options: { format: { type: 'string', value: '<fmt>', help: 'table (default), json or csv' } },
  async run({ term, client, values }) {
    const format = choiceValue(values, 'format', FORMATS);
    const backbones = await client().listBackbones();
    const rows = backbones.map((b) => listRow(b, format === 'csv'));
    const headers = ['name', 'owner', 'embedding', 'parameters', 'MB', 'quantized', 'edge ms'];
    term.out(
      formatRows(format, headers, rows, { json: backbones, color: term.color, right: [3, 6] }),
    );
    return 0;
  },
};

const remove: Command = {
  name: 'backbones delete',
  usage: 'backbones delete <name>',
  summary: 'Delete one of your backbones (refused while a head or unfinished job uses it)',
  key: 'required',
  options: {},
  async run({ term, client, positionals }) {
    if (positionals.length !== 1) throw new UsageError('expected one backbone name');
    const name = positionals[0]!;
    await client().deleteBackbone(name);
    term.out(`deleted backbone ${name}\n`);
    return 0;
  },
};

/** The backbone commands. */
export const BACKBONE_COMMANDS: readonly Command[] = [upload, list, remove];
