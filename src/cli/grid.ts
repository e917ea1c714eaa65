// Many jobs at once: a sweep's grid (`--grid lr=1e-3,3e-4`) expanded into its cartesian
// product, and a JSON-lines file of job requests; each becomes one batch submission.
import { UsageError } from './errors.js';
import {
  SPEC_FIELDS,
  checkJobRequest,
  completeRequest,
  fieldFor,
  parseFieldValue,
  setAt,
  isRecord,
  type SpecField,
} from './spec.js';

/** One axis of a sweep: a spec field and the values it takes. */
export interface GridAxis {
  readonly field: SpecField;
  readonly values: readonly (string | number)[];
}

/**
 * Parses `--grid key=v1,v2` options; unknown keys and empty lists are errors.
 *
 * @example
 * parseGrid(['lr=1e-3,3e-4', 'dropout=0.2,0.5']); // two axes: optimizer.lr, head.dropout
 */
export function parseGrid(options: readonly string[]): GridAxis[] {
  const axes: GridAxis[] = [];
  for (const option of options) {
    const eq = option.indexOf('=');
    const key = eq === -1 ? option : option.slice(0, eq);
    const field = fieldFor(key);
    if (!field)
      throw new UsageError(
        `unknown grid key "${key}"; use one of ${SPEC_FIELDS.map((f) => f.key).join(', ')}`,
      );
    if (axes.some((a) => a.field === field)) throw new UsageError(`grid key "${key}" given twice`);
    const raw =
      eq === -1
        ? []
        : option
            .slice(eq + 1)
            .split(',')
            .filter((v) => v.trim() !== '');
    if (raw.length === 0) throw new UsageError(`--grid ${key}= needs values, e.g. ${key}=a,b`);
    axes.push({ field, values: raw.map((v) => parseFieldValue(field, v.trim(), `--grid ${key}`)) });
  }
  return axes;
}

/**
 * The cartesian product of the axes over `base` (the first axis varies slowest), with each
 * job's grid values keyed by grid key.
 *
 * @example
 * expandGrid({ datasetId }, parseGrid(['lr=1e-3,3e-4', 'dropout=0.2,0.5'])).length; // 4
 */
export function expandGrid(
  base: Record<string, unknown>,
  axes: readonly GridAxis[],
): { request: Record<string, unknown>; params: Record<string, string | number> }[] {
  let combos: Record<string, string | number>[] = [{}];
  for (const axis of axes)
    combos = combos.flatMap((c) => axis.values.map((v) => ({ ...c, [axis.field.key]: v })));
  return combos.map((params) => {
    const request = structuredClone(base);
    for (const axis of axes) setAt(request, axis.field.path, params[axis.field.key]);
    return { request: completeRequest(request, 'grid '), params };
  });
}

/**
 * Job requests from a JSON-lines file: one object per line; blank lines and `#` comments are
 * skipped; `dataset` fills in a missing datasetId. Errors name the line.
 *
 * @example
 * parseJobLines('{"optimizer":{"lr":0.001}}\n# next\n{"epochs":5}', { dataset: 'ds_abc12345' });
 */
export function parseJobLines(
  text: string,
  opts: { dataset?: string | undefined } = {},
): Record<string, unknown>[] {
  const jobs: Record<string, unknown>[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new UsageError(`line ${i + 1}: not JSON (${(err as Error).message})`);
    }
    if (!isRecord(value))
      throw new UsageError(`line ${i + 1}: expected a JSON object with the job's fields`);
    const request = { ...value };
    if (request.datasetId === undefined && opts.dataset) request.datasetId = opts.dataset;
    checkJobRequest(request, `line ${i + 1}: `);
    jobs.push(request);
  }
  if (jobs.length === 0) throw new UsageError('the file has no jobs');
  return jobs;
}
