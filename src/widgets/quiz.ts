// <headstart-quiz>: a lesson's knowledge check. The questions come without answers; the server
// grades and explains. Until the interactive version is ready (or if it cannot load), the
// server-rendered questions in the light DOM show through a <slot>.
import { apiBase, errorMessage, isAbort, requestJson } from './client.js';
import { LoadingElement, emit, h } from './dom.js';
import { type Grade, type PublicQuestion, parseGrade, parseLessonQuiz } from './responses.js';

interface RenderedQuestion {
  readonly question: PublicQuestion;
  /** The radio group's name inside this shadow root. */
  readonly name: string;
  readonly verdict: HTMLParagraphElement;
}

/**
 * `<headstart-quiz>` — GET /v1/lessons/{lesson}, answer, POST /v1/lessons/{lesson}/quiz.
 *
 * Attributes: `lesson` (the lesson id, required), `api` (API base; default: the script's origin).
 * Events: `headstart:graded` (detail: `{ lesson, score, total, results }`).
 *
 * @example
 * <headstart-quiz lesson="cv-transfer-learning"><ol>…questions as plain HTML…</ol></headstart-quiz>
 */
export class HeadstartQuiz extends LoadingElement {
  static readonly observedAttributes = ['lesson', 'api'];
  private readonly fallback = h('slot');
  private readonly content = h('div');

  constructor() {
    super();
    this.root.append(this.content, this.fallback, this.alertBox);
  }

  protected async load(signal: AbortSignal): Promise<void> {
    this.root.insertBefore(this.fallback, this.alertBox);
    const lesson = this.attr('lesson');
    if (!lesson) {
      this.content.replaceChildren();
      this.showError('This quiz cannot load: the element has no lesson attribute.');
      return;
    }
    this.content.replaceChildren(h('p', { class: 'muted' }, 'Loading the quiz…'));
    try {
      const body = await requestJson(apiBase(this), `/v1/lessons/${encodeURIComponent(lesson)}`, {
        signal,
      });
      const questions = parseLessonQuiz(body);
      if (questions) {
        this.render(lesson, questions);
      } else {
        const hasFallback = this.childElementCount > 0;
        this.content.replaceChildren(
          hasFallback ? '' : h('p', { class: 'muted' }, 'This lesson has no quiz.'),
        );
      }
    } catch (err) {
      if (isAbort(err)) return;
      this.content.replaceChildren();
      this.showError(errorMessage(err));
    }
  }

  private render(lesson: string, questions: readonly PublicQuestion[]): void {
    const rendered: RenderedQuestion[] = questions.map((question, i) => ({
      question,
      name: `q${i}`,
      verdict: h('p', { class: 'verdict', hidden: true }),
    }));
    const submit = h('button', { type: 'submit' }, 'Check answers');
    const score = h('p', { class: 'score', 'aria-live': 'polite' });
    const form = h(
      'form',
      {},
      ...rendered.map(({ question, name, verdict }, i) =>
        h(
          'fieldset',
          {},
          h('legend', {}, `${i + 1}. ${question.prompt}`),
          ...question.options.map((option) =>
            h(
              'label',
              { class: 'option' },
              h('input', { type: 'radio', name, value: option.id }),
              h('span', {}, option.text),
            ),
          ),
          verdict,
        ),
      ),
      h('div', { class: 'actions' }, submit),
      score,
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.submit(lesson, form, rendered, submit, score);
    });
    this.content.replaceChildren(form);
    // The interactive version replaces the server-rendered one: unslotted light DOM is not shown.
    this.fallback.remove();
  }

  private async submit(
    lesson: string,
    form: HTMLFormElement,
    rendered: readonly RenderedQuestion[],
    submit: HTMLButtonElement,
    score: HTMLParagraphElement,
  ): Promise<void> {
    const answers: Record<string, string> = {};
    for (const { question, name } of rendered) {
      const checked = form.querySelector<HTMLInputElement>(`input[name="${name}"]:checked`);
      if (checked) answers[question.id] = checked.value;
    }
    this.clearError();
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      const body = await requestJson(
        apiBase(this),
        `/v1/lessons/${encodeURIComponent(lesson)}/quiz`,
        {
          method: 'POST',
          contentType: 'application/json',
          body: JSON.stringify({ answers }),
          ...(this.loadSignal ? { signal: this.loadSignal } : {}),
        },
      );
      const grade = parseGrade(body);
      showGrade(grade, rendered, score);
      emit(this, 'headstart:graded', { lesson, ...grade });
    } catch (err) {
      if (!isAbort(err)) this.showError(errorMessage(err));
    } finally {
      submit.disabled = false;
      form.removeAttribute('aria-busy');
    }
  }
}

/** Right or wrong in words (and an accent in the margin), with the chosen option's explanation. */
function showGrade(
  grade: Grade,
  rendered: readonly RenderedQuestion[],
  score: HTMLParagraphElement,
): void {
  for (const { question, verdict } of rendered) {
    const result = grade.results.find((r) => r.questionId === question.id);
    verdict.hidden = !result;
    if (!result) continue;
    const word =
      result.chosen === null ? 'Not answered.' : result.correct ? '✓ Correct.' : '✗ Not quite.';
    verdict.className = `verdict ${result.correct ? 'right' : 'wrong'}`;
    verdict.replaceChildren(h('strong', {}, word), result.explanation ?? '');
  }
  score.textContent = `You scored ${grade.score} out of ${grade.total}.`;
}
