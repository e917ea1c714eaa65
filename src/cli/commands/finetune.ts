// `finetune submit` (one job from flags), `finetune sweep` (a grid as one batch) and
// `finetune batch` (a JSON-lines file as one batch). Each submission carries an Idempotency-Key.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Command, Options, Values } from '../args.js';
import { stringList, stringValue } from '../args.js';
import type { JobView } from '../client.js';
import { UsageError } from '../errors.js';
import { renderTable } from '../format.js';
import { expandGrid, parseGrid, parseJobLines } from '../grid.js';
import { SPEC_FIELDS, checkJobRequest, jobRequest, specDefault } from '../spec.js';
import { paint } from '../terminal.js';
import { DEFAULT_JOB_PRESET, JOB_PRESETS } from '../../shared/jobs.js';

const SPEC_OPTIONS: Options = Object.fromEntries(
  SPEC_FIELDS.map((f) => [
    f.key,
    {
      type: 'string',
      value:
        f.kind === 'choice' || f.kind === 'name' ? `<${f.key}>` : f.kind === 'int' ? '<n>' : '<x>',
      help: `${f.help}${f.choices ? `: ${f.choices.join(', ')}` : ''} (${specDefault(f)})`,
    },
  ]),
);

const COMMON: Options = {
  dataset: { type: 'string', value: '<id>', help: 'the dataset to train on (ds_…)' },
  preset: {
    type: 'string',
    value: `<${Object.keys(JOB_PRESETS).join('|')}>`,
    help: `recipe that fills every field not given (default ${DEFAULT_JOB_PRESET})`,
  },
  ...SPEC_OPTIONS,
  'idempotency-key': {
    type: 'string',
    value: '<key>',
    help: 'repeat a submission safely (default: a fresh key per run)',
  },
  json: { type: 'boolean', help: 'print the submitted job(s) as JSON' },
};

function baseRequest(values: Values) {
  const dataset = stringValue(values, 'dataset');
  if (!dataset) throw new UsageError('--dataset <id> is required');
  const flags = Object.fromEntries(SPEC_FIELDS.map((f) => [f.key, stringValue(values, f.key)]));
  return jobRequest(flags, { dataset, preset: stringValue(values, 'preset') });
}

const keyOf = (values: Values) => stringValue(values, 'idempotency-key') ?? randomUUID();

/** The submitted batch: its id, and each job with its grid values when there is a grid. */
function renderBatch(
  batchId: string,
  jobs: readonly JobView[],
  params: readonly Record<string, string | number>[] | undefined,
  color: boolean,
): string {
  const keys = params?.[0] ? Object.keys(params[0]) : [];
  const rows = jobs.map((j, i) => [j.id, ...keys.map((k) => params?.[i]?.[k])]);
  return (
    `Batch ${paint(color, 'bold', batchId)}: ${jobs.length} job(s)\n\n` +
    renderTable(['job', ...keys], rows, { color }) +
    `\nFollow: headstart jobs watch ${batchId}\n`
  );
}

const submit: Command = {
  name: 'finetune submit',
  usage: 'finetune submit --dataset <id> [spec flags] [--json]',
  summary: 'Submit one fine-tune job; prints its id',
  key: 'required',
  options: COMMON,
  notes: [
    'Unset fields come from the preset: "default" is the headstart preset, "lesson" the',
    "lesson's recipe where it differs. --early-stopping-patience turns early stopping on.",
  ],
  async run({ term, client, values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const request = baseRequest(values);
    checkJobRequest(request);
    const job = await client().submitJob(request, keyOf(values));
    term.out(values.json ? `${JSON.stringify(job, null, 2)}\n` : `${job.id}\n`);
    return 0;
  },
};

const sweep: Command = {
  name: 'finetune sweep',
  usage: 'finetune sweep --dataset <id> --grid lr=1e-3,3e-4 --grid dropout=0.2,0.5 [spec flags]',
  summary: 'Submit the cartesian product of --grid values as one batch',
  key: 'required',
  options: {
    ...COMMON,
    grid: {
      type: 'string',
      multiple: true,
      value: '<key=v1,v2>',
      help: 'a field and its values (keys: the flag names, e.g. lr, dropout, epochs)',
    },
  },
  async run({ term, client, values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const axes = parseGrid(stringList(values, 'grid'));
    if (axes.length === 0) throw new UsageError('give at least one --grid key=v1,v2');
    const fixed = axes.find((a) => stringValue(values, a.field.key) !== undefined);
    if (fixed) throw new UsageError(`--${fixed.field.key} is both fixed and in the grid`);
    const jobs = expandGrid(baseRequest(values), axes);
    for (const { request, params } of jobs)
      checkJobRequest(
        request,
        `grid ${Object.entries(params)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}: `,
      );
    const batch = await client().submitBatch(
      jobs.map((j) => j.request),
      keyOf(values),
    );
    const params = jobs.map((j) => j.params);
    term.out(
      values.json
        ? `${JSON.stringify({ batchId: batch.batchId, jobs: batch.jobs.map((job, i) => ({ id: job.id, params: params[i], spec: job.spec })) }, null, 2)}\n`
        : renderBatch(batch.batchId, batch.jobs, params, term.color),
    );
    return 0;
  },
};

const batchFile: Command = {
  name: 'finetune batch',
  usage: 'finetune batch <file.jsonl> [--dataset <id>] [--json]',
  summary: 'Submit one job per line of a JSON-lines file as one batch',
  key: 'required',
  options: {
    dataset: { type: 'string', value: '<id>', help: 'datasetId for lines that have none' },
    'idempotency-key': COMMON['idempotency-key']!,
    json: COMMON.json!,
  },
  notes: [
    'Each line is a job request: {"datasetId":"ds_…","optimizer":{"lr":0.001}} (any subset of',
    'the spec, plus "preset"). Blank lines and lines starting with # are skipped.',
  ],
  async run({ term, client, values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('finetune batch takes one .jsonl file');
    const file = positionals[0]!;
    const text = await readFile(file, 'utf8').catch((err: Error) => {
      throw new UsageError(`cannot read ${file}: ${err.message}`);
    });
    let requests: Record<string, unknown>[];
    try {
      requests = parseJobLines(text, { dataset: stringValue(values, 'dataset') });
    } catch (err) {
      throw err instanceof UsageError ? new UsageError(`${file} ${err.message}`) : err;
    }
    const batch = await client().submitBatch(requests, keyOf(values));
    term.out(
      values.json
        ? `${JSON.stringify(batch, null, 2)}\n`
        : renderBatch(batch.batchId, batch.jobs, undefined, term.color),
    );
    return 0;
  },
};

/** The fine-tune submission commands. */
export const FINETUNE_COMMANDS: readonly Command[] = [submit, sweep, batchFile];
