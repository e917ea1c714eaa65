// The typed client of the public API: one method per route, every answer checked with the
// shared zod schemas, safe retries (Idempotency-Key on submissions), and the ROUTES it calls.
import { z } from 'zod';
import { BatchClassifyResponseSchema, type BatchClassifyResponse } from '../shared/api.js';
import { AliasViewSchema, type AliasView, type HeadSummary } from '../shared/heads.js';
import { JobViewSchema } from '../shared/jobs.js';
import { CliError } from './errors.js';
import { Http, type HttpOptions, type HttpRequest } from './http.js';
import {
  BackboneListSchema,
  BatchSchema,
  DatasetListSchema,
  DatasetReportSchema,
  HeadDetailSchema,
  HeadListSchema,
  ImportedBackboneSchema,
  SubmittedBatchSchema,
  type BackboneListing,
  type BatchView,
  type DatasetListing,
  type DatasetReport,
  type HeadDetail,
  type ImportedBackbone,
} from './responses.js';
import { sseEvents } from './sse.js';

export type {
  BackboneListing,
  BatchView,
  DatasetListing,
  DatasetReport,
  HeadDetail,
  ImportedBackbone,
};

type Method = HttpRequest['method'];

/** A job as the API shows it (JobView, checked; its metrics are free-form JSON). */
export type JobView = z.infer<typeof JobViewSchema>;
const route = <M extends Method, P extends string>(method: M, path: P) => ({ method, path });

/** Every API route the CLI calls, with OpenAPI path templates. */
export const ROUTE = {
  uploadDataset: route('POST', '/v1/datasets'),
  listDatasets: route('GET', '/v1/datasets'),
  submitJob: route('POST', '/v1/fine-tunes'),
  submitBatch: route('POST', '/v1/fine-tunes/batch'),
  getJob: route('GET', '/v1/fine-tunes/{id}'),
  jobEvents: route('GET', '/v1/fine-tunes/{id}/events'),
  getBatch: route('GET', '/v1/batches/{id}'),
  listHeads: route('GET', '/v1/heads'),
  getHead: route('GET', '/v1/heads/{id}'),
  downloadHead: route('GET', '/v1/heads/{id}/download'),
  deleteHead: route('DELETE', '/v1/heads/{id}'),
  listAliases: route('GET', '/v1/aliases'),
  setAlias: route('PUT', '/v1/aliases/{name}'),
  deleteAlias: route('DELETE', '/v1/aliases/{name}'),
  classifyBatch: route('POST', '/v1/classify/batch'),
  importBackbone: route('POST', '/v1/backbones'),
  listBackbones: route('GET', '/v1/backbones'),
  deleteBackbone: route('DELETE', '/v1/backbones/{name}'),
  listKeys: route('GET', '/v1/keys'),
  createKey: route('POST', '/v1/keys'),
  revokeKey: route('DELETE', '/v1/keys/{id}'),
  adminCreateTenant: route('POST', '/admin/v1/tenants'),
  adminListTenants: route('GET', '/admin/v1/tenants'),
  adminDisableTenant: route('POST', '/admin/v1/tenants/{id}/disable'),
  adminEnableTenant: route('POST', '/admin/v1/tenants/{id}/enable'),
  adminUsage: route('GET', '/admin/v1/tenants/{id}/usage'),
  adminListKeys: route('GET', '/admin/v1/tenants/{id}/keys'),
  adminIssueKey: route('POST', '/admin/v1/tenants/{id}/keys'),
  adminRevokeKey: route('DELETE', '/admin/v1/tenants/{id}/keys/{keyId}'),
  adminListWorkerTokens: route('GET', '/admin/v1/worker-tokens'),
  adminIssueWorkerToken: route('POST', '/admin/v1/worker-tokens'),
  adminRevokeWorkerToken: route('DELETE', '/admin/v1/worker-tokens/{id}'),
  adminWorkers: route('GET', '/admin/v1/workers'),
} as const;

/** ROUTE as a list, for checking against the server's OpenAPI document. */
export const ROUTES: readonly { readonly method: Method; readonly path: string }[] =
  Object.values(ROUTE);

const fill = (template: string, params: Record<string, string>) =>
  template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(params[name] ?? ''));

/** What the events stream of a job carries. */
export type JobEvent =
  | { readonly event: 'job'; readonly job: JobView }
  | { readonly event: 'end'; readonly status: string };

/** One image for classification. */
export interface ImageUpload {
  readonly name: string;
  readonly data: Blob;
}

/**
 * A client of one edge with one API key.
 *
 * @example
 * const client = new HeadstartClient({ baseUrl: 'http://127.0.0.1:8787', apiKey });
 * const { heads } = await client.listHeads();
 */
export class HeadstartClient {
  readonly http: Http;

  constructor(options: HttpOptions) {
    this.http = new Http(options);
  }

  private async json<S extends z.ZodType>(schema: S, req: HttpRequest): Promise<z.infer<S>> {
    const res = await this.http.send(req);
    const text = await res.text();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new CliError(`${req.method} ${req.path} answered something that is not JSON`);
    }
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    throw new CliError(
      `unexpected answer from ${req.method} ${req.path}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
    );
  }

  private jsonBody(value: unknown, headers: Record<string, string> = {}) {
    const text = JSON.stringify(value);
    return { headers: { 'content-type': 'application/json', ...headers }, body: () => text };
  }

  /**
   * POST /v1/datasets: streams an ImageFolder zip of `bytes` bytes made by `body()`. The
   * idempotency key makes retries safe: an upload whose answer was lost (a dropped connection, a
   * 5xx) is sent again and answers the dataset the first one made, never a second dataset.
   */
  uploadDataset(
    archive: { readonly bytes: number; readonly body: () => ReadableStream<Uint8Array> },
    query: {
      name?: string | undefined;
      valFraction?: number | undefined;
      seed?: number | undefined;
    },
    idempotencyKey: string,
  ): Promise<DatasetReport> {
    return this.json(DatasetReportSchema, {
      ...ROUTE.uploadDataset,
      query,
      headers: {
        'content-type': 'application/zip',
        'content-length': String(archive.bytes),
        'idempotency-key': idempotencyKey,
      },
      body: archive.body,
      repeatable: 'safe',
    });
  }

  /** GET /v1/datasets: the tenant's datasets, newest first. */
  async listDatasets(limit = 50): Promise<DatasetListing[]> {
    const req = { ...ROUTE.listDatasets, query: { limit }, repeatable: 'safe' } as const;
    return (await this.json(DatasetListSchema, req)).datasets;
  }

  /** POST /v1/fine-tunes with an Idempotency-Key, so a retried submission makes one job. */
  submitJob(request: Record<string, unknown>, idempotencyKey: string): Promise<JobView> {
    const body = this.jsonBody(request, { 'idempotency-key': idempotencyKey });
    return this.json(JobViewSchema, { ...ROUTE.submitJob, ...body, repeatable: 'safe' });
  }

  /** POST /v1/fine-tunes/batch: all jobs or none, with an Idempotency-Key. */
  submitBatch(
    jobs: readonly Record<string, unknown>[],
    idempotencyKey: string,
  ): Promise<z.infer<typeof SubmittedBatchSchema>> {
    const body = this.jsonBody({ jobs }, { 'idempotency-key': idempotencyKey });
    return this.json(SubmittedBatchSchema, { ...ROUTE.submitBatch, ...body, repeatable: 'safe' });
  }

  /** GET /v1/fine-tunes/{id}. */
  getJob(id: string): Promise<JobView> {
    const path = fill(ROUTE.getJob.path, { id });
    return this.json(JobViewSchema, { method: 'GET', path, repeatable: 'safe' });
  }

  /** GET /v1/batches/{id}: the batch's jobs in submission order, and counts per status. */
  getBatch(id: string): Promise<BatchView> {
    const path = fill(ROUTE.getBatch.path, { id });
    return this.json(BatchSchema, { method: 'GET', path, repeatable: 'safe' });
  }

  /** GET /v1/fine-tunes/{id}/events: the job each time it changes, then `end`. */
  async *jobEvents(id: string): AsyncGenerator<JobEvent> {
    const path = fill(ROUTE.jobEvents.path, { id });
    const res = await this.http.send({
      method: 'GET',
      path,
      headers: { accept: 'text/event-stream' },
      repeatable: 'safe',
    });
    if (!res.body) return;
    for await (const e of sseEvents(res.body)) {
      const value: unknown = JSON.parse(e.data);
      if (e.event === 'job') {
        const job = JobViewSchema.safeParse(value);
        if (!job.success) throw new CliError(`unexpected job event from ${path}`);
        yield { event: 'job', job: job.data };
      } else if (e.event === 'end') {
        const end = z.object({ status: z.string() }).safeParse(value);
        yield { event: 'end', status: end.success ? end.data.status : 'unknown' };
      }
    }
  }

  /** GET /v1/heads: one page of heads, newest first. */
  async listHeads(
    page: { limit?: number; cursor?: string | undefined } = {},
  ): Promise<{ heads: HeadSummary[]; nextCursor: string | null }> {
    const query = { limit: page.limit, cursor: page.cursor };
    return this.json(HeadListSchema, { ...ROUTE.listHeads, query, repeatable: 'safe' });
  }

  /** GET /v1/heads/{id}: metrics, confusion matrix and manifest. */
  getHead(id: string): Promise<HeadDetail> {
    const path = fill(ROUTE.getHead.path, { id });
    return this.json(HeadDetailSchema, { method: 'GET', path, repeatable: 'safe' });
  }

  /** GET /v1/heads/{id}/download: the zip as a stream (with the backbone when asked). */
  async downloadHead(id: string, withBackbone: boolean): Promise<Response> {
    const path = fill(ROUTE.downloadHead.path, { id });
    const query = { backbone: withBackbone ? 'true' : undefined };
    return this.http.send({ method: 'GET', path, query, repeatable: 'safe' });
  }

  /** DELETE /v1/heads/{id} (refused with 409 while an alias points at it). */
  async deleteHead(id: string): Promise<void> {
    const path = fill(ROUTE.deleteHead.path, { id });
    await this.http.send({ method: 'DELETE', path, repeatable: 'safe' });
  }

  /** GET /v1/aliases. */
  async listAliases(): Promise<AliasView[]> {
    const schema = z.object({ aliases: z.array(AliasViewSchema) });
    return (await this.json(schema, { ...ROUTE.listAliases, repeatable: 'safe' })).aliases;
  }

  /** PUT /v1/aliases/{name}: create or move an alias. */
  setAlias(name: string, headId: string): Promise<AliasView> {
    const path = fill(ROUTE.setAlias.path, { name });
    const body = this.jsonBody({ headId });
    return this.json(AliasViewSchema, { method: 'PUT', path, ...body, repeatable: 'safe' });
  }

  /** DELETE /v1/aliases/{name} (the head stays). */
  async deleteAlias(name: string): Promise<void> {
    const path = fill(ROUTE.deleteAlias.path, { name });
    await this.http.send({ method: 'DELETE', path, repeatable: 'safe' });
  }

  /** POST /v1/classify/batch: up to 16 images, one result or error each (no side effects). */
  classifyBatch(
    images: readonly ImageUpload[],
    params: { model?: string | undefined; topK?: number | undefined },
  ): Promise<BatchClassifyResponse> {
    const body = () => {
      const form = new FormData();
      for (const image of images) form.append('images', image.data, image.name);
      if (params.model) form.set('model', params.model);
      if (params.topK !== undefined) form.set('topK', String(params.topK));
      return form;
    };
    return this.json(BatchClassifyResponseSchema, {
      ...ROUTE.classifyBatch,
      body,
      repeatable: 'safe',
    });
  }

  /**
   * POST /v1/backbones: the .onnx `model` (a file-backed Blob, read afresh for each try) and its
   * JSON `card` as a multipart form. Not repeated once the edge may have acted on it: a second
   * try after a stored import would only answer backbone_exists.
   */
  importBackbone(
    model: { readonly name: string; readonly data: Blob },
    card: string,
  ): Promise<ImportedBackbone> {
    const body = () => {
      const form = new FormData();
      form.set('model', model.data, model.name);
      form.set('card', card);
      return form;
    };
    return this.json(ImportedBackboneSchema, {
      ...ROUTE.importBackbone,
      body,
      repeatable: 'unsafe',
    });
  }

  /** GET /v1/backbones: the catalogue's backbones, then the tenant's own. */
  async listBackbones(): Promise<BackboneListing[]> {
    const req = { ...ROUTE.listBackbones, repeatable: 'safe' } as const;
    return (await this.json(BackboneListSchema, req)).backbones;
  }

  /** DELETE /v1/backbones/{name} (refused with 409 while a head or unfinished job uses it). */
  async deleteBackbone(name: string): Promise<void> {
    const path = fill(ROUTE.deleteBackbone.path, { name });
    await this.http.send({ method: 'DELETE', path, repeatable: 'safe' });
  }

  /**
   * One call of the key and admin routes: path parameters filled in, a JSON body when given, the
   * answer checked with `schema` (none for a 204). Creations are not repeated after a failure.
   *
   * @example
   * await client.call(KeyListSchema, 'listKeys');
   */
  async call<S extends z.ZodType>(
    schema: S,
    name: keyof typeof ROUTE,
    opts: {
      params?: Record<string, string>;
      body?: unknown;
      query?: Record<string, string | undefined>;
    } = {},
  ): Promise<z.infer<S>> {
    const { method, path } = ROUTE[name];
    const req: HttpRequest = {
      method,
      path: fill(path, opts.params ?? {}),
      ...(opts.query ? { query: opts.query } : {}),
      ...(opts.body === undefined ? {} : this.jsonBody(opts.body)),
      repeatable: method === 'POST' ? 'unsafe' : 'safe',
    };
    if (method === 'DELETE') {
      await this.http.send(req);
      return schema.parse(null);
    }
    return this.json(schema, req);
  }
}
