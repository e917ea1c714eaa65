// The pages people read for longest — the lesson and the API docs — checked with axe-core in
// Chromium against a real local edge: no serious or critical accessibility violation, in light
// and dark colour schemes, at desktop and phone widths.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalEdge, type LocalEdge } from '../../scripts/lib/local-edge.js';
import { MODELS_SOURCE, TEST_MODELS } from '../support/paths.js';
import { tempDir } from '../support/temp.js';

const CHROMIUM = process.env.HEADSTART_CHROMIUM ?? '/usr/bin/chromium';
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let edge: LocalEdge;
let browser: Browser;
let axeSource: string;

interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  axeSource = await readFile(AXE, 'utf8');
  edge = await startLocalEdge(await tempDir('a11y-edge'), {
    modelsSource: MODELS_SOURCE,
    modelsOut: TEST_MODELS,
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await edge?.stop();
});

/** axe-core's serious and critical findings on one page, as readable lines. */
async function audit(
  path: string,
  opts: { colorScheme: 'light' | 'dark'; width: number },
): Promise<string[]> {
  const page = await browser.newPage({
    viewport: { width: opts.width, height: 900 },
    colorScheme: opts.colorScheme,
  });
  try {
    const res = await page.goto(`${edge.url}${path}`);
    expect(res?.status()).toBe(200);
    // The page's CSP allows no inline scripts; axe is evaluated through the DevTools protocol.
    await page.evaluate(axeSource);
    const violations = await page.evaluate(async () => {
      const axe = (
        window as unknown as { axe: { run: () => Promise<{ violations: Violation[] }> } }
      ).axe;
      return (await axe.run()).violations;
    });
    return violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map(
        (v) =>
          `${v.id} (${v.impact}, ${v.nodes.length} node(s)): ${v.help} — e.g. ${v.nodes
            .slice(0, 3)
            .map((n) => n.target.join(' '))
            .join('; ')}`,
      );
  } finally {
    await page.close();
  }
}

describe('the pages people read, under axe-core', () => {
  for (const path of ['/', '/lessons/cv-transfer-learning', '/docs']) {
    for (const colorScheme of ['light', 'dark'] as const) {
      for (const width of [1200, 390]) {
        it(`${path}, ${colorScheme}, ${width} px wide: no serious or critical violation`, async () => {
          expect(await audit(path, { colorScheme, width })).toEqual([]);
        }, 60_000);
      }
    }
  }
});
