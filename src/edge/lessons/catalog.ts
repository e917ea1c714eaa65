// The lessons this edge serves: markdown files from lessons/, bundled as text, parsed and rendered
// once per isolate. Adding a lesson = adding its file here (a test checks none is forgotten).
import transferLearning from '../../../lessons/cv-transfer-learning.md';
import resultsFile from '../../../bench/results.json';
import { ResultsSchema, renderFigures, type Results } from '../../shared/figures.js';
import {
  parseLesson,
  publicQuiz,
  type LessonFrontmatter,
  type PublicQuiz,
  type Quiz,
} from '../../shared/lessons.js';
import { renderLessonHtml } from './render.js';

/** Every lesson source, by file name. */
export const LESSON_SOURCES: Readonly<Record<string, string>> = {
  'cv-transfer-learning.md': transferLearning,
};

export interface Lesson {
  readonly frontmatter: LessonFrontmatter;
  readonly html: string;
  /** The full quiz with its answer key: for grading on the server only. */
  readonly quiz: Quiz | null;
  readonly publicQuiz: PublicQuiz | null;
}

let catalog: Map<string, Lesson> | undefined;
let results: Results | undefined;

/** The measured figures (bench/results.json, bundled), parsed once per isolate. */
export function benchResults(): Results {
  return (results ??= ResultsSchema.parse(resultsFile));
}

/** All lessons by id, sorted by section then order. */
export function lessons(): Map<string, Lesson> {
  if (!catalog) {
    // Measured figures are quoted from the benchmarks' results file, never typed into a lesson.
    const results = benchResults();
    const parsed = Object.values(LESSON_SOURCES).map((source) => {
      const { frontmatter, body: withPlaceholders, quiz } = parseLesson(source);
      const body = renderFigures(withPlaceholders, results);
      const shown = quiz ? publicQuiz(quiz) : null;
      return {
        frontmatter,
        quiz,
        publicQuiz: shown,
        html: renderLessonHtml(body, { lessonId: frontmatter.id, quiz: shown }),
      };
    });
    parsed.sort(
      (a, b) =>
        a.frontmatter.section.localeCompare(b.frontmatter.section) ||
        a.frontmatter.order - b.frontmatter.order,
    );
    catalog = new Map(parsed.map((l) => [l.frontmatter.id, l]));
  }
  return catalog;
}

/** A neighbouring lesson: a link when it exists, "coming soon" when it does not yet. */
export interface LessonLink {
  readonly id: string;
  readonly title: string | null;
  readonly available: boolean;
  readonly url: string | null;
}

export function lessonLink(id: string | undefined): LessonLink | null {
  if (!id) return null;
  const lesson = lessons().get(id);
  return lesson
    ? { id, title: lesson.frontmatter.title, available: true, url: `/lessons/${id}` }
    : { id, title: null, available: false, url: null };
}
