// Lessons and embeds at the edge, inside workerd: the catalogue, each lesson (rendered HTML and a
// quiz without answers), server-side grading, the readable page, the widgets script, the embed
// pages with their framing policy, and oEmbed.
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { LESSON_SOURCES } from '../../src/edge/lessons/catalog.js';
import { parseLesson, type Quiz } from '../../src/shared/lessons.js';
import { ResultsSchema } from '../../src/shared/figures.js';
import benchResults from '../../bench/results.json';

const ID = 'cv-transfer-learning';
const get = (path: string, headers: Record<string, string> = {}) =>
  SELF.fetch(`https://edge.test${path}`, { headers });
const grade = (answers: unknown, id = ID) =>
  SELF.fetch(`https://edge.test/v1/lessons/${id}/quiz`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ answers }),
  });

const sourceQuiz = (): Quiz => parseLesson(LESSON_SOURCES[`${ID}.md`]!).quiz!;

/** Fails if any part of the answer key — correct flags, correct option ids, explanations — is in `text`. */
function expectNoAnswerKey(text: string): void {
  expect(text).not.toMatch(/"correct"\s*:\s*true|correctOptionId|correctExplanation/);
  for (const q of sourceQuiz().questions)
    for (const o of q.options) expect(text).not.toContain(o.explanation.slice(0, 60));
}

describe('GET /v1/lessons', () => {
  it('lists the transfer-learning lesson with its metadata and neighbours marked coming soon', async () => {
    const res = await get('/v1/lessons');
    expect(res.status).toBe(200);
    const body = await res.json<{ lessons: Record<string, unknown>[] }>();
    const lesson = body.lessons.find((l) => l.id === ID)!;
    expect(lesson).toMatchObject({
      type: 'lesson',
      duration: 50,
      order: 4,
      section: 'deep-learning',
      url: `/lessons/${ID}`,
      previous: { id: 'cv-cnns', available: false, url: null },
      next: { id: 'cv-object-detection', available: false, url: null },
    });
    expect(lesson.questions).toBeGreaterThanOrEqual(5);
  });
});

describe('GET /v1/lessons/{id}', () => {
  it('returns rendered HTML with anchored headings, highlighted code and the widgets, and a quiz without answers', async () => {
    const res = await get(`/v1/lessons/${ID}`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expectNoAnswerKey(text);
    const body = JSON.parse(text) as {
      html: string;
      widgets: string[];
      quiz: { questions: { id: string; options: { id: string; text: string }[] }[] };
    };
    expect(body.html).toMatch(/<h2 id="the-three-strategies">/);
    expect(body.html).toContain('<code class="hljs language-python">');
    expect(body.html).toMatch(/<span class="hljs-keyword">import<\/span>/);
    expect(body.html).toContain(`<headstart-quiz lesson="${ID}">`);
    expect(body.html).not.toContain('```quiz');
    expect(body.widgets).toEqual(
      expect.arrayContaining(['headstart-quiz', 'headstart-classifier']),
    );
    expect(body.quiz.questions.length).toBe(sourceQuiz().questions.length);
    expect(Object.keys(body.quiz.questions[0]!.options[0]!).sort()).toEqual(['id', 'text']);
  });

  it('quotes measured figures from bench/results.json, saying how and when each was measured', async () => {
    const body = await (await get(`/v1/lessons/${ID}`)).json<{ html: string }>();
    expect(body.html).not.toContain('{{figure:');
    const results = ResultsSchema.parse(benchResults);
    const accuracy = results.figures['train.hymenoptera_data.mobilenet-v2-0.35.val_acc']!;
    // The figure's own words, command and date in its title; the value as the text.
    expect(body.html).toContain(
      `<span class="figure" title="${accuracy.label}: ${accuracy.command}, ${accuracy.date}">${accuracy.display}</span>`,
    );
    // Scrollable code blocks can be reached with the keyboard.
    expect(body.html).toContain('<pre tabindex="0" aria-label="python code">');
  });

  it('answers 404 for an unknown lesson and 400 for a malformed id', async () => {
    const missing = await get('/v1/lessons/cv-nothing');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'not_found', field: 'path.id' });
    expect((await get('/v1/lessons/Bad_Id')).status).toBe(400);
  });
});

describe('POST /v1/lessons/{id}/quiz', () => {
  it('grades on the server: all right scores full marks, a wrong answer gets its explanation', async () => {
    const quiz = sourceQuiz();
    const right = Object.fromEntries(
      quiz.questions.map((q) => [q.id, q.options.find((o) => o.correct)!.id]),
    );
    const full = await grade(right);
    expect(full.status).toBe(200);
    const fullBody = await full.json<{ score: number; total: number }>();
    expect(fullBody).toMatchObject({ score: quiz.questions.length, total: quiz.questions.length });

    const first = quiz.questions[0]!;
    const wrong = first.options.find((o) => !o.correct)!;
    const res = await grade({ [first.id]: wrong.id });
    const text = await res.text();
    expect(text).not.toMatch(/correctOptionId|correctExplanation/);
    const body = JSON.parse(text) as {
      score: number;
      results: {
        questionId: string;
        chosen: string | null;
        correct: boolean;
        explanation: string | null;
      }[];
    };
    expect(body.score).toBe(0);
    expect(body.results[0]).toEqual({
      questionId: first.id,
      chosen: wrong.id,
      correct: false,
      explanation: wrong.explanation,
    });
    expect(body.results[1]).toMatchObject({ chosen: null, correct: false, explanation: null });
  });

  it('refuses unknown questions and options, bad bodies and unknown lessons', async () => {
    const q1 = sourceQuiz().questions[0]!.id;
    const unknownQuestion = await grade({ nope: 'a' });
    expect(unknownQuestion.status).toBe(400);
    expect(await unknownQuestion.json()).toMatchObject({ field: 'body.answers.nope' });
    const unknownOption = await grade({ [q1]: 'zz' });
    expect(await unknownOption.json()).toMatchObject({ field: `body.answers.${q1}` });
    expect((await grade('all of them')).status).toBe(400);
    expect((await grade({}, 'cv-nothing')).status).toBe(404);
    const notJson = await SELF.fetch(`https://edge.test/v1/lessons/${ID}/quiz`, {
      method: 'POST',
      body: 'q1=a',
    });
    expect(notJson.status).toBe(415);
  });
});

describe('GET /lessons/{id}', () => {
  it('is a readable page: viewport, stylesheet, neighbours as coming soon, no answer key', async () => {
    const res = await get(`/lessons/${ID}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'self'");
    const html = await res.text();
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toContain('<script type="module" src="/widgets.js"></script>');
    expect(html).toContain('cv-cnns (coming soon)');
    expect(html).toContain('cv-object-detection (coming soon)');
    expect(html).not.toContain('href="/lessons/cv-cnns"');
    // Readers without JavaScript still see the questions inside the quiz element.
    expect(html).toContain(sourceQuiz().questions[0]!.prompt.slice(0, 40));
    expectNoAnswerKey(html);
  });
});

describe('widgets and embeds', () => {
  it('serves the widgets script to any origin, with an ETag', async () => {
    const res = await get('/widgets.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/javascript');
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const js = await res.text();
    for (const tag of [
      'headstart-quiz',
      'headstart-classifier',
      'headstart-trainer',
      'headstart-strategies',
    ])
      expect(js).toContain(tag);
    const again = await get('/widgets.js', { 'if-none-match': res.headers.get('etag')! });
    expect(again.status).toBe(304);
  });

  it('serves frameable embed pages with CSP frame-ancestors and no X-Frame-Options', async () => {
    for (const [path, tag] of [
      [`/embed/quiz?lesson=${ID}`, `<headstart-quiz lesson="${ID}">`],
      [
        '/embed/classifier?model=mobilenet-v1-0.25&topK=3',
        '<headstart-classifier model="mobilenet-v1-0.25" top-k="3">',
      ],
      ['/embed/trainer', '<headstart-trainer>'],
      ['/embed/trainer?strategy=fine_tune', '<headstart-trainer strategy="fine_tune">'],
      [
        '/embed/strategies?backbone=mobilenet-v2-0.35',
        '<headstart-strategies backbone="mobilenet-v2-0.35">',
      ],
    ] as const) {
      const res = await get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('x-frame-options'), path).toBeNull();
      const policy = res.headers.get('content-security-policy')!;
      expect(policy).toContain('frame-ancestors *');
      expect(policy).toContain("script-src 'self'");
      const html = await res.text();
      expect(html, path).toContain(tag);
      expect(html).toMatch(/<html lang="en" data-headstart-embed="[a-z]+">/);
      expect(html).toMatch(/<title>[^<]+ · Headstart<\/title>/);
      expect(html).not.toMatch(/<script>(?!<\/script>)/); // no inline scripts
    }
  });

  it('refuses unknown widgets, hostile parameters and unknown lessons', async () => {
    const unknown = await get('/embed/nope');
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ field: 'path.widget' });
    const hostile = await get('/embed/classifier?model=%22%3E%3Cscript%3Ealert(1)%3C/script%3E');
    expect(hostile.status).toBe(400);
    expect(await hostile.json()).toMatchObject({ field: 'query.model' });
    expect((await get('/embed/quiz?lesson=cv-nothing')).status).toBe(404);
  });

  it('answers oEmbed for embed URLs of this edge only, in JSON only', async () => {
    const url = `https://edge.test/embed/quiz?lesson=${ID}`;
    const res = await get(`/oembed?url=${encodeURIComponent(url)}&maxwidth=500`);
    expect(res.status).toBe(200);
    const body = await res.json<Record<string, unknown>>();
    expect(body).toMatchObject({
      version: '1.0',
      type: 'rich',
      provider_name: 'Headstart',
      width: 500,
    });
    expect(body.html).toContain(
      `<iframe src="${url.replace('&', '&amp;')}" title="Knowledge check"`,
    );
    const foreign = await get(`/oembed?url=${encodeURIComponent('https://evil.test/embed/quiz')}`);
    expect(foreign.status).toBe(404);
    const xml = await get(`/oembed?url=${encodeURIComponent(url)}&format=xml`);
    expect(xml.status).toBe(501);
    expect((await get('/oembed')).status).toBe(400);
  });
});
