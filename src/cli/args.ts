// Command-line parsing on node:util parseArgs: the command table's shape, finding the command
// among the words, each command's options with the global ones, and generated help.
import { parseArgs } from 'node:util';
import type { HeadstartClient } from './client.js';
import { UsageError } from './errors.js';
import type { Terminal } from './terminal.js';

/** One option as parseArgs takes it, plus its help. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** Placeholder in the help, e.g. `<n>`. */
  readonly value?: string;
  readonly help: string;
}

export type Options = Readonly<Record<string, OptionSpec>>;
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What a command gets when it runs. */
export interface CommandContext {
  readonly term: Terminal;
  /** The client of the configured edge (created on first use; the key is checked then). */
  readonly client: () => HeadstartClient;
  readonly values: Values;
  readonly positionals: readonly string[];
}

/** One command of the table of contents. */
export interface Command {
  /** Words that name it: `datasets upload`. */
  readonly name: string;
  readonly usage: string;
  readonly summary: string;
  readonly options: Options;
  /**
   * The credential it sends: an API key (`required`, or `optional`: sent when configured), or
   * an admin token (`admin`: the admin API).
   */
  readonly key: 'required' | 'optional' | 'admin';
  /** Extra help after the options (examples, notes). */
  readonly notes?: readonly string[];
  run(ctx: CommandContext): Promise<number>;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Options = {
  url: { type: 'string', value: '<url>', help: 'the edge (HEADSTART_URL)' },
  key: { type: 'string', value: '<key>', help: 'API key hs_key_… (HEADSTART_API_KEY)' },
  config: {
    type: 'string',
    value: '<file>',
    help: 'config file with {"url","apiKey"} (~/.config/headstart/config.json)',
  },
  'admin-token': {
    type: 'string',
    value: '<token>',
    help: 'admin token hs_admin_… for headstart admin (HEADSTART_ADMIN_TOKEN)',
  },
  verbose: { type: 'boolean', short: 'v', help: 'print each request to stderr' },
  help: { type: 'boolean', short: 'h', help: 'show help' },
};

const TAKES_VALUE = new Set(['--url', '--key', '--config', '--admin-token']);

/**
 * The command named by the leading words of `argv` (global options may come first), and the
 * rest of the arguments.
 *
 * @example
 * findCommand(commands, ['--verbose', 'heads', 'list']); // { command: heads list, rest: ['--verbose'] }
 */
export function findCommand(
  commands: readonly Command[],
  argv: readonly string[],
): { command: Command | undefined; words: string[]; rest: string[] } {
  const words: number[] = [];
  for (let i = 0; i < argv.length && words.length < 3; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a.startsWith('-')) {
      if (TAKES_VALUE.has(a)) i++;
      continue;
    }
    words.push(i);
    // Stop once the words so far name a whole command (what follows are its positionals).
    const sofar = words.map((w) => argv[w]).join(' ');
    if (commands.some((c) => c.name === sofar)) break;
  }
  const named = words.map((i) => argv[i]!);
  // The longest leading run of words that names a command.
  let command: Command | undefined;
  for (let n = named.length; n > 0 && !command; n--)
    command = commands.find((c) => c.name === named.slice(0, n).join(' '));
  const used = command ? words.slice(0, command.name.split(' ').length) : [];
  return { command, words: named, rest: argv.filter((_, i) => !used.includes(i)) };
}

/**
 * Parses a command's arguments (its options and the global ones) strictly: an unknown option
 * or a missing value is a usage error.
 *
 * @example
 * parseCommand(command, ['dir', '--name', 'flowers']); // { values: { name: 'flowers' }, positionals: ['dir'] }
 */
export function parseCommand(
  options: Options,
  args: readonly string[],
): { values: Values; positionals: string[] } {
  const all = { ...GLOBAL_OPTIONS, ...options };
  const config = Object.fromEntries(
    Object.entries(all).map(([name, o]) => [
      name,
      {
        type: o.type,
        ...(o.short ? { short: o.short } : {}),
        ...(o.multiple ? { multiple: true } : {}),
      },
    ]),
  );
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: config,
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (err) {
    // parseArgs adds advice on '--' to unknown options; the first sentence says it all.
    const message = (err as Error).message.split('\n')[0]!.split('. To specify')[0]!;
    throw new UsageError(message.replace(/\.$/, ''));
  }
}

/** A string option's value, or undefined. */
export const stringValue = (values: Values, name: string): string | undefined => {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
};

/** A repeatable string option's values (empty when absent). */
export const stringList = (values: Values, name: string): string[] => {
  const v = values[name];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
};

/**
 * A numeric option parsed and range-checked, or undefined when absent.
 *
 * @example
 * numberValue(values, 'top-k', { integer: true, min: 1, max: 20 });
 */
export function numberValue(
  values: Values,
  name: string,
  range: { integer?: boolean; min?: number; max?: number } = {},
): number | undefined {
  const raw = stringValue(values, name);
  if (raw === undefined) return undefined;
  const n = raw.trim() === '' ? NaN : Number(raw);
  const ok =
    Number.isFinite(n) &&
    (!range.integer || Number.isInteger(n)) &&
    (range.min === undefined || n >= range.min) &&
    (range.max === undefined || n <= range.max);
  if (!ok) {
    const bounds =
      range.min !== undefined && range.max !== undefined ? ` in ${range.min}–${range.max}` : '';
    throw new UsageError(
      `--${name} expects ${range.integer ? 'a whole number' : 'a number'}${bounds}, not "${raw}"`,
    );
  }
  return n;
}

/**
 * A choice option's value, checked against `choices` (the first is the default).
 *
 * @example
 * choiceValue(values, 'format', ['table', 'json', 'csv']); // 'table' when absent
 */
export function choiceValue<T extends string>(
  values: Values,
  name: string,
  choices: readonly T[],
): T {
  const raw = stringValue(values, name);
  if (raw === undefined) return choices[0]!;
  const found = choices.find((c) => c === raw);
  if (!found) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, not "${raw}"`);
  return found;
}

function optionLines(options: Options): string[] {
  const left = Object.entries(options).map(
    ([name, o]) => `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`,
  );
  const width = 30;
  return Object.values(options).map((o, i) => {
    const l = left[i]!;
    return l.length <= width
      ? `  ${l.padEnd(width)}  ${o.help}`
      : `  ${l}\n  ${' '.repeat(width)}  ${o.help}`;
  });
}

/** The help of one command. */
export function commandHelp(command: Command): string {
  const lines = [`Usage: headstart ${command.usage}`, '', command.summary, ''];
  if (Object.keys(command.options).length > 0)
    lines.push('Options:', ...optionLines(command.options), '');
  lines.push('Global options:', ...optionLines(GLOBAL_OPTIONS), '');
  if (command.notes) lines.push(...command.notes, '');
  return lines.join('\n');
}

/** The top-level help: every command with its summary. */
export function mainHelp(commands: readonly Command[], version: string): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `headstart ${version} — transfer learning for computer vision, from the command line`,
    '',
    'Usage: headstart <command> [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    ...optionLines({ ...GLOBAL_OPTIONS, version: { type: 'boolean', help: 'print the version' } }),
    '',
    'Configuration, first found wins: --url/--key, HEADSTART_URL/HEADSTART_API_KEY, the config',
    'file, then .headstart/local.json of a local system (npm start) in this folder or above.',
    "Run 'headstart <command> --help' for a command's options.",
    '',
  ].join('\n');
}
