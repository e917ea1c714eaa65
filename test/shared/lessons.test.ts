// The lesson parser on inline lessons: frontmatter validation, quiz extraction, the public quiz,
// grading and code blocks. Runs in Node and in workerd, so it reads no files.
import { describe, expect, it } from 'vitest';
import {
  LessonError,
  codeBlocks,
  gradeQuiz,
  parseLesson,
  publicQuiz,
  type Quiz,
} from '../../src/shared/lessons.js';

const FRONTMATTER: Record<string, string> = {
  id: 'cv-example',
  title: 'An example lesson',
  type: 'lesson',
  duration: '25',
  order: '2',
  section: 'deep-learning',
  previous: 'cv-before',
  next: 'cv-after',
  widgets: '[headstart-quiz, headstart-classifier]',
  summary: 'A short lesson used by the parser tests.',
};

const QUIZ = {
  questions: [
    {
      id: 'q1',
      prompt: 'Which layers are the most general?',
      options: [
        { id: 'a', text: 'The early ones', correct: true, explanation: 'Edges transfer.' },
        { id: 'b', text: 'The late ones', correct: false, explanation: 'They are specific.' },
      ],
    },
    {
      id: 'q2',
      prompt: 'What does StepLR(7, 0.1) do?',
      options: [
        { id: 'a', text: 'Adds 0.1', correct: false, explanation: 'It multiplies.' },
        { id: 'b', text: 'Multiplies by 0.1 every 7 epochs', correct: true, explanation: 'Yes.' },
        { id: 'c', text: 'Nothing', correct: false, explanation: 'It changes the rate.' },
      ],
    },
  ],
};

function lesson(
  fields: Record<string, string | undefined> = {},
  quiz: unknown = QUIZ,
  extra = '',
): string {
  const merged = { ...FRONTMATTER, ...fields };
  const head = Object.entries(merged)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([key, value]) => `${key}: ${value}`);
  const quizBlock = quiz === null ? [] : ['```quiz', JSON.stringify(quiz, null, 2), '```'];
  return [
    '---',
    ...head,
    '---',
    '',
    '# Example',
    '',
    '```python',
    'print("hello")',
    '```',
    '',
    '<headstart-quiz></headstart-quiz>',
    '',
    ...quizBlock,
    '',
    'After the quiz.',
    extra,
  ].join('\n');
}

/** The LessonError a call throws (fails the test when it throws something else or nothing). */
function lessonError(run: () => unknown): LessonError {
  try {
    run();
  } catch (err) {
    if (err instanceof LessonError) return err;
    throw err;
  }
  throw new Error('expected a LessonError');
}

const parsedQuiz = (): Quiz => parseLesson(lesson()).quiz!;

describe('parseLesson: frontmatter', () => {
  it('parses a good lesson: numbers as numbers, lists as arrays, quiz taken out of the body', () => {
    const { frontmatter, body, quiz } = parseLesson(lesson());
    expect(frontmatter).toEqual({
      id: 'cv-example',
      title: 'An example lesson',
      type: 'lesson',
      duration: 25,
      order: 2,
      section: 'deep-learning',
      previous: 'cv-before',
      next: 'cv-after',
      widgets: ['headstart-quiz', 'headstart-classifier'],
      summary: 'A short lesson used by the parser tests.',
    });
    expect(quiz).toEqual(QUIZ);
    expect(body).not.toContain('```quiz');
    expect(body).not.toContain('"questions"');
    expect(body).not.toContain('summary:');
    expect(body).toContain('<headstart-quiz></headstart-quiz>');
    expect(body).toContain('After the quiz.');
    expect(body).toContain('```python\nprint("hello")\n```');
  });

  it('accepts a lesson without a quiz, optional links, CRLF line ends, comments and quotes', () => {
    const source = lesson(
      { previous: undefined, next: undefined, title: '"Quoted: with a colon"', widgets: '[]' },
      null,
    )
      .replace('---\n', '---\n# a comment line\n')
      .replace(/\n/g, '\r\n');
    const { frontmatter, quiz, body } = parseLesson(source);
    expect(quiz).toBeNull();
    expect(frontmatter.previous).toBeUndefined();
    expect(frontmatter.next).toBeUndefined();
    expect(frontmatter.title).toBe('Quoted: with a colon');
    expect(frontmatter.widgets).toEqual([]);
    expect(body).not.toContain('\r');
  });

  it.each([
    ['id', { id: 'Not A Slug' }],
    ['title', { title: '' }],
    ['type', { type: 'article' }],
    ['duration', { duration: '50 mins' }],
    ['duration', { duration: '0' }],
    ['duration', { duration: '601' }],
    ['duration', { duration: '2.5' }],
    ['order', { order: '-1' }],
    ['section', { section: 'Deep Learning' }],
    ['previous', { previous: 'cv_cnns' }],
    ['next', { next: 'Next Lesson' }],
    ['widgets.1', { widgets: '[headstart-quiz, headstart-chat]' }],
    ['widgets', { widgets: '[headstart-quiz, headstart-quiz]' }],
    ['widgets', { widgets: 'headstart-quiz' }],
    ['summary', { summary: undefined }],
    ['prevLessonId', { prevLessonId: 'cv-cnns' }],
  ])('names frontmatter.%s when it is wrong', (field, fields) => {
    const err = lessonError(() => parseLesson(lesson(fields)));
    expect(err.field).toBe(`frontmatter.${field}`);
    expect(err.message).toContain(`frontmatter.${field}`);
  });

  it('refuses a duplicated key, a line that is not key: value, and missing fences', () => {
    expect(
      lessonError(() => parseLesson(lesson({}, QUIZ).replace('id:', 'id: x\nid:'))).field,
    ).toBe('frontmatter.id');
    const noColon = lessonError(() => parseLesson(lesson().replace('type: lesson', 'type lesson')));
    expect(noColon.field).toBe('frontmatter');
    expect(noColon.message).toContain('line 4');
    expect(lessonError(() => parseLesson('# No frontmatter')).field).toBe('frontmatter');
    expect(lessonError(() => parseLesson('---\nid: x\n# never closed')).field).toBe('frontmatter');
  });
});

describe('parseLesson: quiz', () => {
  const withOptions = (options: unknown[]) => ({
    questions: [{ id: 'q1', prompt: 'Pick one', options }],
  });
  const option = (id: string, correct: boolean) => ({
    id,
    text: `option ${id}`,
    correct,
    explanation: `why ${id}`,
  });

  it('refuses a question with two correct options, or none', () => {
    const two = lessonError(() =>
      parseLesson(lesson({}, withOptions([option('a', true), option('b', true)]))),
    );
    expect(two.field).toBe('quiz.questions.0.options');
    expect(two.message).toContain('exactly one option must be correct, found 2');
    const none = lessonError(() =>
      parseLesson(lesson({}, withOptions([option('a', false), option('b', false)]))),
    );
    expect(none.message).toContain('found 0');
  });

  it('names the field of a malformed question or option', () => {
    const noExplanation = { id: 'b', text: 'B', correct: false };
    expect(
      lessonError(() => parseLesson(lesson({}, withOptions([option('a', true), noExplanation]))))
        .field,
    ).toBe('quiz.questions.0.options.1.explanation');
    expect(lessonError(() => parseLesson(lesson({}, withOptions([option('a', true)])))).field).toBe(
      'quiz.questions.0.options',
    );
    expect(
      lessonError(() =>
        parseLesson(lesson({}, withOptions([option('a', true), option('a', false)]))),
      ).message,
    ).toContain('option id "a" repeats');
    const repeated = { questions: [QUIZ.questions[0], QUIZ.questions[0]] };
    expect(lessonError(() => parseLesson(lesson({}, repeated))).field).toBe('quiz.questions');
    expect(lessonError(() => parseLesson(lesson({}, { questions: [] }))).field).toBe(
      'quiz.questions',
    );
    expect(lessonError(() => parseLesson(lesson({}, { ...QUIZ, answers: {} }))).field).toBe(
      'quiz.answers',
    );
  });

  it('refuses invalid JSON, two quiz blocks and an unclosed quiz block', () => {
    const badJson = lessonError(() => parseLesson(lesson({}, null, '```quiz\n{ nope }\n```')));
    expect(badJson.field).toBe('quiz');
    expect(badJson.message).toContain('not valid JSON');
    const twice = lessonError(() =>
      parseLesson(lesson({}, QUIZ, `\`\`\`quiz\n${JSON.stringify(QUIZ)}\n\`\`\``)),
    );
    expect(twice.message).toContain('found 2');
    expect(lessonError(() => parseLesson(lesson({}, null, '```quiz\n{}'))).message).toContain(
      'not closed',
    );
  });

  it('ignores a quiz fence shown inside a longer fence', () => {
    const shown = ['````markdown', '```quiz', '{"not": "parsed"}', '```', '````'].join('\n');
    const { quiz, body } = parseLesson(lesson({}, null, shown));
    expect(quiz).toBeNull();
    expect(body).toContain(shown);
  });
});

describe('publicQuiz', () => {
  it('keeps ids, prompts and option texts, and nothing that gives the answer away', () => {
    const quiz = parsedQuiz();
    const shown = publicQuiz(quiz);
    const json = JSON.stringify(shown);
    expect(json).not.toMatch(/"correct"|"explanation"/);
    for (const q of quiz.questions)
      for (const o of q.options) expect(json).not.toContain(o.explanation);
    expect(shown).toEqual({
      questions: QUIZ.questions.map((q) => ({
        id: q.id,
        prompt: q.prompt,
        options: q.options.map((o) => ({ id: o.id, text: o.text })),
      })),
    });
  });
});

describe('gradeQuiz', () => {
  it('scores answers and explains both the chosen and the correct option', () => {
    const grade = gradeQuiz(parsedQuiz(), { q1: 'a', q2: 'c' });
    expect(grade.score).toBe(1);
    expect(grade.total).toBe(2);
    expect(grade.results).toEqual([
      {
        questionId: 'q1',
        chosen: 'a',
        correct: true,
        correctOptionId: 'a',
        explanation: 'Edges transfer.',
        correctExplanation: 'Edges transfer.',
      },
      {
        questionId: 'q2',
        chosen: 'c',
        correct: false,
        correctOptionId: 'b',
        explanation: 'It changes the rate.',
        correctExplanation: 'Yes.',
      },
    ]);
    expect(gradeQuiz(parsedQuiz(), { q1: 'a', q2: 'b' }).score).toBe(2);
  });

  it('counts unanswered questions as wrong with chosen null', () => {
    const grade = gradeQuiz(parsedQuiz(), { q2: 'b' });
    expect(grade.score).toBe(1);
    expect(grade.results[0]).toEqual({
      questionId: 'q1',
      chosen: null,
      correct: false,
      correctOptionId: 'a',
      explanation: null,
      correctExplanation: 'Edges transfer.',
    });
    expect(gradeQuiz(parsedQuiz(), {}).score).toBe(0);
  });

  it('refuses unknown question and option ids, naming answers.<id>', () => {
    const quiz = parsedQuiz();
    const unknownQuestion = lessonError(() => gradeQuiz(quiz, { q1: 'a', q3: 'a' }));
    expect(unknownQuestion.field).toBe('answers.q3');
    const unknownOption = lessonError(() => gradeQuiz(quiz, { q2: 'z' }));
    expect(unknownOption.field).toBe('answers.q2');
    expect(unknownOption.message).toContain('options: a, b, c');
    // Keys that exist on every object must not pass for questions.
    const sneaky = JSON.parse('{"__proto__": "a", "toString": "a"}') as Record<string, string>;
    expect(lessonError(() => gradeQuiz(quiz, sneaky)).field).toBe('answers.__proto__');
    expect(lessonError(() => gradeQuiz(quiz, { toString: 'a' })).field).toBe('answers.toString');
  });
});

describe('codeBlocks', () => {
  it('lists every fenced block with its language, code and line', () => {
    const text = [
      'Intro',
      '```python',
      'import torch',
      '',
      'print(torch.__version__)',
      '```',
      '~~~bash title="ignored"',
      'curl "$HEADSTART_URL/healthz"',
      '~~~',
      '  ```',
      '  indented',
      '    more',
      '  ```',
      '````md',
      '```ts',
      'const x = 1;',
      '```',
      '````',
      '```quiz',
      '{}',
    ].join('\n');
    expect(codeBlocks(text)).toEqual([
      { lang: 'python', code: 'import torch\n\nprint(torch.__version__)', line: 2 },
      { lang: 'bash', code: 'curl "$HEADSTART_URL/healthz"', line: 7 },
      { lang: '', code: 'indented\n  more', line: 10 },
      { lang: 'md', code: '```ts\nconst x = 1;\n```', line: 14 },
      { lang: 'quiz', code: '{}', line: 19 },
    ]);
    expect(codeBlocks('no code here')).toEqual([]);
  });
});
