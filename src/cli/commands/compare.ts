// `jobs compare`: a batch's jobs side by side — the hyperparameters that differ, best validation
// accuracy, best epoch / epochs run, time — best first, as a table, JSON or CSV.
import type { Command } from '../args.js';
import { choiceValue } from '../args.js';
import { UsageError } from '../errors.js';
import { FORMATS, duration, fixed, formatRows, type Cell } from '../format.js';
import { compareRows, differingFields } from '../job-summary.js';

const compare: Command = {
  name: 'jobs compare',
  usage: 'jobs compare <batchId> [--format table|json|csv]',
  summary: "A batch's jobs side by side, best validation accuracy first",
  key: 'required',
  options: { format: { type: 'string', value: '<fmt>', help: 'table (default), json or csv' } },
  async run({ term, client, values, positionals }) {
    if (positionals.length !== 1) throw new UsageError('jobs compare takes one batch id');
    const format = choiceValue(values, 'format', FORMATS);
    const { jobs } = await client().getBatch(positionals[0]!);
    const keys = differingFields(jobs);
    const rows = compareRows(jobs);
    const csv = format === 'csv';
    const cells: Cell[][] = rows.map((r) => [
      r.jobId,
      r.status,
      ...keys.map((k) => {
        const v = r.hyperparameters[k];
        return typeof v === 'number' || typeof v === 'string' ? v : JSON.stringify(v);
      }),
      csv ? r.valAccuracy : fixed(r.valAccuracy),
      csv ? r.bestEpoch : `${r.bestEpoch ?? '–'}/${r.epochsRun}`,
      ...(csv ? [r.epochsRun] : []),
      csv ? r.seconds : duration(r.seconds),
      r.headId,
    ]);
    const headers = [
      'job',
      'status',
      ...keys,
      'val acc',
      csv ? 'best epoch' : 'best/epochs',
      ...(csv ? ['epochs run'] : []),
      csv ? 'seconds' : 'time',
      'head',
    ];
    const right = [headers.indexOf('best/epochs'), headers.indexOf('time')];
    term.out(formatRows(format, headers, cells, { json: rows, color: term.color, right }));
    return 0;
  },
};

/** `jobs compare`. */
export const COMPARE_COMMANDS: readonly Command[] = [compare];
