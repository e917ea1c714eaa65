// Lessons: the catalogue and each lesson as JSON (metadata, rendered HTML, widgets, the quiz
// without its answers), server-side quiz grading, and the readable page.
import { z } from 'zod';
import { Hono } from 'hono';
import { LessonError, gradeQuiz } from '../../shared/lessons.js';
import type { AppEnv } from '../env.js';
import { ApiError } from '../errors.js';
import { readJson } from '../http/json.js';
import { parseInput } from '../http/validate.js';
import { lessonLink, lessons, type Lesson } from '../lessons/catalog.js';
import { renderLessonPage } from '../lessons/page.js';
import { PAGE_SECURITY_HEADERS } from './embed.js';

const LessonId = z
  .string()
  .regex(/^[a-z0-9]+(?:-[a-z0-9]+)*$/, 'a lesson id such as cv-transfer-learning');

/** Answers: question id → option id, at most 100 of them. */
const AnswersBody = z.object({
  answers: z
    .record(z.string().max(40), z.string().max(40))
    .refine((a) => Object.keys(a).length <= 100, 'at most 100 answers'),
});

function lessonOf(id: string): Lesson {
  const lesson = lessons().get(parseInput(LessonId, id, 'path.id'));
  if (!lesson)
    throw new ApiError('not_found', `no lesson "${id}"; GET /v1/lessons lists them`, 'path.id');
  return lesson;
}

function summary(lesson: Lesson) {
  const fm = lesson.frontmatter;
  return {
    ...fm,
    previous: lessonLink(fm.previous),
    next: lessonLink(fm.next),
    url: `/lessons/${fm.id}`,
    questions: lesson.publicQuiz?.questions.length ?? 0,
  };
}

export const lessonsApi = new Hono<AppEnv>()
  .get('/', (c) => c.json({ lessons: [...lessons().values()].map(summary) }))
  .get('/:id', (c) => {
    const lesson = lessonOf(c.req.param('id'));
    return c.json({ ...summary(lesson), html: lesson.html, quiz: lesson.publicQuiz });
  })
  .post('/:id/quiz', async (c) => {
    const lesson = lessonOf(c.req.param('id'));
    if (!lesson.quiz)
      throw new ApiError('not_found', `lesson ${lesson.frontmatter.id} has no quiz`, 'path.id');
    const { answers } = parseInput(AnswersBody, await readJson(c.req.raw), 'body');
    let grade;
    try {
      grade = gradeQuiz(lesson.quiz, answers);
    } catch (err) {
      if (err instanceof LessonError)
        throw new ApiError('invalid_request', err.message, `body.${err.field}`);
      throw err;
    }
    // The answer key stays here: whether each answer is right, and why the chosen option is
    // right or wrong — never which option is correct.
    return c.json({
      lesson: lesson.frontmatter.id,
      score: grade.score,
      total: grade.total,
      results: grade.results.map((r) => ({
        questionId: r.questionId,
        chosen: r.chosen,
        correct: r.correct,
        explanation: r.explanation,
      })),
    });
  });

export const lessonPages = new Hono<AppEnv>().get('/:id', (c) => {
  const lesson = lessonOf(c.req.param('id'));
  return c.html(renderLessonPage(lesson), 200, PAGE_SECURITY_HEADERS.lesson);
});
