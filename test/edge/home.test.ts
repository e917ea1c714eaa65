// The landing page inside workerd: it answers / instead of a 404, every link on it leads to a
// page that exists, its first request names this edge, and only a local system shows whether a
// worker is connected (counted from the real D1 the lease route writes).
import { SELF } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import { freshState, lease, workerToken } from './jobs-helpers.js';

beforeEach(freshState);

const page = async (origin: string) => {
  const res = await SELF.fetch(`${origin}/`);
  return { res, html: await res.text() };
};

describe('the landing page', () => {
  it('says what Headstart is, and every link on it resolves', async () => {
    const { res, html } = await page('https://edge.test');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(html).toContain('<h1>Headstart</h1>');
    expect(html).not.toContain('<script');
    const links = [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!);
    expect(links).toEqual(
      expect.arrayContaining(['/lessons/cv-transfer-learning', '/docs', '/openapi.json']),
    );
    for (const link of links) {
      const target = await SELF.fetch(`https://edge.test${link}`);
      expect(target.status, link).toBe(200);
      await target.body?.cancel();
    }
  });

  it('gives a first request to copy that names this edge', async () => {
    const { html } = await page('https://headstart.example.com');
    expect(html).toContain('https://headstart.example.com/v1/classify?topK=3');
    expect(html).toContain('--data-binary @bee.jpg');
  });

  it('shows a local system whether a worker is connected, and nobody else', async () => {
    const before = await page('http://127.0.0.1:8787');
    expect(before.html).toContain('No worker connected');
    expect(before.res.headers.get('cache-control')).toBe('no-store');

    const token = await workerToken();
    const polled = await lease(token, { waitSeconds: 0, workerId: 'gpu-1', provider: 'cuda' });
    expect(polled.status).toBe(204);
    const after = await page('http://localhost:8787');
    expect(after.html).toContain('1 worker connected');
    expect(after.html).toContain('(cuda)');

    const remote = await page('https://edge.test');
    expect(remote.html).not.toMatch(/worker(s)? connected/i);
  });
});
