// The console's calls to the public API (/v1/… with the reader's key) and the list answers it
// reads, checked at the boundary like every widget answer. Uploads go through XMLHttpRequest:
// fetch cannot report upload progress.
import { list, nullable, num, record, str } from '../check.js';
import { ApiProblem, request, requestJson } from '../client.js';
import { type Job, parseJob } from '../training-responses.js';
import type { Account } from '../training.js';

export interface DatasetSummary {
  readonly id: string;
  readonly name: string | null;
  readonly imageCount: number;
  readonly classCount: number;
  readonly createdAt: string;
}

/** One photo of a dataset, as GET /v1/datasets/{id}/images lists it. */
export interface DatasetImage {
  readonly sha256: string;
  readonly path: string;
  readonly label: string;
}

export interface HeadSummary {
  readonly id: string;
  readonly jobId: string;
  readonly datasetId: string;
  readonly backbone: string;
  readonly labels: readonly string[];
  readonly valAccuracy: number | null;
  readonly epochsRun: number | null;
  readonly aliases: readonly string[];
  readonly createdAt: string;
}

export interface AliasView {
  readonly name: string;
  readonly headId: string;
  readonly updatedAt: string;
}

/** A job with the spec fields the console lists. */
export interface JobRow extends Job {
  readonly datasetId: string;
  readonly backbone: string;
  readonly strategy: string;
  readonly createdAt: string;
}

const optStr = (v: unknown, at: string) => nullable(v, at, str);

/** The most items one list request asks for (the API's own limit). */
export const MAX_PAGE_SIZE = 100;

/** One page of a newest-first list, and the cursor of the next (older) one. */
export interface Page<T> {
  readonly items: T[];
  /** Null on the last page. */
  readonly nextCursor: string | null;
}

/** `?limit=…&cursor=…` for one page of a list. */
function pageQuery(limit: number, cursor: string | null): string {
  const q = new URLSearchParams({ limit: String(limit) });
  if (cursor !== null) q.set('cursor', cursor);
  return q.toString();
}

function parseDatasetSummary(d: unknown, at: string): DatasetSummary {
  const row = record(d, at);
  return {
    id: str(row.id, `${at}.id`),
    name: optStr(row.name, `${at}.name`),
    imageCount: num(row.imageCount, `${at}.imageCount`),
    classCount: num(row.classCount, `${at}.classCount`),
    createdAt: str(row.createdAt, `${at}.createdAt`),
  };
}

function parseHeadSummary(x: unknown, at: string): HeadSummary {
  const head = record(x, at);
  const metrics = record(head.metrics, `${at}.metrics`);
  return {
    id: str(head.id, `${at}.id`),
    jobId: str(head.jobId, `${at}.jobId`),
    datasetId: str(head.datasetId, `${at}.datasetId`),
    backbone: str(head.backbone, `${at}.backbone`),
    labels: list(head.labels, `${at}.labels`, str),
    valAccuracy: nullable(metrics.valAccuracy, `${at}.metrics.valAccuracy`, num),
    epochsRun: nullable(metrics.epochsRun, `${at}.metrics.epochsRun`, num),
    aliases: list(head.aliases ?? [], `${at}.aliases`, str),
    createdAt: str(head.createdAt, `${at}.createdAt`),
  };
}

export function parseJobRow(body: unknown): JobRow {
  const job = parseJob(body);
  const spec = record(job.raw.spec ?? {}, 'spec');
  return {
    ...job,
    datasetId: str(job.raw.datasetId, 'datasetId'),
    backbone: optStr(spec.backbone, 'spec.backbone') ?? '',
    strategy: optStr(spec.strategy, 'spec.strategy') ?? 'feature_extraction',
    createdAt: str(job.raw.createdAt, 'createdAt'),
  };
}

/** Every call the console makes: one account, one key, the public API only. */
export class ConsoleApi {
  /** `pageSize`: how many items each page of a list view asks for (1–100). */
  constructor(
    readonly account: Account,
    readonly pageSize = MAX_PAGE_SIZE,
  ) {}

  /** One page of `path`'s list under `key` (the first when `cursor` is null). */
  private async page<T>(
    path: string,
    key: string,
    cursor: string | null,
    item: (v: unknown, at: string) => T,
    signal?: AbortSignal,
  ): Promise<Page<T>> {
    const body = record(
      await this.json(`${path}?${pageQuery(this.pageSize, cursor)}`, signal),
      key,
    );
    return {
      items: list(body[key], key, item),
      nextCursor: nullable(body.nextCursor ?? null, 'nextCursor', str),
    };
  }

  private json(path: string, signal?: AbortSignal): Promise<unknown> {
    return requestJson(this.account.base, path, {
      apiKey: this.account.apiKey,
      ...(signal ? { signal } : {}),
    });
  }

  private async send(
    method: 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<Response> {
    return request(this.account.base, path, {
      method,
      apiKey: this.account.apiKey,
      ...(body === undefined
        ? {}
        : { body: JSON.stringify(body), contentType: 'application/json' }),
    });
  }

  /** The newest datasets (up to 100), for choosers and the sign-in check. */
  async datasets(signal?: AbortSignal): Promise<DatasetSummary[]> {
    const body = record(await this.json(`/v1/datasets?limit=${MAX_PAGE_SIZE}`, signal), 'datasets');
    return list(body.datasets, 'datasets', parseDatasetSummary);
  }

  /** One page of the datasets list, newest first. */
  datasetsPage(cursor: string | null, signal?: AbortSignal): Promise<Page<DatasetSummary>> {
    return this.page('/v1/datasets', 'datasets', cursor, parseDatasetSummary, signal);
  }

  dataset(id: string, signal?: AbortSignal): Promise<unknown> {
    return this.json(`/v1/datasets/${encodeURIComponent(id)}`, signal);
  }

  /** The first `limit` photos of one class in one split, in the dataset's order. */
  async datasetImages(
    id: string,
    query: { split: 'train' | 'val'; label: string; limit: number },
    signal?: AbortSignal,
  ): Promise<DatasetImage[]> {
    const q = new URLSearchParams({ ...query, limit: String(query.limit) });
    const path = `/v1/datasets/${encodeURIComponent(id)}/images?${q.toString()}`;
    const body = record(await this.json(path, signal), 'images');
    return list(body.images, 'images', (x, at) => {
      const image = record(x, at);
      return {
        sha256: str(image.sha256, `${at}.sha256`),
        path: str(image.path, `${at}.path`),
        label: str(image.label, `${at}.label`),
      };
    });
  }

  /** One photo's bytes (fetched with the key: an <img> cannot send it). */
  async image(datasetId: string, sha256: string, signal?: AbortSignal): Promise<Blob> {
    const res = await request(
      this.account.base,
      `/v1/datasets/${encodeURIComponent(datasetId)}/images/${encodeURIComponent(sha256)}`,
      { apiKey: this.account.apiKey, accept: 'image/*', ...(signal ? { signal } : {}) },
    );
    return res.blob();
  }

  async deleteDataset(id: string): Promise<void> {
    await this.send('DELETE', `/v1/datasets/${encodeURIComponent(id)}`);
  }

  /** One page of the jobs list, newest first. */
  jobsPage(cursor: string | null, signal?: AbortSignal): Promise<Page<JobRow>> {
    return this.page('/v1/fine-tunes', 'jobs', cursor, (j) => parseJobRow(j), signal);
  }

  async job(id: string, signal?: AbortSignal): Promise<JobRow> {
    return parseJobRow(await this.json(`/v1/fine-tunes/${encodeURIComponent(id)}`, signal));
  }

  async submitJob(spec: Record<string, unknown>): Promise<JobRow> {
    return parseJobRow(await (await this.send('POST', '/v1/fine-tunes', spec)).json());
  }

  /** The newest heads (up to 100), for looking one up. */
  async heads(signal?: AbortSignal): Promise<HeadSummary[]> {
    const body = record(await this.json(`/v1/heads?limit=${MAX_PAGE_SIZE}`, signal), 'heads');
    return list(body.heads, 'heads', parseHeadSummary);
  }

  /** One page of the heads list, newest first. */
  headsPage(cursor: string | null, signal?: AbortSignal): Promise<Page<HeadSummary>> {
    return this.page('/v1/heads', 'heads', cursor, parseHeadSummary, signal);
  }

  head(id: string, signal?: AbortSignal): Promise<unknown> {
    return this.json(`/v1/heads/${encodeURIComponent(id)}`, signal);
  }

  evaluation(id: string, signal?: AbortSignal): Promise<unknown> {
    return this.json(`/v1/heads/${encodeURIComponent(id)}/evaluation`, signal);
  }

  async deleteHead(id: string): Promise<void> {
    await this.send('DELETE', `/v1/heads/${encodeURIComponent(id)}`);
  }

  async aliases(signal?: AbortSignal): Promise<AliasView[]> {
    const body = record(await this.json('/v1/aliases', signal), 'aliases');
    return list(body.aliases, 'aliases', (a, at) => {
      const alias = record(a, at);
      return {
        name: str(alias.name, `${at}.name`),
        headId: str(alias.headId, `${at}.headId`),
        updatedAt: str(alias.updatedAt, `${at}.updatedAt`),
      };
    });
  }

  async setAlias(name: string, headId: string): Promise<void> {
    await this.send('PUT', `/v1/aliases/${encodeURIComponent(name)}`, { headId });
  }

  async deleteAlias(name: string): Promise<void> {
    await this.send('DELETE', `/v1/aliases/${encodeURIComponent(name)}`);
  }

  /**
   * POST /v1/datasets with a zip, reporting the share of bytes sent; resolves with the body.
   *
   * @example
   * const report = parseDatasetReport(await api.upload(zip, 'ants-vs-bees', (f) => (bar.value = f)));
   */
  upload(zip: Uint8Array, name: string, onProgress: (fraction: number) => void): Promise<unknown> {
    const query = name ? `?name=${encodeURIComponent(name)}` : '';
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', `${this.account.base}/v1/datasets${query}`);
      xhr.setRequestHeader('authorization', `Bearer ${this.account.apiKey}`);
      xhr.setRequestHeader('content-type', 'application/zip');
      xhr.setRequestHeader('accept', 'application/json');
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onerror = () =>
        reject(new ApiProblem(0, null, 'Could not reach the Headstart API. Try again.', null));
      xhr.onload = () => {
        let body: unknown = null;
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          // Not JSON: the status line is all there is.
        }
        if (xhr.status >= 200 && xhr.status < 300) return resolve(body);
        const problem =
          body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
        const detail =
          typeof problem.detail === 'string' ? problem.detail : `The API answered ${xhr.status}.`;
        reject(
          new ApiProblem(
            xhr.status,
            typeof problem.code === 'string' ? problem.code : null,
            detail,
            xhr.getResponseHeader('x-request-id'),
          ),
        );
      };
      xhr.send(new Uint8Array(zip));
    });
  }
}
