// Progress on stderr: bars redrawn in place on a terminal; when stderr is not a terminal, only
// the plain single-line notes a command chooses to print (never escape codes).
import { stripAnsi, type Terminal } from './terminal.js';

const REDRAW_MS = 80;

/**
 * A text bar for `fraction` (clamped to 0–1).
 *
 * @example
 * bar(0.5, 10); // '█████░░░░░'
 */
export function bar(fraction: number, width = 24): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const full = Math.round(f * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

/**
 * A block of status lines at the bottom of stderr. `set` redraws them (throttled) on a
 * terminal and does nothing otherwise; `note` prints a line above them on a terminal, or as a
 * plain progress line on stderr when it is not one; `print` writes results to stdout without
 * tearing the bars.
 *
 * @example
 * const status = new StatusLines(term);
 * status.set([`uploading ${bar(0.4)} 40%`]);
 * status.done();
 */
export class StatusLines {
  private drawn = 0;
  private lines: string[] = [];
  private lastDraw = 0;

  constructor(private readonly term: Terminal) {}

  /** Replaces the status lines (redrawn at most every 80 ms unless `force`). */
  set(lines: readonly string[], force = false): void {
    this.lines = lines.map((l) => this.fit(l));
    if (!this.term.interactive) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    this.term.err(this.clear() + this.lines.map((l) => `${l}\n`).join(''));
    this.drawn = this.lines.length;
  }

  /** A line for stderr: above the bars on a terminal, a plain progress line otherwise. */
  note(line: string): void {
    this.around(() => this.term.err(`${line}\n`));
  }

  /** Results for stdout, written without breaking the bars. */
  print(text: string): void {
    this.around(() => this.term.out(text.endsWith('\n') ? text : `${text}\n`));
  }

  /** Removes the bars (call before printing the final result). */
  done(): void {
    if (this.term.interactive && this.drawn > 0) this.term.err(this.clear());
    this.drawn = 0;
    this.lines = [];
  }

  private around(write: () => void): void {
    if (!this.term.interactive || this.drawn === 0) return write();
    this.term.err(this.clear());
    this.drawn = 0;
    write();
    this.set(this.lines, true);
  }

  private clear(): string {
    return this.drawn > 0 ? `\x1b[${this.drawn}A\x1b[0J` : '';
  }

  private fit(line: string): string {
    const max = Math.max(20, this.term.columns - 1);
    return stripAnsi(line).length > max ? `${stripAnsi(line).slice(0, max - 1)}…` : line;
  }
}
