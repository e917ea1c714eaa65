// The edge app in workerd with the real local R2: model listing, problem+json errors, CORS,
// and the integrity check on stored weights.
import { SELF, createExecutionContext, reset } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { beforeEach, describe, expect, it } from 'vitest';
import { backboneKeys } from '../../src/shared/backbones.js';
import { app } from '../../src/edge/app.js';
import {
  evictBackboneSession,
  loadBackboneSession,
} from '../../src/edge/classification/model-store.js';
import { ApiError } from '../../src/edge/errors.js';
import { fixtureBytes, seedBackbone } from './fixtures.js';

// Each test builds its own storage.
beforeEach(async () => {
  await reset();
});

const get = (path: string, init?: RequestInit) => SELF.fetch(`https://edge.test${path}`, init);

describe('GET /v1/models', () => {
  it('lists the imported backbones with their dimensions, without the label table', async () => {
    await seedBackbone('mobilenet-v1-0.25');
    await seedBackbone('mobilenet-v2-0.35');
    const res = await get('/v1/models');
    expect(res.status).toBe(200);
    const body = await res.json<{
      models: { id: string; embeddingDim: number; numLabels: number; id2label?: unknown }[];
    }>();
    expect(body.models.map((m) => [m.id, m.embeddingDim, m.numLabels])).toEqual([
      ['mobilenet-v1-0.25', 256, 1000],
      ['mobilenet-v2-0.35', 1280, 0],
    ]);
    expect(body.models[0]!.id2label).toBeUndefined();
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });

  it('returns an empty list when nothing is imported', async () => {
    const res = await get('/v1/models');
    expect(await res.json()).toEqual({ models: [] });
  });

  it('returns one manifest with its labels', async () => {
    await seedBackbone('mobilenet-v1-0.25');
    const res = await get('/v1/models/mobilenet-v1-0.25');
    const manifest = await res.json<{
      id2label: Record<string, string>;
      preprocessing: { crop: unknown };
    }>();
    expect(manifest.id2label['309']).toBe('bee');
    expect(manifest.preprocessing.crop).toEqual({ width: 224, height: 224 });
  });
});

describe('the catalogue rate limit', () => {
  it('costs one token of the client address per request, key or not; past it, 429 with Retry-After', async () => {
    await seedBackbone('mobilenet-v1-0.25');
    const keys: string[] = [];
    let success = true;
    const limiter = {
      limit: ({ key }: { key: string }) => {
        keys.push(key);
        return Promise.resolve({ success });
      },
    };
    const fetchApp = (path: string, headers: Record<string, string> = {}) =>
      app.fetch(
        new Request(`https://edge.test${path}`, {
          headers: { 'cf-connecting-ip': '203.0.113.7', ...headers },
        }),
        { ...env, CATALOGUE_LIMITER: limiter },
        createExecutionContext(),
      );
    expect((await fetchApp('/v1/models')).status).toBe(200);
    expect((await fetchApp('/v1/models/mobilenet-v1-0.25')).status).toBe(200);
    // The catalogue checks no credential, so an invented one buys no fresh allowance.
    const invented = { authorization: 'Bearer hs_key_invented-to-dodge-the-limit' };
    expect((await fetchApp('/v1/models/resnet-999', invented)).status).toBe(404);
    expect(keys).toEqual(['ip:203.0.113.7', 'ip:203.0.113.7', 'ip:203.0.113.7']);

    success = false;
    for (const path of ['/v1/models', '/v1/models/mobilenet-v1-0.25']) {
      const res = await fetchApp(path);
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('60');
      // Readable by a page on another origin (the widgets call the catalogue cross-origin).
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(await res.json()).toMatchObject({ code: 'rate_limited' });
    }
  });
});

describe('errors are problem+json', () => {
  it('names the field for an unknown model', async () => {
    const res = await get('/v1/models/resnet-999');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body = await res.json<{
      code: string;
      field: string;
      status: number;
      requestId: string;
      detail: string;
    }>();
    expect(body).toMatchObject({ code: 'not_found', field: 'path.id', status: 404 });
    expect(body.detail).toContain('resnet-999');
    expect(body.requestId).toBe(res.headers.get('x-request-id'));
  });

  it('treats ids that could escape the prefix as unknown', async () => {
    const res = await get(`/v1/models/${encodeURIComponent('../backbones')}`);
    expect(res.status).toBe(404);
    expect((await res.json<{ code: string }>()).code).toBe('not_found');
  });

  it('answers unknown routes with a 404 problem', async () => {
    const res = await get('/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'not_found', title: 'Not found' });
  });

  it('answers CORS preflight for the public API', async () => {
    const res = await get('/v1/models', {
      method: 'OPTIONS',
      headers: { origin: 'https://example.org', 'access-control-request-method': 'GET' },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });
});

describe('API reference', () => {
  it('serves an OpenAPI 3.1 document covering the public routes', async () => {
    const res = await get('/openapi.json');
    expect(res.status).toBe(200);
    const doc = await res.json<{
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    }>();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/models',
        '/v1/models/{id}',
        '/v1/classify',
        '/v1/classify/batch',
        '/v1/heads',
        '/v1/heads/{id}',
        '/v1/heads/{id}/download',
        '/v1/aliases/{name}',
      ]),
    );
    expect(Object.keys(doc.paths['/v1/classify']!)).toEqual(['post']);
    expect(Object.keys(doc.paths['/v1/heads/{id}']!).sort()).toEqual(['delete', 'get']);
    expect(Object.keys(doc.paths['/v1/aliases/{name}']!).sort()).toEqual(['delete', 'get', 'put']);
  });

  it('documents only routes that exist, and every public route the API serves', async () => {
    const doc = await (
      await get('/openapi.json')
    ).json<{
      paths: Record<string, Record<string, unknown>>;
    }>();
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`),
    );
    for (const route of documented) {
      const [method, path] = route.split(' ') as [string, string];
      const url = path.replace(/\{[a-z0-9]+\}/gi, 'x');
      const res = await SELF.fetch(`https://edge.test${url}`, { method });
      const body = await res.text();
      // The router's own 404 says "no route for"; a handler's 401/400/404 means it is routed.
      expect(body, route).not.toContain('no route for');
    }
    for (const route of [
      'POST /v1/classify',
      'POST /v1/classify/batch',
      'GET /v1/models',
      'POST /v1/datasets',
      'GET /v1/datasets/{id}',
      'GET /v1/datasets/{id}/images',
      'GET /v1/datasets/{id}/images/{sha256}',
      'POST /v1/fine-tunes',
      'POST /v1/fine-tunes/batch',
      'GET /v1/fine-tunes/{id}/events',
      'POST /v1/fine-tunes/{id}/cancel',
      'GET /v1/batches/{id}',
      'GET /v1/heads',
      'DELETE /v1/heads/{id}',
      'PUT /v1/aliases/{name}',
    ])
      expect(documented, route).toContain(route);
  });

  it('renders a readable docs page without third-party scripts', async () => {
    const res = await get('/docs');
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toContain('<code>/v1/classify</code>');
    expect(html).toContain(
      'Classify a photo with a backbone’s ImageNet classifier or your trained heads',
    );
    expect(html).toContain('/v1/heads/{id}/download');
    expect(html).not.toMatch(/<script/i);
  });
});

describe('diagnostics', () => {
  it('are off unless the DIAGNOSTICS var is "true"', async () => {
    const res = await get('/internal/diagnostics/memory');
    expect(res.status).toBe(404);
    expect((await res.json<{ code: string }>()).code).toBe('not_found');
  });
});

describe('loadBackboneSession', () => {
  it('shares one load between concurrent callers', async () => {
    await seedBackbone('mobilenet-v2-0.35');
    evictBackboneSession('mobilenet-v2-0.35');
    const [a, b] = await Promise.all([
      loadBackboneSession(env.MODELS, 'mobilenet-v2-0.35'),
      loadBackboneSession(env.MODELS, 'mobilenet-v2-0.35'),
    ]);
    expect(a).toBe(b);
    expect(a.manifest.id).toBe('mobilenet-v2-0.35');
  });

  it('refuses weights that fail the integrity check, and retries on the next call', async () => {
    await seedBackbone('mobilenet-v1-0.25');
    const model = await fixtureBytes('models/mobilenet-v1-0.25/model.onnx');
    const tampered = model.slice();
    tampered[tampered.length - 10] = tampered[tampered.length - 10]! ^ 1;
    await env.MODELS.put(backboneKeys('mobilenet-v1-0.25').model, tampered);
    evictBackboneSession('mobilenet-v1-0.25');
    const error: unknown = await loadBackboneSession(env.MODELS, 'mobilenet-v1-0.25').then(
      () => 'loaded',
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(ApiError);
    expect(error instanceof ApiError && error.code).toBe('model_unavailable');
    // Repaired storage is picked up: the failed load was not cached.
    await env.MODELS.put(backboneKeys('mobilenet-v1-0.25').model, model);
    expect((await loadBackboneSession(env.MODELS, 'mobilenet-v1-0.25')).manifest.id).toBe(
      'mobilenet-v1-0.25',
    );
  });
});
