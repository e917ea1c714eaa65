// The edge test project: tests run inside workerd with the real local R2 simulator.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineConfig } from 'vitest/config';

const FIXTURE_ROOT = path.resolve(import.meta.dirname, '.cache', 'test');

/** Serves generated fixtures (converted models, Node reference tensors) to tests in workerd. */
async function serveFixture(request: Request): Promise<Response> {
  const file = path.resolve(FIXTURE_ROOT, `.${decodeURIComponent(new URL(request.url).pathname)}`);
  if (!file.startsWith(`${FIXTURE_ROOT}${path.sep}`))
    return new Response('outside the fixture root', { status: 403 });
  try {
    return new Response(await readFile(file));
  } catch {
    return new Response(`no fixture ${file}`, { status: 404 });
  }
}

/**
 * Markdown imported as text, as wrangler.toml's `Text` rule does for the deployed Worker (vite
 * would otherwise try to parse lessons as JavaScript).
 */
const markdownAsText = {
  name: 'headstart-markdown-as-text',
  async load(id: string) {
    if (!id.endsWith('.md')) return null;
    return `export default ${JSON.stringify(await readFile(id, 'utf8'))};`;
  },
};

export default defineConfig({
  plugins: [
    markdownAsText,
    cloudflareTest(async () => ({
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        serviceBindings: { FIXTURES: serveFixture },
        // Applied to the local D1 by test/edge/setup.ts before each test file.
        bindings: {
          TEST_MIGRATIONS: await readD1Migrations(path.resolve(import.meta.dirname, 'migrations')),
          // The workerd tests seed the small backbones and classify with them by default (the
          // deployment knob wrangler.toml sets to mobilenet-v2-1.0; test/edge/backbones.test.ts
          // runs that one by name).
          DEFAULT_CLASSIFIER: 'mobilenet-v1-0.25',
          // Short heartbeats, so a test can watch a silent job's stream for a second and see several.
          EVENTS_HEARTBEAT_SECONDS: '0.2',
          // Short memories, so test/edge/serving-rules.test.ts can watch a change made behind an
          // isolate's back arrive within the bound; usage writes gathered briefly.
          KEY_VERDICT_SECONDS: '1',
          RESOLVE_SECONDS: '1',
          USAGE_FLUSH_SECONDS: '0.2',
        },
      },
    })),
  ],
  test: {
    name: 'edge',
    include: ['test/edge/**/*.test.ts', 'test/shared/**/*.test.ts'],
    setupFiles: ['test/edge/setup.ts'],
    testTimeout: 60_000,
  },
});
