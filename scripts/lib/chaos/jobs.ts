// The chaos harness's workload: small real datasets, a seeded mix of cheap fine-tune jobs, and
// the tenant API calls that upload, submit and read them back.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { HeadSummarySchema, type HeadSummary } from '../../../src/shared/heads.js';
import { JobViewSchema } from '../../../src/shared/jobs.js';
import type { Rng } from '../../../src/shared/random.js';
import { storedZip } from '../../../src/shared/zip-store.js';

/** A job as the public API shows it. */
export type Job = z.infer<typeof JobViewSchema>;

/** A tenant's view of the public API. */
export class TenantApi {
  constructor(
    readonly url: string,
    private readonly apiKey: string,
  ) {}

  async call<T>(schema: z.ZodType<T>, route: string, init: RequestInit = {}) {
    const res = await fetch(`${this.url}${route}`, {
      ...init,
      headers: { authorization: `Bearer ${this.apiKey}`, ...init.headers },
    });
    const text = await res.text();
    if (!res.ok)
      throw new Error(`${init.method ?? 'GET'} ${route} answered ${res.status}: ${text}`);
    return { status: res.status, body: schema.parse(JSON.parse(text)) };
  }

  /** The job, or null when the edge has no record of it (404). */
  async job(id: string): Promise<Job | null> {
    const res = await fetch(`${this.url}/v1/fine-tunes/${id}`, {
      headers: { authorization: `Bearer ${this.apiKey}` },
    });
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`GET /v1/fine-tunes/${id} answered ${res.status}`);
    return JobViewSchema.parse(await res.json());
  }

  /** Every job the coordinator knows, across pages. */
  async jobs(): Promise<Job[]> {
    const page = z.object({ jobs: z.array(JobViewSchema), nextCursor: z.string().nullable() });
    return this.pages('/v1/fine-tunes', async (route) => {
      const { body } = await this.call(page, route);
      return { items: body.jobs, nextCursor: body.nextCursor };
    });
  }

  /** Every live head of the tenant, across pages. */
  async heads(): Promise<HeadSummary[]> {
    const page = z.object({ heads: z.array(HeadSummarySchema), nextCursor: z.string().nullable() });
    return this.pages('/v1/heads', async (route) => {
      const { body } = await this.call(page, route);
      return { items: body.heads, nextCursor: body.nextCursor };
    });
  }

  private async pages<T>(
    route: string,
    read: (route: string) => Promise<{ items: T[]; nextCursor: string | null }>,
  ): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | null = null;
    do {
      const page = await read(`${route}?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      out.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return out;
  }
}

/**
 * Several tenants seen as one: each job is read through the tenant that submitted it, and the
 * listings are every tenant's together. With coordinator shards chosen by tenant, the chaos run's
 * jobs land in several shards.
 */
export class Tenants {
  private readonly owners = new Map<string, TenantApi>();

  constructor(readonly apis: readonly TenantApi[]) {}

  /** Records that `api` submitted the jobs `ids`. */
  own(api: TenantApi, ids: readonly string[]): void {
    for (const id of ids) this.owners.set(id, api);
  }

  /** The job through its tenant, or null when the edge has no record of it or no tenant sent it. */
  async job(id: string): Promise<Job | null> {
    return (await this.owners.get(id)?.job(id)) ?? null;
  }

  async jobs(): Promise<Job[]> {
    return (await Promise.all(this.apis.map((api) => api.jobs()))).flat();
  }

  async heads(): Promise<HeadSummary[]> {
    return (await Promise.all(this.apis.map((api) => api.heads()))).flat();
  }
}

/** A dataset to upload: some classes of an ImageFolder tree, the first images of each split. */
export interface DatasetPlan {
  readonly name: string;
  readonly folder: string;
  readonly classes?: readonly string[];
  readonly perClass: { readonly train: number; readonly val: number };
}

/** Two real photo sets, and a 3-class cut of the second that reuses its embeddings. */
export const CHAOS_DATASETS: readonly DatasetPlan[] = [
  { name: 'chaos-hymenoptera', folder: 'hymenoptera_data', perClass: { train: 40, val: 20 } },
  { name: 'chaos-flowers', folder: 'flower_photos_subset', perClass: { train: 24, val: 12 } },
  {
    name: 'chaos-flowers-3',
    folder: 'flower_photos_subset',
    classes: ['daisy', 'roses', 'tulips'],
    perClass: { train: 24, val: 12 },
  },
];

async function zipOf(datasetsDir: string, plan: DatasetPlan): Promise<Uint8Array> {
  const files: { name: string; data: Uint8Array }[] = [];
  for (const split of ['train', 'val'] as const) {
    const root = path.join(datasetsDir, plan.folder, split);
    const classes = plan.classes ?? (await readdir(root)).sort();
    for (const label of classes) {
      const names = (await readdir(path.join(root, label)))
        .filter((f) => /\.jpe?g$/i.test(f))
        .sort()
        .slice(0, plan.perClass[split]);
      for (const name of names)
        files.push({
          name: `${split}/${label}/${name}`,
          data: await readFile(path.join(root, label, name)),
        });
    }
  }
  return storedZip(files);
}

/** Uploads a dataset; returns its id. */
export async function uploadDataset(
  api: TenantApi,
  datasetsDir: string,
  plan: DatasetPlan,
): Promise<string> {
  const { body } = await api.call(
    z.looseObject({ id: z.string() }),
    `/v1/datasets?name=${plan.name}`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/zip' },
      body: Buffer.from(await zipOf(datasetsDir, plan)),
    },
  );
  return body.id;
}

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;

/**
 * A cheap job with seeded hyperparameters. Augmented views use two seeds only, so after the first
 * jobs every embedding comes from the workers' shared cache.
 */
export function jobRequest(rng: Rng, datasetIds: readonly string[]): Record<string, unknown> {
  const views = pick(rng, [0, 0, 1]);
  // Now and then the last backbone block trains too (activations at the cut are cached alike).
  const strategy = rng() < 0.12 ? 'fine_tune' : 'feature_extraction';
  return {
    datasetId: pick(rng, datasetIds),
    strategy,
    epochs: strategy === 'fine_tune' ? 2 + Math.floor(rng() * 3) : 8 + Math.floor(rng() * 33),
    head: pick(rng, [
      { type: 'linear', dropout: 0.2 },
      { type: 'linear', dropout: 0.5 },
      { type: 'mlp', hiddenUnits: 64, dropout: 0.3 },
      { type: 'mlp', hiddenUnits: 256, dropout: 0.5 },
    ]),
    optimizer: { lr: pick(rng, [1e-3, 3e-3, 1e-2]) },
    scheduler: pick(rng, [{ type: 'none' }, { type: 'step', stepSize: 3, gamma: 0.5 }]),
    inputMode: pick(rng, ['crop', 'auto', 'squash']),
    augmentation: { preset: 'lesson', views },
    seed: views > 0 ? pick(rng, [0, 1]) : Math.floor(rng() * 10_000),
    labelSmoothing: pick(rng, [0, 0.1]),
    earlyStopping: pick(rng, [null, null, { patience: 5, minDelta: 0 }]),
    maxAttempts: pick(rng, [3, 5]),
  };
}

/** Submits jobs as one batch; returns their ids in order. */
export async function submitBatch(
  api: TenantApi,
  jobs: readonly Record<string, unknown>[],
): Promise<string[]> {
  const { body } = await api.call(
    z.object({ jobs: z.array(z.object({ id: z.string() })) }),
    '/v1/fine-tunes/batch',
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jobs }),
    },
  );
  return body.jobs.map((j) => j.id);
}

/** Submits one job under an idempotency key; returns its id and whether it was a replay. */
export async function submitJob(
  api: TenantApi,
  job: Record<string, unknown>,
  idempotencyKey: string,
): Promise<{ id: string; replayed: boolean }> {
  const { status, body } = await api.call(z.object({ id: z.string() }), '/v1/fine-tunes', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
    body: JSON.stringify(job),
  });
  return { id: body.id, replayed: status === 200 };
}
