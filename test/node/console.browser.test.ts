// The console (/console) in a real headless Chromium against a real local edge and an
// in-process worker, driven through its UI only: a wrong key is refused, then the edge's key
// signs in; the whole hymenoptera_data folder (397 photos in train/ and val/) is uploaded through
// the folder picker (zipped in the browser) with its validation report (the folder's GIF and
// MANIFEST.tsv left out) and thumbnails per class; a job trains on it with live curves; the head
// shows its confusion matrix (a cell lists its photos with thumbnails and probabilities), gets an
// alias (and so refuses deletion with the API's 409), and classifies a fresh photo; a job whose
// dataset is deleted while it waits fails through the real worker and shows why; with two items
// a page, each list (datasets, jobs, heads) shows every item once through "Show older"; the
// dataset is deleted (the head's cells then list names only); signing out forgets the key. Every
// view passes axe-core (no serious or critical violation) at desktop and phone widths without
// sideways scrolling; screenshots go to test-artifacts/console/.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEdge, type LocalEdge } from '../../scripts/lib/local-edge.js';
import { DATASETS_DIR, MODELS_SOURCE, TEST_MODELS } from '../support/paths.js';
import { tempDir } from '../support/temp.js';
import { startInProcessWorker, type InProcessWorker } from '../support/worker.js';
import { buildZip } from '../support/zip-writer.js';

const CHROMIUM = process.env.HEADSTART_CHROMIUM ?? '/usr/bin/chromium';
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const ARTIFACTS = path.resolve(import.meta.dirname, '..', '..', 'test-artifacts', 'console');
const HYMENOPTERA = path.join(DATASETS_DIR, 'hymenoptera_data');
const BEE = path.join(HYMENOPTERA, 'val', 'bees', '10870992_eebeeb3a12.jpg');
/** Views load over the network; a loaded machine may take a few seconds. */
const POLL = { timeout: 20_000 };

let edge: LocalEdge;
let worker: InProcessWorker | undefined;
let browser: Browser;
let page: Page;
let axeSource: string;
/**
 * The photos the edge should accept from the folder, per split and class: every JPEG. The
 * folder also holds a placeholder GIF (train/ants/imageNotFound.gif) and its own MANIFEST.tsv,
 * which the edge leaves out with a reason.
 */
const expected: Record<'train' | 'val', Record<'ants' | 'bees', number>> = {
  train: { ants: 0, bees: 0 },
  val: { ants: 0, bees: 0 },
};
const problems: string[] = [];
let datasetId = '';
let headId = '';

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

const consoleEl = (): Locator => page.locator('headstart-console');
const alert = (): Locator => consoleEl().locator('[role=alert]');
const heading = (): Locator => consoleEl().locator('h2');
/**
 * The thumbnails among `thumbs` (each an img.thumb, or the span that stands in for a photo that
 * could not be fetched or decoded) that have not loaded, by alt text and state: [] once all have.
 */
const unloaded = (thumbs: Locator): Promise<string[]> =>
  thumbs.evaluateAll((els) =>
    els
      .filter((e) => !(e instanceof HTMLImageElement && e.complete && e.naturalWidth > 0))
      .map(
        (e) =>
          `${e.getAttribute('alt') ?? e.getAttribute('aria-label')} (${
            e instanceof HTMLImageElement ? (e.src ? 'loading' : 'queued') : 'failed'
          })`,
      ),
  );

/** axe-core's serious and critical findings on the page as it is now. */
async function audit(): Promise<string[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: () => Promise<{ violations: Violation[] }> } })
      .axe;
    return (await axe.run()).violations;
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} — ${v.nodes
          .slice(0, 3)
          .map((n) => JSON.stringify(n.target))
          .join('; ')}`,
    );
}

/**
 * Checks the current view at 1280 and 375 px: axe finds nothing serious, the page does not
 * scroll sideways on a phone, and a screenshot of each width is saved.
 */
async function checkView(name: string): Promise<void> {
  for (const width of [1280, 375]) {
    await page.setViewportSize({ width, height: 900 });
    expect(await audit(), `${name} at ${width} px`).toEqual([]);
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow, `${name} scrolls sideways at ${width} px`).toBeLessThanOrEqual(0);
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

async function signIn(key: string, remember = false): Promise<void> {
  await consoleEl().getByLabel('API key').fill(key);
  await consoleEl().getByLabel('Remember on this device').setChecked(remember);
  await consoleEl().getByRole('button', { name: 'Sign in' }).click();
}

const stored = () =>
  page.evaluate(() => ({
    session: sessionStorage.getItem('headstart-console-key'),
    local: localStorage.getItem('headstart-console-key'),
  }));

/**
 * Presses "Show older" under the table captioned `caption` until the button goes. Returns the
 * first cell of every row, in order, and how many rows showed before the first and after each press.
 */
async function showAll(caption: string): Promise<{ rows: string[]; counts: number[] }> {
  const rows = () =>
    consoleEl().locator('table', { hasText: caption }).locator('tbody th').allInnerTexts();
  const more = consoleEl().getByRole('button', { name: 'Show older' });
  await consoleEl().locator('table', { hasText: caption }).waitFor(POLL);
  const counts = [(await rows()).length];
  for (let presses = 0; (await more.isVisible()) && presses < 20; presses++) {
    const before = counts.at(-1)!;
    await more.click();
    await expect
      .poll(async () => (await rows()).length > before || !(await more.isVisible()), POLL)
      .toBe(true);
    counts.push((await rows()).length);
  }
  expect(await more.isVisible(), `"Show older" under ${caption} never went`).toBe(false);
  return { rows: await rows(), counts };
}

/** What GET `path` lists (one page of up to 100), as `field` of each item. */
async function listed(path: string, key: string, field: string): Promise<string[]> {
  const res = await fetch(`${edge.url}${path}?limit=100`, {
    headers: { authorization: `Bearer ${edge.apiKey}` },
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as Record<string, Record<string, string>[]>;
  return body[key]!.map((item) => item[field]!);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  axeSource = await readFile(AXE, 'utf8');
  await mkdir(ARTIFACTS, { recursive: true });
  for (const split of ['train', 'val'] as const)
    for (const label of ['ants', 'bees'] as const)
      expected[split][label] = (await readdir(path.join(HYMENOPTERA, split, label))).filter((f) =>
        /\.jpe?g$/i.test(f),
      ).length;
  edge = await startLocalEdge(await tempDir('console-edge'), {
    modelsSource: MODELS_SOURCE,
    modelsOut: TEST_MODELS,
  });
  worker = await startInProcessWorker(edge, { workerId: 'console-test-worker', threads: 1 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (m) => {
    // A refused request (the wrong key's 401, the pinned head's 409) is logged by Chromium itself.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
      problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', (dialog) => void dialog.accept());
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await edge?.stop();
});

describe('the console in Chromium', () => {
  it('is linked from the landing page and refuses a wrong key with a clear error', async () => {
    await page.goto(`${edge.url}/`);
    await page.getByRole('link', { name: /Console/ }).click();
    await page.waitForURL(`${edge.url}/console`);
    await expect.poll(() => heading().innerText(), POLL).toBe('Sign in');
    await checkView('sign-in');
    await signIn('hs_key_this-is-not-a-real-key-000000');
    await alert().waitFor();
    expect(await alert().innerText()).toMatch(/not accepted \(401/);
    expect(await heading().innerText()).toBe('Sign in');
    expect(await stored()).toEqual({ session: null, local: null });
    await checkView('sign-in-error');
  });

  it('signs in with a real key, kept for this tab only', async () => {
    await signIn(edge.apiKey);
    await expect.poll(() => heading().innerText(), POLL).toBe('Datasets');
    expect(await alert().isHidden()).toBe(true);
    expect(await stored()).toEqual({ session: edge.apiKey, local: null });
    expect(page.url()).toMatch(/#datasets$/);
    const current = consoleEl().locator('nav a[aria-current=page]');
    expect(await current.innerText()).toBe('Datasets');
    await checkView('datasets-empty');
  });

  it('uploads the whole hymenoptera_data folder with a progress bar and shows the validation report', async () => {
    // The real folder, as a reader would pick it: train/ and val/ of ants and bees, a placeholder
    // GIF and the folder's MANIFEST.tsv (398 images and one text file).
    await consoleEl().getByLabel('A folder', { exact: true }).setInputFiles(HYMENOPTERA);
    expect(
      await consoleEl()
        .getByText(/Chosen: folder hymenoptera_data, 399 files/)
        .count(),
    ).toBe(1);
    expect(await consoleEl().getByLabel('Dataset name', { exact: true }).inputValue()).toBe(
      'hymenoptera_data',
    );
    await consoleEl().getByLabel('Dataset name', { exact: true }).fill('console-ants-bees');
    await consoleEl().getByRole('button', { name: 'Upload' }).click();
    const open = consoleEl().getByRole('link', { name: 'Open the dataset' });
    await open.waitFor({ timeout: 120_000 });
    expect(
      await consoleEl()
        .locator('progress')
        .evaluate((p) => (p as HTMLProgressElement).value),
    ).toBe(1);
    const report = await consoleEl().locator('form.panel').innerText();
    // The folder's text file and its GIF are left out, each with the edge's reason.
    expect(report).toMatch(/2 files were left out/);
    expect(report).toMatch(/train\/MANIFEST\.tsv: outside layout/);
    expect(report).toMatch(/train\/ants\/imageNotFound\.gif: unsupported format \(GIF/);
    datasetId = /Dataset (ds_[A-Za-z0-9_-]+)/.exec(report)?.[1] ?? '';
    expect(datasetId).not.toBe('');
    // The list above the form refreshes in place.
    await expect
      .poll(() => consoleEl().locator('table', { hasText: 'Your datasets' }).innerText(), POLL)
      .toContain('console-ants-bees');
    await checkView('datasets-uploaded');

    await open.click();
    await expect.poll(() => heading().innerText(), POLL).toBe('Dataset console-ants-bees');
    const counts = consoleEl().locator('table').first();
    const rows = await counts.locator('tbody tr').allInnerTexts();
    expect(rows).toEqual(
      (['ants', 'bees'] as const).map(
        (label) => `${label}\t${expected.train[label]}\t${expected.val[label]}`,
      ),
    );
    // Each class shows its training photos (up to 6), fetched with the key, named by class and file.
    const training = (['ants', 'bees'] as const).map((label) => expected.train[label]);
    for (const [i, label] of ['ants', 'bees'].entries())
      expect(
        await consoleEl()
          .locator('h4', {
            hasText: `${label}: ${Math.min(training[i]!, 6)} of ${training[i]} training photos`,
          })
          .count(),
      ).toBe(1);
    const thumbs = consoleEl().locator('ul.thumbs .thumb');
    await expect
      .poll(async () => [await thumbs.count(), await unloaded(thumbs)], POLL)
      .toEqual([training.reduce((a, b) => a + Math.min(b, 6), 0), []]);
    for (const alt of await thumbs.evaluateAll((els) => els.map((e) => e.getAttribute('alt'))))
      expect(alt).toMatch(/^(ants|bees): [^/]+\.jpg$/);
    const blob = await thumbs.first().evaluate((e) => (e as HTMLImageElement).src);
    expect(blob).toMatch(/^blob:/);
    // An image loads from the URL while the view shows; leaving the view revokes it.
    const reload = (url: string) =>
      new Promise<string>((resolve) => {
        const img = new Image();
        img.onload = () => resolve('kept');
        img.onerror = () => resolve('revoked');
        img.src = url;
      });
    expect(await page.evaluate(reload, blob)).toBe('kept');
    await checkView('dataset');

    await page.goto(`${edge.url}/console#datasets`);
    await expect.poll(() => heading().innerText(), POLL).toBe('Datasets');
    expect(await page.evaluate(reload, blob)).toBe('revoked');
    expect(await consoleEl().locator('table').innerText()).toContain('console-ants-bees');
  }, 180_000);

  it('submits a fine-tune and follows its curves to the end', async () => {
    await page.goto(`${edge.url}/console#datasets/${datasetId}`);
    await consoleEl().getByRole('link', { name: 'Fine-tune on this dataset' }).click();
    await expect.poll(() => heading().innerText(), POLL).toBe('Fine-tunes');
    expect(await consoleEl().getByLabel('Dataset', { exact: true }).inputValue()).toBe(datasetId);
    await consoleEl().getByLabel('Backbone', { exact: true }).selectOption('mobilenet-v2-0.35');
    await consoleEl().getByLabel('Strategy', { exact: true }).selectOption('feature_extraction');
    await consoleEl().getByLabel('Epochs', { exact: true }).fill('3');
    await checkView('jobs-form');
    await consoleEl().getByRole('button', { name: 'Submit the job' }).click();
    await expect.poll(() => heading().innerText(), POLL).toMatch(/^Job job_/);
    const head = consoleEl().getByRole('link', { name: /^head_[0-9a-f]{32}$/ });
    await head.waitFor({ timeout: 150_000 });
    headId = await head.innerText();
    const charts = consoleEl().locator('svg.chart[role=img]');
    expect(await charts.count()).toBe(2);
    expect(await charts.nth(1).getAttribute('aria-label')).toMatch(/After epoch 3 of 3/);
    expect(await consoleEl().locator('svg.chart polyline').count()).toBeGreaterThanOrEqual(4);
    expect(await consoleEl().locator('dl').innerText()).toContain('mobilenet-v2-0.35');
    expect(await consoleEl().locator('[aria-live]').allInnerTexts()).toContainEqual(
      expect.stringMatching(/Status: succeeded/),
    );
    await checkView('job');

    await consoleEl().getByRole('link', { name: 'All jobs' }).click();
    await expect.poll(() => heading().innerText(), POLL).toBe('Fine-tunes');
    const listed = await consoleEl().locator('table').innerText();
    expect(listed).toMatch(/succeeded/);
    expect(listed).toContain('epoch 3 of 3');
    await checkView('jobs');
  }, 180_000);

  it('shows the head’s confusion matrix, pins an alias, refuses deletion with the 409, and tries a photo', async () => {
    await page.goto(`${edge.url}/console#heads/${headId}`);
    await expect.poll(() => heading().innerText(), POLL).toBe(`Head ${headId}`);
    const confusion = consoleEl().locator('table', { hasText: 'Confusion matrix' });
    expect(await confusion.innerText()).toMatch(/ants[\s\S]*bees/);
    const cells = (await confusion.locator('td').allInnerTexts()).map(Number);
    expect(cells).toHaveLength(4);
    expect(cells.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    // A cell lists its validation photos (from the head's evaluation), as many as it counts,
    // each with its thumbnail and the head's probabilities.
    const k = cells.findIndex((c) => c > 0);
    const truth = ['ants', 'bees'][Math.floor(k / 2)]!;
    const predicted = ['ants', 'bees'][k % 2]!;
    await confusion.locator('td button').nth(k).click();
    const listed = consoleEl().locator('h4', { hasText: `${truth} predicted as ${predicted}` });
    await listed.waitFor();
    expect(await listed.innerText()).toContain(`${cells[k]} validation photo(s)`);
    const items = listed.locator('xpath=following-sibling::ul[1]/li');
    const photos = await items.allInnerTexts();
    expect(photos).toHaveLength(cells[k]!);
    for (const photo of photos)
      expect(photo).toMatch(
        new RegExp(`${truth}.*\\.jpg \\(ants \\d+\\.\\d%, bees \\d+\\.\\d%\\)$`),
      );
    await expect.poll(() => unloaded(items.locator('.thumb')), POLL).toEqual([]);
    // The first 60 photos of a cell get thumbnails (a big cell's rest are listed by name).
    expect(await items.locator('img.thumb').count()).toBe(Math.min(cells[k]!, 60));
    expect(await items.locator('img.thumb').first().getAttribute('alt')).toMatch(
      new RegExp(`^${truth}: [^/]+\\.jpg$`),
    );
    await checkView('head-cell');

    await consoleEl().getByLabel('Alias', { exact: true }).fill('production');
    await consoleEl().getByRole('button', { name: 'Point the alias' }).click();
    await expect
      .poll(() => consoleEl().locator('dl').innerText(), POLL)
      .toMatch(/Aliases\s+production/);

    await consoleEl()
      .getByRole('button', { name: `Delete head ${headId}` })
      .click();
    await alert().waitFor();
    expect(await alert().innerText()).toMatch(/production/);
    expect(await heading().innerText()).toBe(`Head ${headId}`);

    await consoleEl().locator('input[type=file][accept]').setInputFiles(BEE);
    await consoleEl().locator('.bars li').first().waitFor({ timeout: 60_000 });
    expect(await consoleEl().locator('.bars').innerText()).toMatch(/ants|bees/);
    expect(await consoleEl().locator('.bars li').count()).toBe(2);
    expect(
      await consoleEl()
        .getByText(/Edge: [\d.]+ ms · round trip: \d+ ms/)
        .count(),
    ).toBe(1);
    await checkView('head');

    await page.goto(`${edge.url}/console#heads`);
    await expect.poll(() => heading().innerText(), POLL).toBe('Heads and aliases');
    expect(await consoleEl().locator('table').first().innerText()).toContain(headId);
    expect(await consoleEl().locator('table', { hasText: 'Your aliases' }).innerText()).toMatch(
      new RegExp(`production\\s+${headId}`),
    );
    await checkView('heads');
  });

  it('compares the jobs of a batch side by side', async () => {
    const submitted = await fetch(`${edge.url}/v1/fine-tunes/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${edge.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        jobs: [1, 2].map((epochs) => ({
          datasetId,
          backbone: 'mobilenet-v2-0.35',
          strategy: 'feature_extraction',
          epochs,
        })),
      }),
    });
    expect(submitted.status).toBe(201);
    const batch = (await submitted.json()) as { batchId: string; jobs: { id: string }[] };
    const comparison = () => consoleEl().locator('table', { hasText: 'compared' });
    await page.goto(`${edge.url}/console#jobs/batch/${batch.batchId}`);
    await expect
      .poll(
        async () => {
          await page.reload();
          await comparison().waitFor();
          return (await comparison().innerText()).match(/succeeded/g)?.length ?? 0;
        },
        { timeout: 120_000, interval: 1000 },
      )
      .toBe(2);
    expect(await heading().innerText()).toBe(`Batch ${batch.batchId}`);
    const rows = await comparison().locator('tbody tr').allInnerTexts();
    expect(rows.map((r) => r.split('\t')[0])).toEqual(batch.jobs.map((j) => j.id));
    for (const row of rows)
      expect(row).toMatch(/feature extraction\thead only\t\d+\.\d%\t\d+\.\d s\thead_/);
    await checkView('batch');
    await comparison().getByRole('link', { name: batch.jobs[0]!.id }).click();
    await expect.poll(() => heading().innerText(), POLL).toBe(`Job ${batch.jobs[0]!.id}`);
    await consoleEl()
      .getByRole('link', { name: /^compare the jobs of/ })
      .click();
    await expect.poll(() => heading().innerText(), POLL).toBe(`Batch ${batch.batchId}`);
  }, 150_000);

  it('shows a failed job’s error in plain words', async () => {
    // A job whose dataset is deleted while it waits: the next worker cannot read the dataset.
    const auth = { authorization: `Bearer ${edge.apiKey}` };
    const entries = [];
    for (const split of ['train', 'val'])
      for (const label of ['ants', 'bees']) {
        const dir = path.join(HYMENOPTERA, split, label);
        for (const file of (await readdir(dir)).sort().slice(0, 2))
          entries.push({
            name: `${split}/${label}/${file}`,
            data: await readFile(path.join(dir, file)),
            method: 'store' as const,
          });
      }
    const uploaded = await fetch(`${edge.url}/v1/datasets?name=doomed`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/zip' },
      body: new Uint8Array(buildZip(entries)),
    });
    expect(uploaded.status).toBe(201);
    const doomed = ((await uploaded.json()) as { id: string }).id;
    await worker?.stop();
    worker = undefined;
    const submitted = await fetch(`${edge.url}/v1/fine-tunes`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        datasetId: doomed,
        backbone: 'mobilenet-v2-0.35',
        epochs: 1,
      }),
    });
    expect(submitted.status).toBe(201);
    const jobId = ((await submitted.json()) as { id: string }).id;
    const deleted = await fetch(`${edge.url}/v1/datasets/${doomed}`, {
      method: 'DELETE',
      headers: auth,
    });
    expect(deleted.status).toBe(204);
    worker = await startInProcessWorker(edge, { workerId: 'console-test-worker-2', threads: 1 });

    await page.goto(`${edge.url}/console#jobs/${jobId}`);
    await expect.poll(() => heading().innerText(), POLL).toBe(`Job ${jobId}`);
    const failure = consoleEl().locator('p.alert', { hasText: 'This job failed' });
    await failure.waitFor({ timeout: 60_000 });
    const text = await failure.innerText();
    // A deleted dataset cannot come back: the worker fails the job at once, with no retry left
    // for the default maxAttempts to spend.
    expect(text).toMatch(/failed after 1 attempt\(s\)/);
    expect(text).toMatch(/What went wrong: the job's dataset was deleted before training began/);
    expect(text).toContain(`the dataset of job ${jobId} no longer exists`);
    expect(await consoleEl().locator('[aria-live]').allInnerTexts()).toContainEqual(
      expect.stringMatching(/Status: failed/),
    );
    expect(await consoleEl().getByRole('button', { name: 'Cancel the job' }).isHidden()).toBe(true);
    await checkView('job-failed');
  }, 90_000);

  it('pages each list with "Show older" until every item shows once', async () => {
    // Four more small datasets (five in all), and the jobs (four) and heads (three) so far: with
    // two items a page, every list needs more than one.
    const auth = { authorization: `Bearer ${edge.apiKey}` };
    const entries = [];
    for (const split of ['train', 'val'])
      for (const label of ['ants', 'bees']) {
        for (const file of (await readdir(path.join(HYMENOPTERA, split, label))).sort().slice(0, 2))
          entries.push({
            name: `${split}/${label}/${file}`,
            data: await readFile(path.join(HYMENOPTERA, split, label, file)),
            method: 'store' as const,
          });
      }
    const extra: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const res = await fetch(`${edge.url}/v1/datasets?name=paged-${i}`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/zip' },
        body: new Uint8Array(buildZip(entries)),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      extra.push(((await res.json()) as { id: string }).id);
    }
    try {
      const views = [
        ['datasets', 'Datasets', 'Your datasets', '/v1/datasets', 'datasets', 'name'],
        ['jobs', 'Fine-tunes', 'Your fine-tune jobs', '/v1/fine-tunes', 'jobs', 'id'],
        ['heads', 'Heads and aliases', 'Your heads', '/v1/heads', 'heads', 'id'],
      ] as const;
      for (const [hash, title, caption, api, key, field] of views) {
        const all = await listed(api, key, field);
        expect(all.length, hash).toBeGreaterThan(2);
        await page.goto(`${edge.url}/console?page-size=2#${hash}`);
        await expect.poll(() => heading().innerText(), POLL).toBe(title);
        if (hash === 'datasets') await checkView('datasets-paged');
        const { rows, counts } = await showAll(caption);
        // Two a page, appended below what was shown; every item once, newest first, as the API lists them.
        expect(counts[0], hash).toBe(2);
        expect(counts.slice(1), hash).toEqual(
          counts.slice(1).map((_, i) => Math.min(2 * (i + 2), all.length)),
        );
        expect(rows, hash).toEqual(all);
        expect(new Set(rows).size, hash).toBe(all.length);
        expect(await alert().isHidden(), hash).toBe(true);
      }
    } finally {
      for (const id of extra)
        await fetch(`${edge.url}/v1/datasets/${id}`, { method: 'DELETE', headers: auth });
    }
  }, 120_000);

  it('deletes the dataset', async () => {
    await page.goto(`${edge.url}/console#datasets/${datasetId}`);
    await consoleEl()
      .getByRole('button', { name: /^Delete dataset/ })
      .click();
    await expect.poll(() => heading().innerText(), POLL).toBe('Datasets');
    expect(await consoleEl().locator('[aria-live]').first().innerText()).toMatch(/Deleted dataset/);
    expect(await consoleEl().getByText('No datasets yet').count()).toBe(1);
    const res = await fetch(`${edge.url}/v1/datasets/${datasetId}`, {
      headers: { authorization: `Bearer ${edge.apiKey}` },
    });
    expect(res.status).toBe(404);

    // The head stays; its confusion cells still list their photos, by name only now.
    await page.goto(`${edge.url}/console#heads/${headId}`);
    await expect.poll(() => heading().innerText(), POLL).toBe(`Head ${headId}`);
    const cell = consoleEl().locator('table', { hasText: 'Confusion matrix' }).locator('td button');
    const k = (await cell.allInnerTexts()).findIndex((n) => Number(n) > 0);
    await cell.nth(k).click();
    await consoleEl()
      .getByText(/has been deleted, so its photos cannot be shown/)
      .waitFor();
    expect(await consoleEl().locator('ul.photos li').count()).toBe(
      Number(await cell.nth(k).innerText()),
    );
    expect(await consoleEl().locator('ul.photos img').count()).toBe(0);
  });

  it('shows the API’s reason when it refuses an archive', async () => {
    await page.goto(`${edge.url}/console#datasets`);
    await expect.poll(() => heading().innerText(), POLL).toBe('Datasets');
    await consoleEl()
      .getByLabel('Or a .zip archive', { exact: true })
      .setInputFiles({
        name: 'broken.zip',
        mimeType: 'application/zip',
        buffer: Buffer.from('PK not really a zip archive'),
      });
    expect(await consoleEl().getByLabel('Dataset name', { exact: true }).inputValue()).toBe(
      'broken',
    );
    await consoleEl().getByRole('button', { name: 'Upload' }).click();
    await alert().waitFor();
    expect(await alert().innerText()).toMatch(/zip|archive/i);
    expect(await alert().innerText()).toMatch(/\(request [\w-]+\)/);
    expect(await consoleEl().getByText('No datasets yet').count()).toBe(1);
  });

  it('works from the keyboard with a visible focus ring', async () => {
    await page.goto(`${edge.url}/console#datasets`);
    await page.reload();
    await expect.poll(() => heading().innerText(), POLL).toBe('Datasets');
    // The page's own links first, then into the console: its first stop is the nav.
    let focused = '';
    for (let i = 0; i < 6 && focused !== 'Datasets'; i++) {
      await page.keyboard.press('Tab');
      focused = await page.evaluate(
        () =>
          document.querySelector('headstart-console')?.shadowRoot?.activeElement?.textContent ?? '',
      );
    }
    expect(focused).toBe('Datasets');
    await page.keyboard.press('Tab');
    const ring = await page.evaluate(() => {
      const el = document.querySelector('headstart-console')!.shadowRoot!.activeElement!;
      const style = getComputedStyle(el);
      return { text: el.textContent, outline: style.outlineStyle, width: style.outlineWidth };
    });
    expect(ring.text).toBe('Fine-tunes');
    expect(ring.outline).toBe('solid');
    expect(parseFloat(ring.width)).toBeGreaterThanOrEqual(2);
    await page.keyboard.press('Enter');
    await expect.poll(() => heading().innerText(), POLL).toBe('Fine-tunes');
    expect(page.url()).toMatch(/#jobs$/);
  });

  it('signs out and forgets the key; "remember" keeps it across a reload until then', async () => {
    await page.goto(`${edge.url}/console#jobs`);
    await expect.poll(() => heading().innerText(), POLL).toBe('Fine-tunes');
    await consoleEl().getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => heading().innerText(), POLL).toBe('Sign in');
    expect(await stored()).toEqual({ session: null, local: null });

    await signIn(edge.apiKey, true);
    await expect.poll(() => heading().innerText(), POLL).toBe('Fine-tunes');
    expect(await stored()).toEqual({ session: null, local: edge.apiKey });
    const fresh = await page.context().newPage();
    try {
      await fresh.goto(`${edge.url}/console#heads`);
      await expect
        .poll(() => fresh.locator('headstart-console h2').innerText(), POLL)
        .toBe('Heads and aliases');
    } finally {
      await fresh.close();
    }
    await consoleEl().getByRole('button', { name: 'Sign out' }).click();
    await expect.poll(() => heading().innerText(), POLL).toBe('Sign in');
    expect(await stored()).toEqual({ session: null, local: null });
  });

  it('raised no page errors', () => {
    expect(problems).toEqual([]);
  });
});
