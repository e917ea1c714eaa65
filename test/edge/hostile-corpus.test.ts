// A corpus of hostile and malformed requests across classify, datasets, jobs, heads, lessons,
// tenant backbones and the internal worker API, run inside workerd against real state: each gets its specific 4xx
// problem+json with a stable code (and the field at fault), none a 5xx, stored state (D1 rows,
// R2 objects, the coordinator's tables) stays exactly as it was, and the edge keeps serving.
import { SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKBONE_CASES } from './hostile/cases-backbones.js';
import { CLASSIFY_CASES } from './hostile/cases-classify.js';
import { DATASET_CASES } from './hostile/cases-datasets.js';
import { HEAD_CASES } from './hostile/cases-heads.js';
import { INTERNAL_CASES } from './hostile/cases-internal.js';
import { JOB_CASES } from './hostile/cases-jobs.js';
import { LESSON_CASES } from './hostile/cases-lessons.js';
import { AREAS, send, statusOf, type HostileCase } from './hostile/corpus.js';
import { snapshot, type StoredState } from './hostile/snapshot.js';
import { buildWorld, type World } from './hostile/world.js';

const CORPUS: readonly HostileCase[] = [
  ...CLASSIFY_CASES,
  ...DATASET_CASES,
  ...JOB_CASES,
  ...HEAD_CASES,
  ...LESSON_CASES,
  ...BACKBONE_CASES,
  ...INTERNAL_CASES,
];

let world: World;
let initial: StoredState;

beforeAll(async () => {
  world = await buildWorld();
  initial = await snapshot();
}, 120_000);

describe('the corpus', () => {
  it('has at least 100 distinct cases, covering every area', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(100);
    expect(new Set(CORPUS.map((c) => `${c.area} ${c.name}`)).size).toBe(CORPUS.length);
    for (const area of AREAS)
      expect(CORPUS.filter((c) => c.area === area).length).toBeGreaterThan(0);
  });
});

describe.each(AREAS)('%s', (area) => {
  it.each(
    CORPUS.filter((c) => c.area === area).map(
      (c) => [`${c.name} → ${statusOf(c)} ${c.code}`, c] as const,
    ),
  )('%s', async (_, c) => {
    const before = await snapshot();
    const res = await send(c, world);
    const text = await res.text();
    expect(res.status, text).toBeLessThan(500);
    expect(res.status, text).toBe(statusOf(c));
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const body: unknown = JSON.parse(text);
    expect(body, text).toMatchObject({
      status: statusOf(c),
      code: c.code,
      ...(c.field === undefined ? {} : { field: c.field }),
    });
    expect(body).toHaveProperty('requestId', expect.any(String));
    expect(await snapshot()).toEqual(before);
  });
});

describe('afterwards', () => {
  it('leaves every stored row, object and coordinator record as it was', async () => {
    // Anything a request queued (a job registration) would land within the queue's 1 s batch.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await snapshot()).toEqual(initial);
  });

  it('keeps serving: health, listings and a real classification with a trained head', async () => {
    expect((await SELF.fetch('https://edge.test/healthz')).status).toBe(200);
    const heads = await SELF.fetch('https://edge.test/v1/heads', {
      headers: { authorization: `Bearer ${world.a.apiKey}` },
    });
    const listed = await heads.json<{ heads: { id: string; aliases: string[] }[] }>();
    expect(
      listed.heads
        .map((h) => ({ id: h.id, aliases: h.aliases }))
        .sort((x, y) => (x.id < y.id ? -1 : 1)),
    ).toEqual(
      [
        { id: world.headA, aliases: ['production'] },
        { id: world.headOnTinyA, aliases: [] },
      ].sort((x, y) => (x.id < y.id ? -1 : 1)),
    );
    const res = await SELF.fetch(
      `https://edge.test/v1/classify?model=mobilenet-v1-0.25,${world.aliasA}`,
      {
        method: 'POST',
        headers: { 'content-type': 'image/jpeg', authorization: `Bearer ${world.a.apiKey}` },
        body: world.photos.jpeg,
      },
    );
    expect(res.status).toBe(200);
    const body = await res.json<{ results: { model: string; predictions: unknown[] }[] }>();
    expect(body.results.map((r) => r.model)).toEqual(['mobilenet-v1-0.25', world.aliasA]);
    expect(body.results[1]!.predictions).toHaveLength(2);
  });
});
