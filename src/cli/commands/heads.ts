// `heads list|download|delete` and `aliases set|list|delete`.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { Command } from '../args.js';
import { choiceValue, numberValue, stringValue } from '../args.js';
import { CliError, UsageError } from '../errors.js';
import { FORMATS, fixed, formatRows, megabytes } from '../format.js';

const FORMAT_OPTION = {
  format: { type: 'string', value: '<fmt>', help: 'table (default), json or csv' },
} as const;

function one(positionals: readonly string[], what: string): string {
  if (positionals.length !== 1) throw new UsageError(`expected one ${what}`);
  return positionals[0]!;
}

const list: Command = {
  name: 'heads list',
  usage: 'heads list [--limit N] [--all] [--format table|json|csv]',
  summary: 'Your trained heads, newest first',
  key: 'required',
  options: {
    limit: { type: 'string', value: '<n>', help: 'heads per page (default 20)' },
    all: { type: 'boolean', help: 'follow every page' },
    ...FORMAT_OPTION,
  },
  async run({ term, client, values }) {
    const format = choiceValue(values, 'format', FORMATS);
    const limit = numberValue(values, 'limit', { integer: true, min: 1, max: 100 }) ?? 20;
    const heads = [];
    let cursor: string | undefined;
    let more = false;
    do {
      const page = await client().listHeads({ limit, cursor });
      heads.push(...page.heads);
      cursor = page.nextCursor ?? undefined;
      more = cursor !== undefined;
    } while (more && values.all);
    const rows = heads.map((h) => [
      h.id,
      h.aliases.join(',') || '–',
      h.labels.join(','),
      fixed(h.metrics.valAccuracy),
      h.backbone,
      h.jobId,
      h.createdAt,
    ]);
    const headers = ['id', 'aliases', 'labels', 'val acc', 'backbone', 'job', 'created'];
    term.out(formatRows(format, headers, rows, { json: heads, color: term.color }));
    if (more && !values.all && format === 'table')
      term.err('(more heads: --all lists every page)\n');
    return 0;
  },
};

const download: Command = {
  name: 'heads download',
  usage: 'heads download <headId> [--out file.zip] [--backbone]',
  summary: 'Download a head as a zip (model.onnx, manifest.json, README.md)',
  key: 'required',
  options: {
    out: { type: 'string', value: '<file>', help: 'where to write it (default <headId>.zip)' },
    backbone: { type: 'boolean', help: 'include the backbone (backbone.onnx) to run on its own' },
  },
  async run({ term, client, values, positionals }) {
    const id = one(positionals, 'head id');
    const out = stringValue(values, 'out') ?? `${id}.zip`;
    const res = await client().downloadHead(id, values.backbone === true);
    if (!res.body) throw new CliError(`the download of ${id} has no body`);
    // Written beside the target and renamed, so a broken download never looks complete.
    const partial = `${out}.part`;
    try {
      const body = Readable.fromWeb(res.body as NodeReadableStream<Uint8Array>);
      let bytes = 0;
      body.on('data', (chunk: Buffer) => (bytes += chunk.length));
      await pipeline(body, createWriteStream(partial));
      await rename(partial, out);
      term.out(`${out}  ${megabytes(bytes)}\n`);
    } catch (err) {
      await rm(partial, { force: true });
      throw new CliError(`could not write ${out}: ${(err as Error).message}`);
    }
    return 0;
  },
};

const remove: Command = {
  name: 'heads delete',
  usage: 'heads delete <headId>',
  summary: 'Delete a head (refused while an alias points at it)',
  key: 'required',
  options: {},
  async run({ term, client, positionals }) {
    const id = one(positionals, 'head id');
    await client().deleteHead(id);
    term.out(`deleted ${id}\n`);
    return 0;
  },
};

const aliasSet: Command = {
  name: 'aliases set',
  usage: 'aliases set <name> <headId>',
  summary: 'Point an alias (e.g. production) at a head, creating or moving it',
  key: 'required',
  options: {},
  async run({ term, client, positionals }) {
    if (positionals.length !== 2) throw new UsageError('aliases set takes a name and a head id');
    const alias = await client().setAlias(positionals[0]!, positionals[1]!);
    term.out(`${alias.name} → ${alias.headId}\n`);
    return 0;
  },
};

const aliasList: Command = {
  name: 'aliases list',
  usage: 'aliases list [--format table|json|csv]',
  summary: 'Your aliases and the heads they point at',
  key: 'required',
  options: FORMAT_OPTION,
  async run({ term, client, values }) {
    const format = choiceValue(values, 'format', FORMATS);
    const aliases = await client().listAliases();
    const rows = aliases.map((a) => [a.name, a.headId, a.updatedAt]);
    term.out(
      formatRows(format, ['alias', 'head', 'updated'], rows, { json: aliases, color: term.color }),
    );
    return 0;
  },
};

const aliasDelete: Command = {
  name: 'aliases delete',
  usage: 'aliases delete <name>',
  summary: 'Drop an alias (the head stays)',
  key: 'required',
  options: {},
  async run({ term, client, positionals }) {
    const name = one(positionals, 'alias name');
    await client().deleteAlias(name);
    term.out(`deleted alias ${name}\n`);
    return 0;
  },
};

/** The heads and aliases commands. */
export const HEAD_COMMANDS: readonly Command[] = [
  list,
  download,
  remove,
  aliasSet,
  aliasList,
  aliasDelete,
];
