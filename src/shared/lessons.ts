// Lesson files: the frontmatter contract, the knowledge-check quiz (answers stay on the server),
// grading, and the fenced code blocks that content tests compile and check.
import { z } from 'zod';

/** The interactive elements a lesson may place in its body. */
export const WIDGET_NAMES = [
  'headstart-strategies',
  'headstart-classifier',
  'headstart-trainer',
  'headstart-quiz',
] as const;
export type WidgetName = (typeof WIDGET_NAMES)[number];

const SlugSchema = z
  .string()
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'a slug: lowercase letters and digits joined by dashes');

export const LessonFrontmatterSchema = z
  .object({
    id: SlugSchema,
    title: z.string().min(1).max(200),
    type: z.enum(['lesson']),
    /** Reading and doing time, in minutes. */
    duration: z.number().int().min(1).max(600),
    /** Position within the section. */
    order: z.number().int().min(0),
    section: SlugSchema,
    previous: SlugSchema.optional(),
    next: SlugSchema.optional(),
    widgets: z
      .array(z.enum(WIDGET_NAMES))
      .refine((w) => new Set(w).size === w.length, 'each widget is listed once'),
    summary: z.string().min(1).max(400),
  })
  .strict();
export type LessonFrontmatter = z.infer<typeof LessonFrontmatterSchema>;

const OptionSchema = z
  .object({
    id: z.string().min(1).max(40),
    text: z.string().min(1),
    correct: z.boolean(),
    /** Why this option is right or wrong; shown after answering. */
    explanation: z.string().min(1),
  })
  .strict();

const QuestionSchema = z
  .object({
    id: z.string().min(1).max(40),
    prompt: z.string().min(1),
    options: z.array(OptionSchema).min(2).max(6),
  })
  .strict()
  .superRefine((question, ctx) => {
    const correct = question.options.filter((o) => o.correct).length;
    if (correct !== 1)
      ctx.addIssue({
        code: 'custom',
        path: ['options'],
        message: `exactly one option must be correct, found ${correct}`,
      });
    duplicates(question.options.map((o) => o.id)).forEach((id) =>
      ctx.addIssue({ code: 'custom', path: ['options'], message: `option id "${id}" repeats` }),
    );
  });

export const QuizSchema = z
  .object({ questions: z.array(QuestionSchema).min(1) })
  .strict()
  .superRefine((quiz, ctx) => {
    duplicates(quiz.questions.map((q) => q.id)).forEach((id) =>
      ctx.addIssue({ code: 'custom', path: ['questions'], message: `question id "${id}" repeats` }),
    );
  });
export type Quiz = z.infer<typeof QuizSchema>;

/** What may reach a browser: no `correct` flags, no explanations. */
export interface PublicQuiz {
  readonly questions: readonly {
    readonly id: string;
    readonly prompt: string;
    readonly options: readonly { readonly id: string; readonly text: string }[];
  }[];
}

export interface QuizResult {
  readonly questionId: string;
  /** The chosen option id, or null when the question was not answered. */
  readonly chosen: string | null;
  readonly correct: boolean;
  readonly correctOptionId: string;
  /** The chosen option's explanation, or null when unanswered. */
  readonly explanation: string | null;
  readonly correctExplanation: string;
}

export interface QuizGrade {
  readonly score: number;
  readonly total: number;
  readonly results: readonly QuizResult[];
}

export interface CodeBlock {
  /** First word of the info string (`python`, `bash`, …), or '' when there is none. */
  readonly lang: string;
  readonly code: string;
  /** 1-based line of the opening fence in the text that was scanned. */
  readonly line: number;
}

/** A lesson file or a quiz answer is malformed; `field` names the part at fault. */
export class LessonError extends Error {
  override name = 'LessonError';
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`);
  }
}

function duplicates(ids: readonly string[]): string[] {
  return [...new Set(ids.filter((id, i) => ids.indexOf(id) !== i))];
}

/** The first zod issue as a LessonError naming the field under `prefix`. */
function firstIssue(prefix: string, error: z.ZodError): LessonError {
  const issue = error.issues[0]!;
  const path = [...issue.path.map(String)];
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) path.push(issue.keys[0]);
  const detail = issue.code === 'unrecognized_keys' ? 'unknown field' : issue.message;
  return new LessonError([prefix, ...path].join('.'), detail);
}

function scalar(raw: string): string | number {
  const quoted = /^(["'])(.*)\1$/.exec(raw);
  if (quoted) return quoted[2]!;
  return /^-?\d+(?:\.\d+)?$/.test(raw) ? Number(raw) : raw;
}

/** `key: value` lines; `[a, b]` is a list; unquoted numbers are numbers; `#` starts a comment line. */
function parseFrontmatter(lines: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  lines.forEach((text, i) => {
    const line = text.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^([A-Za-z][\w-]*)\s*:\s*(.*)$/.exec(line);
    if (!match)
      throw new LessonError(
        'frontmatter',
        `line ${i + 2} is not "key: value": ${JSON.stringify(line)}`,
      );
    const key = match[1]!;
    const value = match[2]!;
    if (Object.hasOwn(out, key)) throw new LessonError(`frontmatter.${key}`, 'appears twice');
    const list = /^\[(.*)\]$/.exec(value);
    out[key] = list
      ? list[1]!.trim() === ''
        ? []
        : list[1]!.split(',').map((item) => scalar(item.trim()))
      : scalar(value);
  });
  return out;
}

interface Fence extends CodeBlock {
  /** 0-based index of the opening and closing fence lines (closing = lines.length if unclosed). */
  readonly start: number;
  readonly end: number;
}

function scanFences(lines: readonly string[]): Fence[] {
  const fences: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^( {0,3})(`{3,}|~{3,})\s*([^`]*)$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const marker = open[2]!;
    const close = new RegExp(`^ {0,3}${marker[0] === '`' ? '`' : '~'}{${marker.length},}\\s*$`);
    let end = i + 1;
    while (end < lines.length && !close.test(lines[end]!)) end++;
    // Content lines lose up to the opening fence's indentation, as in CommonMark.
    const strip = (l: string) => l.replace(new RegExp(`^ {0,${indent}}`), '');
    fences.push({
      lang: open[3]!.trim().split(/\s+/)[0] ?? '',
      code: lines
        .slice(i + 1, end)
        .map(strip)
        .join('\n'),
      line: i + 1,
      start: i,
      end,
    });
    i = end;
  }
  return fences;
}

/**
 * Every fenced code block (``` or ~~~) in a markdown text, in order.
 *
 * @example
 * codeBlocks('Intro\n```python\nprint(1)\n```\n'); // [{ lang: 'python', code: 'print(1)', line: 2 }]
 */
export function codeBlocks(body: string): CodeBlock[] {
  return scanFences(body.replace(/\r\n?/g, '\n').split('\n')).map(({ lang, code, line }) => ({
    lang,
    code,
    line,
  }));
}

/**
 * Splits a lesson file into validated frontmatter, its markdown body and its quiz. The body is
 * what follows the closing `---`, with the ```quiz block removed entirely (fence lines included):
 * the `<headstart-quiz>` element in the body marks where the quiz is shown. Throws LessonError
 * naming the field (`frontmatter.duration`, `quiz.questions.2.options`, …).
 *
 * @example
 * const { frontmatter, body, quiz } = parseLesson(await file.text());
 * frontmatter.next; // 'cv-object-detection'
 */
export function parseLesson(source: string): {
  frontmatter: LessonFrontmatter;
  body: string;
  quiz: Quiz | null;
} {
  const lines = source
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n')
    .split('\n');
  if (lines[0]?.trim() !== '---')
    throw new LessonError('frontmatter', 'a lesson starts with a "---" line');
  const close = lines.findIndex((l, i) => i > 0 && l.trim() === '---');
  if (close < 0) throw new LessonError('frontmatter', 'no closing "---" line');
  const parsed = LessonFrontmatterSchema.safeParse(parseFrontmatter(lines.slice(1, close)));
  if (!parsed.success) throw firstIssue('frontmatter', parsed.error);

  const bodyLines = lines.slice(close + 1);
  const quizzes = scanFences(bodyLines).filter((f) => f.lang === 'quiz');
  if (quizzes.length > 1)
    throw new LessonError('quiz', `one quiz block per lesson, found ${quizzes.length}`);
  const block = quizzes[0];
  if (!block) return { frontmatter: parsed.data, body: bodyLines.join('\n'), quiz: null };
  if (block.end >= bodyLines.length)
    throw new LessonError('quiz', `the quiz block opened on body line ${block.line} is not closed`);
  let json: unknown;
  try {
    json = JSON.parse(block.code);
  } catch (err) {
    throw new LessonError(
      'quiz',
      `not valid JSON (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  const quiz = QuizSchema.safeParse(json);
  if (!quiz.success) throw firstIssue('quiz', quiz.error);
  const body = [...bodyLines.slice(0, block.start), ...bodyLines.slice(block.end + 1)].join('\n');
  return { frontmatter: parsed.data, body, quiz: quiz.data };
}

/**
 * The quiz as a browser may see it: prompts and option texts only.
 *
 * @example
 * publicQuiz(quiz).questions[0]!.options[0]; // { id: 'a', text: 'Feature extraction' }
 */
export function publicQuiz(quiz: Quiz): PublicQuiz {
  return {
    questions: quiz.questions.map((q) => ({
      id: q.id,
      prompt: q.prompt,
      options: q.options.map((o) => ({ id: o.id, text: o.text })),
    })),
  };
}

/**
 * Grades answers (question id → option id). Unanswered questions count as wrong with `chosen`
 * null; an unknown question or option id throws LessonError naming `answers.<questionId>`.
 *
 * @example
 * gradeQuiz(quiz, { q1: 'b', q2: 'a' }); // { score: 1, total: 6, results: [{ questionId: 'q1', chosen: 'b', correct: true, … }, …] }
 */
export function gradeQuiz(quiz: Quiz, answers: Readonly<Record<string, string>>): QuizGrade {
  for (const [questionId, optionId] of Object.entries(answers)) {
    const question = quiz.questions.find((q) => q.id === questionId);
    if (!question) throw new LessonError(`answers.${questionId}`, 'no such question');
    if (typeof optionId !== 'string' || !question.options.some((o) => o.id === optionId))
      throw new LessonError(
        `answers.${questionId}`,
        `no option ${JSON.stringify(optionId)} (options: ${question.options.map((o) => o.id).join(', ')})`,
      );
  }
  const results = quiz.questions.map((question): QuizResult => {
    const right = question.options.find((o) => o.correct)!;
    const chosenId = Object.hasOwn(answers, question.id) ? answers[question.id]! : null;
    const chosen = question.options.find((o) => o.id === chosenId);
    return {
      questionId: question.id,
      chosen: chosen?.id ?? null,
      correct: chosen === right,
      correctOptionId: right.id,
      explanation: chosen?.explanation ?? null,
      correctExplanation: right.explanation,
    };
  });
  return {
    score: results.filter((r) => r.correct).length,
    total: results.length,
    results,
  };
}
