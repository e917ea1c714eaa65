// Where the CLI writes: stdout for results, stderr for progress and errors; ANSI styling only
// on a terminal and never when NO_COLOR is set.
import { stripVTControlCharacters } from 'node:util';

/** The two output streams and what they are connected to. */
export interface Terminal {
  /** Results: reports, tables, ids. */
  readonly out: (text: string) => void;
  /** Progress, notes and errors. */
  readonly err: (text: string) => void;
  /** Style stdout text (bold headers, statuses) — false when piped or NO_COLOR is set. */
  readonly color: boolean;
  /** Whether stderr is a terminal: progress bars redraw in place only then. */
  readonly interactive: boolean;
  /** Width of the terminal (80 when unknown). */
  readonly columns: number;
  /** Height of the terminal (24 when unknown): status lines never scroll it. */
  readonly rows: number;
}

/** The process's terminal, honouring NO_COLOR (any non-empty value) and non-TTY outputs. */
export function processTerminal(env: NodeJS.ProcessEnv = process.env): Terminal {
  const noColor = (env.NO_COLOR ?? '') !== '';
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    color: !noColor && process.stdout.isTTY === true,
    interactive: process.stderr.isTTY === true && env.TERM !== 'dumb',
    columns: process.stderr.columns || 80,
    rows: process.stderr.rows || 24,
  };
}

const CODES = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], yellow: [33, 39] };
export type Style = keyof typeof CODES;

/**
 * `text` with an ANSI style when `enabled`, unchanged otherwise.
 *
 * @example
 * paint(term.color, 'green', 'succeeded');
 */
export function paint(enabled: boolean, style: Style, text: string): string {
  if (!enabled) return text;
  const [on, off] = CODES[style];
  return `\x1b[${on}m${text}\x1b[${off}m`;
}

/** Text without ANSI escapes (for measuring widths). */
export const stripAnsi = (text: string): string => stripVTControlCharacters(text);
