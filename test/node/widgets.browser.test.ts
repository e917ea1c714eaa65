// The widgets in a real headless Chromium (Debian's chromium, driven by playwright-core), against
// a real local edge and an in-process worker: a host page on another origin embeds every widget
// as a custom element and as an iframe; the quiz is answered and graded by the edge, the
// classifier classifies a real photo, the trainer trains a head, iframes resize themselves, and
// no response the browser receives carries the quiz's answer key. Screenshots go to
// test-artifacts/widgets/.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLesson, type Quiz } from '../../src/shared/lessons.js';
import { startLocalEdge, type LocalEdge } from '../../scripts/lib/local-edge.js';
import { DATASETS_DIR, MODELS_SOURCE, TEST_MODELS } from '../support/paths.js';
import { tempDir } from '../support/temp.js';
import { startInProcessWorker, type InProcessWorker } from '../support/worker.js';

const CHROMIUM = process.env.HEADSTART_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.resolve(import.meta.dirname, '..', '..', 'test-artifacts', 'widgets');
const LESSON = 'cv-transfer-learning';
const BEE = path.join(DATASETS_DIR, 'hymenoptera_data', 'val', 'bees', '10870992_eebeeb3a12.jpg');

let edge: LocalEdge;
let worker: InProcessWorker | undefined;
let host: http.Server;
let hostUrl: string;
let browser: Browser;
let page: Page;
const problems: string[] = [];
/** Every response body the host page received from the edge, by URL. */
const received: { url: string; method: string; body: string }[] = [];
const quiz: Quiz = parseLesson(
  await readFile(path.resolve(import.meta.dirname, '..', '..', 'lessons', `${LESSON}.md`), 'utf8'),
).quiz!;

function hostPage(): string {
  const e = edge.url;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A site that embeds Headstart</title>
<script type="module" src="${e}/widgets.js"></script>
<script>
  window.events = [];
  for (const type of ['headstart:graded', 'headstart:classified', 'headstart:complete', 'headstart:score', 'headstart:job'])
    document.addEventListener(type, (e) => window.events.push({ type, target: e.target.id, detail: e.detail }), true);
</script>
<style>body { font-family: sans-serif; max-width: 760px; margin: 1rem auto; } iframe { width: 100%; border: 0; display: block; }</style>
</head><body>
<h1>Host page on another origin</h1>
<headstart-quiz id="quiz" lesson="${LESSON}"></headstart-quiz>
<headstart-classifier id="classifier" model="mobilenet-v1-0.25" top-k="3"></headstart-classifier>
<headstart-strategies id="strategies" backbone="mobilenet-v2-0.35" classes="2"></headstart-strategies>
<headstart-trainer id="trainer" api-key="${edge.apiKey}" epochs="5"></headstart-trainer>
<iframe id="quiz-frame" src="${e}/embed/quiz?lesson=${LESSON}" title="Knowledge check" height="120" data-headstart-embed></iframe>
<iframe id="classifier-frame" src="${e}/embed/classifier?model=mobilenet-v1-0.25&amp;topK=3" title="Image classifier" height="120" data-headstart-embed></iframe>
<iframe id="strategies-frame" src="${e}/embed/strategies?backbone=mobilenet-v1-0.25&amp;classes=5" title="Transfer-learning strategies" height="120" data-headstart-embed></iframe>
<iframe id="trainer-frame" src="${e}/embed/trainer" title="Train a head" height="120" data-headstart-embed></iframe>
</body></html>`;
}

async function events(
  type: string,
): Promise<{ target: string; detail: Record<string, unknown> }[]> {
  return page.evaluate(
    (t) =>
      (
        window as unknown as {
          events: { type: string; target: string; detail: Record<string, unknown> }[];
        }
      ).events.filter((e) => e.type === t),
    type,
  );
}

/**
 * In a trainer (element or iframe): the backbone list comes from the catalogue, each entry with
 * what it measured; picks mobilenet-v2-0.35, the quickest to train.
 */
async function chooseQuickestBackbone(trainer: { locator(selector: string): Locator }) {
  const backbones = trainer.locator('select option');
  await backbones.nth(1).waitFor({ state: 'attached' });
  expect(await backbones.count()).toBeGreaterThanOrEqual(5);
  expect(await backbones.allInnerTexts()).toContainEqual(
    expect.stringMatching(/^mobilenet-v2-0\.35 · [\d.]+ ms at the edge · /),
  );
  await trainer.locator('select').selectOption('mobilenet-v2-0.35');
}

async function shot(name: string, selector?: string): Promise<void> {
  const file = path.join(ARTIFACTS, `${name}.png`);
  if (selector) await page.locator(selector).screenshot({ path: file });
  else await page.screenshot({ path: file, fullPage: true });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set HEADSTART_CHROMIUM)`,
    );
  await mkdir(ARTIFACTS, { recursive: true });
  edge = await startLocalEdge(await tempDir('widgets-edge'), {
    modelsSource: MODELS_SOURCE,
    modelsOut: TEST_MODELS,
  });
  // A worker for the trainer widget's jobs.
  worker = await startInProcessWorker(edge, { workerId: 'widgets-test-worker', threads: 1 });
  // The host site: "localhost" on its own port, a different origin from the edge's 127.0.0.1.
  host = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(hostPage());
  });
  await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  hostUrl = `http://localhost:${(host.address() as { port: number }).port}/`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 900, height: 1000 } });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
      problems.push(`console: ${m.text()}`);
  });
  page.on('response', (res) => {
    if (!res.url().startsWith(edge.url) || res.status() === 304) return;
    void res
      .text()
      .then((body) => received.push({ url: res.url(), method: res.request().method(), body }))
      .catch(() => undefined);
  });
  await page.goto(hostUrl);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  host?.close();
  await worker?.stop();
  await edge?.stop();
});

describe('widgets on a host page in Chromium', () => {
  it('grades the quiz on the edge: a wrong attempt, then full marks', async () => {
    const q = page.locator('#quiz');
    await q.locator('fieldset').first().waitFor();
    expect(await q.locator('fieldset').count()).toBe(quiz.questions.length);
    // First attempt: a wrong option everywhere.
    for (const question of quiz.questions) {
      const wrong = question.options.find((o) => !o.correct)!;
      await q.locator('label', { hasText: wrong.text }).first().click();
    }
    await q.locator('button[type=submit]').click();
    await q.locator('.score').filter({ hasText: '0' }).waitFor();
    // Then every answer right, chosen with the keyboard-usable radios.
    for (const question of quiz.questions) {
      const right = question.options.find((o) => o.correct)!;
      await q.locator('label', { hasText: right.text }).first().click();
    }
    await q.locator('button[type=submit]').click();
    await page.waitForFunction(
      () =>
        (window as unknown as { events: { type: string }[] }).events.filter(
          (e) => e.type === 'headstart:graded',
        ).length === 2,
    );
    const graded = await events('headstart:graded');
    expect(graded.map((e) => e.detail.score)).toEqual([0, quiz.questions.length]);
    expect(graded[1]!.detail.total).toBe(quiz.questions.length);
    await shot('quiz', '#quiz');
  });

  it('never sends the answer key to the browser', async () => {
    await page.waitForTimeout(200);
    const rightExplanations = quiz.questions.map(
      (q) => q.options.find((o) => o.correct)!.explanation,
    );
    const graded = received.filter((r) => r.url.includes('/quiz') && r.method === 'POST');
    expect(graded).toHaveLength(2);
    // Before and around grading: no correct flags or ids anywhere, and the wrong attempt's
    // answer carries no explanation of a right option.
    for (const { url, body } of received) {
      expect(body, url).not.toMatch(
        /correctOptionId|correctExplanation|"text"\s*:\s*"[^"]*"\s*,\s*"correct"/,
      );
      if (url.includes('/quiz') && body.includes('"score":0'))
        for (const text of rightExplanations) expect(body).not.toContain(text);
      if (!url.includes('/quiz'))
        for (const q of quiz.questions)
          for (const o of q.options) expect(body, url).not.toContain(o.explanation);
    }
  });

  it('classifies a real photo with the edge and shows the latency', async () => {
    const c = page.locator('#classifier');
    await c.locator('input[type=file]').setInputFiles(BEE);
    await c.locator('.bars li').first().waitFor();
    expect(await c.locator('.bars').innerText()).toMatch(/\bbee\b/);
    expect(await c.locator('.classify').innerText()).toMatch(/\d+(\.\d+)?\s*ms/);
    const classified = await events('headstart:classified');
    expect(classified[0]!.detail).toMatchObject({ model: 'mobilenet-v1-0.25' });
    await shot('classifier', '#classifier');
  });

  it('draws the strategies with parameter counts computed from the backbone’s real blocks', async () => {
    const res = await fetch(`${edge.url}/v1/models/mobilenet-v2-0.35`);
    const manifest = (await res.json()) as {
      embeddingDim: number;
      blocks: { trainableParameters: number; role: string }[];
    };
    const trunk = manifest.blocks.filter((b) => b.role === 'trunk');
    const head = manifest.embeddingDim * 2 + 2;
    const full = trunk.reduce((n, b) => n + b.trainableParameters, 0) + head;
    const s = page.locator('#strategies');
    await s.locator('section.strategy').first().waitFor();
    const headings = await s.locator('section.strategy h4').allInnerTexts();
    const of = (title: RegExp) => headings.find((h) => title.test(h)) ?? '';
    expect(of(/^feature extraction/i)).toContain(`${head.toLocaleString('en-US')} trainable`);
    expect(of(/^full fine-tuning/i)).toContain(`${full.toLocaleString('en-US')} trainable`);
    await s.locator('input[type=range]').fill('20');
    expect(await s.locator('p[aria-live]').innerText()).toContain(full.toLocaleString('en-US'));
    await shot('strategies', '#strategies');
  });

  it('compares the catalogue by measured latency and accuracy, and redraws for the one chosen', async () => {
    const listed = (await (await fetch(`${edge.url}/v1/models`)).json()) as {
      models: {
        id: string;
        measured: {
          edgeInferenceMs: number | null;
          referenceAccuracy: {
            hymenoptera_data: number | null;
            flower_photos_subset: number | null;
          };
        } | null;
      }[];
    };
    const plotted = listed.models.filter(
      (m) =>
        m.measured?.edgeInferenceMs != null &&
        (m.measured.referenceAccuracy.hymenoptera_data !== null ||
          m.measured.referenceAccuracy.flower_photos_subset !== null),
    );
    expect(plotted.length).toBeGreaterThanOrEqual(4);
    const s = page.locator('#strategies');
    const rows = s.locator('section.choice tbody tr');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(listed.models.length);
    expect(await s.locator('svg.tradeoff g').count()).toBe(plotted.length);
    // A row shows the figures the API gives for its backbone.
    const v2 = plotted.find((m) => m.id === 'mobilenet-v2-1.0')!.measured!;
    const row = await s
      .locator('section.choice tbody tr', { hasText: 'mobilenet-v2-1.0' })
      .innerText();
    expect(row).toContain(`${v2.edgeInferenceMs!.toFixed(1)} ms`);
    expect(row).toContain(`${(v2.referenceAccuracy.hymenoptera_data! * 100).toFixed(1)}%`);
    // The backbone drawn above is marked; choosing another draws that one's blocks instead.
    expect(await s.locator('tr[aria-current] th').innerText()).toBe('mobilenet-v2-0.35');
    await s
      .locator('section.choice tbody tr', { hasText: 'mobilenet-v1-0.25' })
      .locator('button')
      .click();
    await s.locator('h3', { hasText: 'mobilenet-v1-0.25' }).waitFor();
    expect(await s.locator('tr[aria-current] th').innerText()).toBe('mobilenet-v1-0.25');
    expect(await s.locator('section.strategy h4').first().innerText()).toContain(
      `${(256 * 2 + 2).toLocaleString('en-US')} trainable`,
    );
    await shot('strategies-choice', '#strategies');
  });

  it('trains a head from photos picked in the browser and tries it on a fresh photo', async () => {
    const t = page.locator('#trainer');
    const pick = async (label: string) =>
      (await readdir(path.join(DATASETS_DIR, 'hymenoptera_data', 'train', label)))
        .sort()
        .slice(0, 6)
        .map((f) => path.join(DATASETS_DIR, 'hymenoptera_data', 'train', label, f));
    // The quickest backbone from the catalogue's list; the job must carry it.
    await chooseQuickestBackbone(t);
    await t.locator('input[type=text]').nth(0).fill('ants');
    await t.locator('input[type=text]').nth(1).fill('bees');
    await t
      .locator('input[type=file]')
      .nth(0)
      .setInputFiles(await pick('ants'));
    await t
      .locator('input[type=file]')
      .nth(1)
      .setInputFiles(await pick('bees'));
    await t.locator('button[type=submit]').click();
    await t.locator('table').waitFor({ timeout: 150_000 });
    const complete = await events('headstart:complete');
    expect(complete).toHaveLength(1);
    const jobs = await events('headstart:job');
    expect(jobs.at(-1)!.detail).toMatchObject({ spec: { backbone: 'mobilenet-v2-0.35' } });
    const headId = String(complete[0]!.detail.headId);
    expect(headId).toMatch(/^head_[0-9a-f]{32}$/);
    expect(await t.locator('svg.chart polyline').count()).toBeGreaterThanOrEqual(2);
    expect(await t.locator('table').innerText()).toMatch(/ants[\s\S]*bees/);
    await t.locator('input[type=file][accept]').last().setInputFiles(BEE);
    await t.locator('.bars li').first().waitFor();
    expect(await t.locator('.bars').innerText()).toMatch(/ants|bees/);
    const tried = (await events('headstart:classified')).at(-1)!;
    expect(tried.detail).toMatchObject({ head: { id: headId } });
    await shot('trainer', '#trainer');
  }, 200_000);

  it('resizes each iframe to its content and passes the quiz score to the host', async () => {
    const frameHeight = () =>
      page.evaluate(() => document.getElementById('quiz-frame')!.getBoundingClientRect().height);
    await page.waitForFunction(
      () => document.getElementById('quiz-frame')!.getBoundingClientRect().height > 300,
    );
    const frame = page.frameLocator('#quiz-frame');
    const content = await frame
      .locator('html')
      .evaluate((el) => Math.ceil(el.getBoundingClientRect().height));
    expect(Math.abs((await frameHeight()) - content)).toBeLessThanOrEqual(2);
    // Inside the frames, the keyboard rather than the mouse: a click is aimed at coordinates,
    // and the host page above the frame may still be settling (the trainer's photo decoding),
    // which once moved the frame under the pointer so that the submit click never reached the
    // button (no POST in 60 s; 2 runs in about 20).
    const first = quiz.questions[0]!;
    const right = frame
      .getByRole('radio', { name: first.options.find((o) => o.correct)!.text })
      .first();
    await right.press('Space');
    expect(await right.isChecked()).toBe(true);
    // Submit, then follow each step so that a failure says which one: the POST leaving the
    // frame, its answer, the widget's event, the message to the host.
    const isQuizPost = (r: { url(): string; method(): string }) =>
      r.url().startsWith(`${edge.url}/v1/lessons/`) &&
      r.url().endsWith('/quiz') &&
      r.method() === 'POST';
    const posted = page.waitForRequest(isQuizPost, { timeout: 60_000 });
    await frame.locator('button[type=submit]').press('Enter');
    const request = await posted.catch(async (err: unknown) => {
      const state = await frame
        .locator('form')
        .evaluate((f) => `aria-busy=${f.getAttribute('aria-busy')}`)
        .catch(() => 'no form');
      throw new Error(`the quiz frame sent no POST within 60 s of the click (${state})`, {
        cause: err,
      });
    });
    const answered = await Promise.race([
      request.response(),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 60_000)),
    ]);
    expect(answered?.status(), 'the quiz POST got no answer within 60 s').toBe(200);
    await page
      .waitForFunction(
        () =>
          (window as unknown as { events: { type: string }[] }).events.some(
            (e) => e.type === 'headstart:score',
          ),
        undefined,
        { timeout: 60_000, polling: 250 },
      )
      .catch(async (err: unknown) => {
        // Say what the reader saw: the widget's alert carries the API's problem, if any.
        const shown = await frame.locator('[role=alert]').allInnerTexts();
        const scoreText = await frame
          .locator('.score')
          .innerText()
          .catch(() => '(none)');
        throw new Error(
          `the quiz POST answered 200 but no headstart:score reached the host; the frame shows ` +
            `score "${scoreText}" and alert ${shown.join(' | ') || '(none)'}`,
          { cause: err },
        );
      });
    const score = (await events('headstart:score'))[0]!;
    expect(score.target).toBe('quiz-frame');
    expect(score.detail).toMatchObject({ score: 1, total: quiz.questions.length });
    // The classifier iframe: a photo chosen inside it, the result announced to the host.
    const classifier = page.frameLocator('#classifier-frame');
    await classifier.locator('input[type=file]').setInputFiles(BEE);
    await classifier.locator('.bars li').first().waitFor();
    await page.waitForFunction(
      () => document.getElementById('classifier-frame')!.getBoundingClientRect().height > 200,
    );
    // The strategies iframe draws v1's real blocks (its own classifier left out).
    const strategies = page.frameLocator('#strategies-frame');
    await strategies.locator('section.strategy').first().waitFor();
    expect(await strategies.locator('section.strategy h4').first().innerText()).toContain(
      `${(256 * 5 + 5).toLocaleString('en-US')} trainable`,
    );
    await shot('host-page');
  }, 240_000);

  it('trains through the trainer iframe with a key pasted by the reader', async () => {
    const t = page.frameLocator('#trainer-frame');
    const notice = t.getByText('Training needs an API key');
    await expect(notice.isVisible()).resolves.toBe(true);
    await t.locator('input[type=password]').fill(edge.apiKey);
    // Once a key is pasted, the notice asking for one goes away.
    await notice.waitFor({ state: 'hidden', timeout: 5_000 });
    const photos = async (label: string) =>
      (await readdir(path.join(DATASETS_DIR, 'hymenoptera_data', 'val', label)))
        .sort()
        .slice(0, 5)
        .map((f) => path.join(DATASETS_DIR, 'hymenoptera_data', 'val', label, f));
    // The quickest backbone from the catalogue's list; the job must carry it.
    await chooseQuickestBackbone(t);
    await t.locator('input[type=text]').nth(0).fill('ants');
    await t.locator('input[type=text]').nth(1).fill('bees');
    await t
      .locator('input[type=file]')
      .nth(0)
      .setInputFiles(await photos('ants'));
    await t
      .locator('input[type=file]')
      .nth(1)
      .setInputFiles(await photos('bees'));
    await t.locator('button[type=submit]').press('Enter');
    await page.waitForFunction(
      () =>
        (window as unknown as { events: { type: string; target: string }[] }).events.some(
          (e) => e.type === 'headstart:complete' && e.target === 'trainer-frame',
        ),
      null,
      { timeout: 150_000 },
    );
    const done = (await events('headstart:complete')).find((e) => e.target === 'trainer-frame')!;
    expect(String(done.detail.headId)).toMatch(/^head_/);
    await t.locator('table').waitFor();
  }, 200_000);

  it('works from the keyboard and keeps text readable (WCAG AA contrast)', async () => {
    const first = page.locator('#quiz fieldset').first().locator('input[type=radio]');
    await first.nth(0).focus();
    await page.keyboard.press('ArrowDown');
    expect(await first.nth(1).isChecked()).toBe(true);
    await page.keyboard.press('Space');
    expect(await first.nth(1).isChecked()).toBe(true);
    // Contrast of text against the background it sits on, for the elements readers rely on.
    const ratios = await page.evaluate(() => {
      const parse = (c: string) => (c.match(/[\d.]+/g) ?? []).slice(0, 4).map(Number);
      const luminance = ([r, g, b]: number[]) => {
        const lin = (v: number) => {
          const x = v / 255;
          return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
        };
        return 0.2126 * lin(r!) + 0.7152 * lin(g!) + 0.0722 * lin(b!);
      };
      const background = (el: Element | null): number[] => {
        for (let e = el; e; e = e.parentElement ?? (e.getRootNode() as ShadowRoot).host ?? null) {
          const bg = parse(getComputedStyle(e).backgroundColor);
          if (bg.length === 3 || (bg.length === 4 && bg[3]! > 0.5)) return bg;
        }
        return [255, 255, 255];
      };
      const ratio = (el: Element) => {
        const a = luminance(parse(getComputedStyle(el).color));
        const b = luminance(background(el));
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      };
      const roots = ['quiz', 'classifier', 'strategies', 'trainer'].map(
        (id) => document.getElementById(id)!.shadowRoot!,
      );
      const out: Record<string, number> = {};
      for (const [i, root] of roots.entries())
        for (const sel of ['legend', 'label', 'button', 'p', 'h3', 'h4', '.muted']) {
          const el = root.querySelector(sel);
          if (el) out[`${i}:${sel}`] = Math.round(ratio(el) * 100) / 100;
        }
      return out;
    });
    expect(Object.keys(ratios).length).toBeGreaterThan(8);
    for (const [element, value] of Object.entries(ratios))
      expect(value, element).toBeGreaterThanOrEqual(4.5);
  });

  it('serves a lesson page that reads on a phone, with the quiz working in place', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
    await phone.goto(`${edge.url}/lessons/${LESSON}`);
    await phone.locator('headstart-quiz fieldset').first().waitFor();
    const overflow = await phone.evaluate(
      () => document.documentElement.scrollWidth - window.innerWidth,
    );
    expect(overflow).toBeLessThanOrEqual(1);
    expect(await phone.locator('h1').innerText()).toMatch(/transfer learning/i);
    expect(await phone.locator('nav.pager').innerText()).toContain('coming soon');
    await phone.screenshot({ path: path.join(ARTIFACTS, 'lesson-phone.png') });
    await phone.close();
  });

  it('raised no page errors and saved its screenshots', async () => {
    expect(problems).toEqual([]);
    for (const name of [
      'quiz',
      'classifier',
      'strategies',
      'strategies-choice',
      'trainer',
      'host-page',
      'lesson-phone',
    ]) {
      const file = path.join(ARTIFACTS, `${name}.png`);
      const size = await stat(file).then(
        (s) => s.size,
        () => 0,
      );
      expect(size, `${name}.png: missing or empty (the test that takes it failed)`).toBeGreaterThan(
        1000,
      );
    }
  });
});
