// The credential boundaries, checked inside workerd: API keys and worker tokens are stored only as
// hashes; a worker token opens no public route and an API key no internal one; revoked keys stop
// working; and the pages a browser gets carry the right headers for what they are.
import { SELF } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/shared/secrets.js';
import { freshState, tenant, workerToken } from './jobs-helpers.js';

beforeEach(freshState);

const call = (path: string, key: string, init: RequestInit = {}) =>
  SELF.fetch(`https://edge.test${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, ...init.headers },
  });

const PUBLIC_WITH_KEY = [
  ['GET', '/v1/datasets'],
  ['GET', '/v1/fine-tunes'],
  ['GET', '/v1/heads'],
  ['GET', '/v1/aliases'],
  ['GET', '/v1/batches/batch_x'],
] as const;

describe('credentials', () => {
  it('stores API keys and worker tokens only as sha256 hashes', async () => {
    const { apiKey } = await tenant();
    const token = await workerToken();
    const dump = JSON.stringify([
      (await env.DB.prepare('SELECT * FROM api_keys').all()).results,
      (await env.DB.prepare('SELECT * FROM worker_tokens').all()).results,
      (await env.DB.prepare('SELECT * FROM tenants').all()).results,
    ]);
    expect(dump).not.toContain(apiKey);
    expect(dump).not.toContain(token);
    expect(dump).toContain(await hashSecret(apiKey));
    expect(dump).toContain(await hashSecret(token));
  });

  it('refuses a worker token on every route that needs an API key', async () => {
    const token = await workerToken();
    for (const [method, path] of PUBLIC_WITH_KEY) {
      const res = await call(path, token, { method });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(await res.json(), path).toMatchObject({
        code: 'unauthorized',
        field: 'header.authorization',
      });
    }
  });

  it('refuses an API key on the internal worker API', async () => {
    const { apiKey } = await tenant();
    for (const [method, path] of [
      ['POST', '/internal/v1/leases'],
      ['POST', '/internal/v1/jobs/job_x/heartbeat'],
      ['GET', '/internal/v1/backbones/mobilenet-v2-0.35/manifest.json'],
    ] as const) {
      const res = await call(path, apiKey, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
  });
  // Revocation: test/edge/serving-rules.test.ts (at once through the API, within
  // KEY_VERDICT_SECONDS when made elsewhere).
});

describe('response headers', () => {
  it('opens the public API to every origin, with credentials in headers rather than cookies', async () => {
    const res = await SELF.fetch('https://edge.test/v1/models', {
      headers: { origin: 'https://elsewhere.example' },
    });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('lets any site frame the embed pages but not the lesson pages', async () => {
    const embed = await SELF.fetch('https://edge.test/embed/quiz?lesson=cv-transfer-learning');
    const page = await SELF.fetch('https://edge.test/lessons/cv-transfer-learning');
    expect(embed.headers.get('content-security-policy')).toContain('frame-ancestors *');
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'self'");
    for (const res of [embed, page]) {
      expect(res.headers.get('x-frame-options')).toBeNull();
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    }
  });
});
