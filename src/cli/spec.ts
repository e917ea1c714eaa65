// Fine-tune job requests from the command line: every FineTuneSpec field as a flag (defaults
// read from the shared presets), grids expanded into batches, and JSON-lines files of jobs.
import { AUGMENTATION_PRESET_NAMES } from '../shared/augment.js';
import { BACKBONE_IDS } from '../shared/backbones.js';
import {
  DEFAULT_JOB_PRESET,
  FineTuneSpecSchema,
  JOB_PRESETS,
  STRATEGIES,
  resolveFineTuneSpec,
} from '../shared/jobs.js';
import { UsageError } from './errors.js';

/** One spec field as a flag (`--lr`) and a grid key (`lr=…`). */
export interface SpecField {
  readonly key: string;
  /** Where it sits in the spec, e.g. ['optimizer', 'lr']. */
  readonly path: readonly string[];
  readonly kind: 'number' | 'int' | 'choice' | 'name';
  readonly choices?: readonly string[];
  readonly help: string;
}

const shape = FineTuneSpecSchema.shape;
const choice = (key: string, path: string[], choices: readonly string[], help: string) =>
  ({ key, path, kind: 'choice', choices, help }) as const;
const num = (key: string, path: string[], kind: 'number' | 'int', help: string) =>
  ({ key, path, kind, help }) as const;
const name = (key: string, path: string[], help: string) =>
  ({ key, path, kind: 'name', help }) as const;

/** Every field of FineTuneSpec but datasetId, in the order the help lists them. */
export const SPEC_FIELDS: readonly SpecField[] = [
  name(
    'backbone',
    ['backbone'],
    `backbone the head is trained on (${BACKBONE_IDS.join(', ')}, or one imported)`,
  ),
  choice('strategy', ['strategy'], STRATEGIES, 'what is trained'),
  name('trainable-from', ['trainableFrom'], 'fine_tune: first trainable block (e.g. block_16)'),
  num('backbone-lr', ['optimizer', 'backboneLr'], 'number', 'learning rate of backbone layers'),
  num('layer-decay', ['optimizer', 'layerDecay'], 'number', 'lr factor per block further back'),
  choice('batch-norm', ['batchNorm'], ['frozen', 'train'], 'BatchNorm in trainable blocks'),
  num('epochs', ['epochs'], 'int', 'training epochs'),
  num('batch-size', ['batchSize'], 'int', 'mini-batch size'),
  num('lr', ['optimizer', 'lr'], 'number', 'Adam learning rate'),
  num('weight-decay', ['optimizer', 'weightDecay'], 'number', 'Adam weight decay'),
  choice('head', ['head', 'type'], shape.head.shape.type.options, 'head type'),
  num('dropout', ['head', 'dropout'], 'number', 'dropout before the head'),
  num('hidden-units', ['head', 'hiddenUnits'], 'int', 'hidden units (mlp head)'),
  choice(
    'scheduler',
    ['scheduler', 'type'],
    shape.scheduler.options.map((o) => o.shape.type.value),
    'learning-rate schedule',
  ),
  num('step-size', ['scheduler', 'stepSize'], 'int', 'epochs between lr steps'),
  num('gamma', ['scheduler', 'gamma'], 'number', 'lr factor at each step'),
  choice(
    'augmentation',
    ['augmentation', 'preset'],
    AUGMENTATION_PRESET_NAMES,
    'augmentation preset',
  ),
  num('views', ['augmentation', 'views'], 'int', 'augmented views per training image'),
  num('label-smoothing', ['labelSmoothing'], 'number', 'label smoothing'),
  num('seed', ['seed'], 'int', 'random seed'),
  num('early-stopping-patience', ['earlyStopping', 'patience'], 'int', 'epochs without gain'),
  num('early-stopping-min-delta', ['earlyStopping', 'minDelta'], 'number', 'smallest gain'),
  choice('input-mode', ['inputMode'], shape.inputMode.options, 'how photos become 224×224'),
  num('max-attempts', ['maxAttempts'], 'int', 'attempts before the job fails'),
];

const PRESET_NAMES = Object.keys(JOB_PRESETS);

/** Whether `v` is a plain JSON object. */
export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function valueAt(obj: unknown, path: readonly string[]): unknown {
  let v = obj;
  for (const k of path) v = isRecord(v) ? v[k] : undefined;
  return v;
}

/** Sets `value` at `path` in `obj`, creating the objects on the way. */
export function setAt(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let at = obj;
  for (const k of path.slice(0, -1)) {
    const next = at[k];
    if (isRecord(next)) at = next;
    else at = at[k] = {};
  }
  at[path.at(-1)!] = value;
}

/** A field's value in a spec (undefined when it has none, e.g. stepSize without a step scheduler). */
export const specValue = (spec: unknown, field: SpecField): unknown => valueAt(spec, field.path);

/**
 * The help text's default for a field: the default preset's value, and the lesson's when it
 * differs — read from JOB_PRESETS.
 *
 * @example
 * specDefault(SPEC_FIELDS.find((f) => f.key === 'lr')!); // 'default 0.003; lesson 0.001'
 */
export function specDefault(field: SpecField): string {
  const show = (v: unknown) =>
    v === undefined || v === null
      ? 'off'
      : typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
        ? String(v)
        : JSON.stringify(v);
  const mine = show(valueAt(JOB_PRESETS[DEFAULT_JOB_PRESET], field.path));
  const others = Object.entries(JOB_PRESETS)
    .filter(([name]) => name !== DEFAULT_JOB_PRESET)
    .map(([name, preset]) => [name, show(valueAt(preset, field.path))])
    .filter(([, v]) => v !== mine);
  return [`default ${mine}`, ...others.map(([p, v]) => `${p} ${v}`)].join('; ');
}

/**
 * Parses one flag or grid value for `field`; `source` names it in the error.
 *
 * @example
 * parseFieldValue(lrField, '3e-4', '--lr'); // 0.0003
 */
export function parseFieldValue(field: SpecField, raw: string, source: string): string | number {
  if (field.kind === 'name') {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(raw))
      throw new UsageError(`${source} expects a block name such as block_16, not "${raw}"`);
    return raw;
  }
  if (field.kind === 'choice') {
    if (!field.choices!.includes(raw))
      throw new UsageError(`${source} must be one of ${field.choices!.join(', ')}, not "${raw}"`);
    return raw;
  }
  const value = raw.trim() === '' ? NaN : Number(raw);
  if (!Number.isFinite(value)) throw new UsageError(`${source} expects a number, not "${raw}"`);
  if (field.kind === 'int' && !Number.isInteger(value))
    throw new UsageError(`${source} expects a whole number, not "${raw}"`);
  return value;
}

/** The field a flag or grid key names: `lr`, `batch-size`, or the spec path (`optimizer.lr`). */
export function fieldFor(key: string): SpecField | undefined {
  return SPEC_FIELDS.find((f) => f.key === key || f.path.join('.') === key);
}

/**
 * A job request (any subset of the spec, as POST /v1/fine-tunes takes it) from flag values
 * keyed by flag name. Only what was given is set; the preset fills the rest on the server.
 *
 * @example
 * jobRequest({ lr: '3e-4', head: 'mlp' }, { dataset: 'ds_abc12345' });
 * // { datasetId: 'ds_abc12345', optimizer: { lr: 0.0003 }, head: { type: 'mlp' } }
 */
export function jobRequest(
  flags: Readonly<Record<string, string | undefined>>,
  base: { dataset?: string | undefined; preset?: string | undefined },
): Record<string, unknown> {
  const request: Record<string, unknown> = {};
  if (base.preset !== undefined) {
    if (!PRESET_NAMES.includes(base.preset))
      throw new UsageError(`--preset must be one of ${PRESET_NAMES.join(', ')}`);
    request.preset = base.preset;
  }
  if (base.dataset !== undefined) request.datasetId = base.dataset;
  for (const field of SPEC_FIELDS) {
    const raw = flags[field.key];
    if (raw !== undefined)
      setAt(request, field.path, parseFieldValue(field, raw, `--${field.key}`));
  }
  return completeRequest(request, '--');
}

/**
 * Fills what the edge's preset merge would not (`prefix` names flags in errors). earlyStopping needs both fields (patience alone
 * means minDelta 0). And the merge treats an object whose `type` differs from the preset's as a
 * new variant and does not fill it in, so `head: { type: 'mlp' }` alone would lack dropout and
 * hiddenUnits: a head of another type keeps the preset's other head fields.
 */
export function completeRequest(request: Record<string, unknown>, prefix: string) {
  const name = typeof request.preset === 'string' ? request.preset : DEFAULT_JOB_PRESET;
  const preset = Object.entries(JOB_PRESETS).find(([p]) => p === name)?.[1];
  if (preset && isRecord(request.head) && request.head.type !== undefined)
    request.head = { ...preset.head, ...request.head };
  const es = request.earlyStopping;
  if (isRecord(es)) {
    if (!('patience' in es))
      throw new UsageError(
        `${prefix}early-stopping-min-delta needs ${prefix}early-stopping-patience`,
      );
    if (!('minDelta' in es)) request.earlyStopping = { ...es, minDelta: 0 };
  }
  return request;
}

/**
 * Checks a request the way the edge will (preset filled in, strict), naming the flag at fault;
 * `where` prefixes the message (e.g. `line 3: `).
 *
 * @example
 * checkJobRequest({ datasetId: 'ds_abc12345', optimizer: { lr: 5 } }); // throws "--lr: Too big…"
 */
export function checkJobRequest(request: Record<string, unknown>, where = ''): void {
  const parsed = resolveFineTuneSpec(request);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = [
      ...issue.path.map(String),
      ...(issue.code === 'unrecognized_keys' ? issue.keys.slice(0, 1) : []),
    ];
    const field = SPEC_FIELDS.find((f) => f.path.join('.') === path.join('.'));
    const name = field ? `--${field.key}` : path[0] === 'datasetId' ? '--dataset' : path.join('.');
    throw new UsageError(`${where}${name || 'job'}: ${issue.message}`);
  }
}
