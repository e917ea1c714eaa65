// Measured figures, quoted where people read them. The benchmarks write every figure they
// produce into one committed file (bench/results.json) with the command and the date; the lesson
// quotes them as `{{figure:key}}` (rendered when the edge serves it) and the README and docs/ pages between
// `<!-- figure:key -->…<!-- /figure -->` markers (rewritten by `npm run figures`), so a figure
// is never typed twice and never goes stale unnoticed.
import { z } from 'zod';

/** A figure's key: dotted lowercase words, such as `train.hymenoptera.val_acc`. */
export const FigureKeySchema = z
  .string()
  .regex(/^[a-z0-9_]+(\.[a-z0-9_-]+)+$/, 'dotted lowercase words, e.g. train.hymenoptera.val_acc');

export const FigureSchema = z
  .object({
    value: z.number(),
    /** How the figure is written where it is quoted, e.g. "7.6 s" or "0.922". */
    display: z.string().min(1).max(40),
    /** What was measured, in a few words. */
    label: z.string().min(1).max(200),
    /** The command that measured it (or, for a figure measured outside the project, its source). */
    command: z.string().min(1).max(300),
    /** When it was measured (YYYY-MM-DD). */
    date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  })
  .strict();
export type Figure = z.infer<typeof FigureSchema>;

export const ResultsSchema = z
  .object({
    $comment: z.string().optional(),
    figures: z.record(FigureKeySchema, FigureSchema),
  })
  .strict();
export type Results = z.infer<typeof ResultsSchema>;

/** `{{figure:key}}` in lesson markdown. */
export const LESSON_FIGURE = /\{\{figure:([a-z0-9_.-]+)\}\}/g;
/** `<!-- figure:key -->value<!-- /figure -->` in the README and the docs/ pages. */
export const README_FIGURE = /<!-- figure:([a-z0-9_.-]+) -->(.*?)<!-- \/figure -->/g;

/** Every figure key a text quotes (lesson or README form). */
export function quotedFigures(text: string): string[] {
  return [...text.matchAll(LESSON_FIGURE), ...text.matchAll(README_FIGURE)].map((m) => m[1]!);
}

const escape = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/**
 * Lesson markdown with each `{{figure:key}}` replaced by its value, in a span whose title says
 * how and when it was measured. An unknown key throws: a lesson never shows a placeholder.
 *
 * @example
 * renderFigures('val acc {{figure:train.hymenoptera.val_acc}}', results);
 * // 'val acc <span class="figure" title="npm run bench:train, 2026-12-07">0.922</span>'
 */
export function renderFigures(markdown: string, results: Results): string {
  return markdown.replace(LESSON_FIGURE, (_match, key: string) => {
    const figure = results.figures[key];
    if (!figure)
      throw new Error(`the lesson quotes figure "${key}", which bench/results.json lacks`);
    return `<span class="figure" title="${escape(`${figure.label}: ${figure.command}, ${figure.date}`)}">${escape(figure.display)}</span>`;
  });
}

/**
 * The README with every marked figure set to its current value.
 *
 * @example
 * updateReadmeFigures('<!-- figure:edge.p50 -->20 ms<!-- /figure -->', results);
 */
export function updateReadmeFigures(readme: string, results: Results): string {
  return readme.replace(README_FIGURE, (_match, key: string) => {
    const figure = results.figures[key];
    if (!figure)
      throw new Error(`the README quotes figure "${key}", which bench/results.json lacks`);
    return `<!-- figure:${key} -->${figure.display}<!-- /figure -->`;
  });
}
