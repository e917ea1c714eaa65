// A job's server-sent event stream inside workerd, with the real Queue, Durable Object and D1:
// one numbered `epoch` event per epoch however fast they come, heartbeats while the job is
// silent, and a reconnect with Last-Event-ID that sees every epoch once. The edge tests run
// with EVENTS_HEARTBEAT_SECONDS = 0.2 (vitest.edge.config.ts).
import { SELF } from 'cloudflare:test';
import { beforeEach, describe, expect, it } from 'vitest';
import type { EpochMetrics, JobEpochEvent, JobView } from '../../src/shared/jobs.js';
import { seedBackbone } from './fixtures.js';
import { backboneManifest, completionForm } from './heads-helpers.js';
import {
  asJob,
  call,
  dataset,
  freshState,
  leaseOne,
  problemOf,
  tenant,
  workerToken,
} from './jobs-helpers.js';

const V2 = 'mobilenet-v2-0.35';

beforeEach(async () => {
  await freshState();
  await seedBackbone(V2);
});

interface SseEvent {
  event: string | null;
  id: string | null;
  data: string;
  comment: boolean;
}

/** Reads an event stream block by block as it arrives. */
class EventReader {
  private buffer = '';
  private readonly decoder = new TextDecoder();
  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  /** The next event or comment block; null when the stream ends. */
  async next(): Promise<SseEvent | null> {
    for (;;) {
      const at = this.buffer.indexOf('\n\n');
      if (at >= 0) {
        const block = this.buffer.slice(0, at);
        this.buffer = this.buffer.slice(at + 2);
        const lines = block.split('\n');
        const field = (name: string) =>
          lines
            .find((l) => l.startsWith(`${name}:`))
            ?.slice(name.length + 1)
            .trim() ?? null;
        return {
          event: field('event'),
          id: field('id'),
          data: lines
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trimStart())
            .join('\n'),
          comment: lines.every((l) => l.startsWith(':')),
        };
      }
      const { done, value } = await this.reader.read();
      if (done) return null;
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  /** Events up to and including `end` (or the stream's close). */
  async rest(): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    for (let e = await this.next(); e; e = await this.next()) {
      out.push(e);
      if (e.event === 'end') break;
    }
    return out;
  }

  cancel(): Promise<void> {
    return this.reader.cancel();
  }
}

async function follow(apiKey: string, jobId: string, headers: Record<string, string> = {}) {
  const res = await SELF.fetch(`https://edge.test/v1/fine-tunes/${jobId}/events`, {
    headers: { authorization: `Bearer ${apiKey}`, accept: 'text/event-stream', ...headers },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  return new EventReader(res.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>);
}

const epochsOf = (events: SseEvent[]) =>
  events.filter((e) => e.event === 'epoch').map((e) => JSON.parse(e.data) as JobEpochEvent);

const metrics = (epoch: number, epochs: number): EpochMetrics => ({
  epoch,
  epochs,
  trainLoss: 1 / epoch,
  trainAccuracy: 0.5,
  valLoss: 1 / epoch,
  valAccuracy: 0.5 + epoch / (4 * epochs),
  lr: 1e-3,
  seconds: 0.01,
});

async function runningJob(epochs = 20) {
  const { apiKey, tenantId } = await tenant();
  const worker = await workerToken();
  const submitted = await call('/v1/fine-tunes', {
    key: apiKey,
    json: { datasetId: await dataset(tenantId), epochs },
  });
  expect(submitted.status).toBe(201);
  const job = asJob(submitted);
  const grant = await leaseOne(worker, { waitSeconds: 2 });
  expect(grant.jobId).toBe(job.id);
  const report = (epoch: number, leaseToken = grant.leaseToken) =>
    call(`/internal/v1/jobs/${job.id}/progress`, {
      key: worker,
      json: { leaseToken, metrics: metrics(epoch, epochs) },
    });
  const complete = async () => {
    const form = completionForm(grant.leaseToken, await backboneManifest(V2), {
      labels: ['a', 'b'],
      seed: 1,
      metrics: { valAccuracy: 0.9 },
    });
    const res = await call(`/internal/v1/jobs/${job.id}/complete`, {
      key: worker,
      body: form.form,
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  };
  return { apiKey, worker, job, grant, report, complete };
}

describe('the event stream of a job', () => {
  it('delivers all 20 epochs of a job that trains them in a burst, each once, in order', async () => {
    const { apiKey, job, report, complete } = await runningJob(20);
    const stream = await follow(apiKey, job.id);
    const started = Date.now();
    for (let epoch = 1; epoch <= 20; epoch++) expect((await report(epoch)).status).toBe(200);
    const burstMs = Date.now() - started;
    await complete();
    const events = await stream.rest();
    const epochs = epochsOf(events);
    expect(epochs.map((e) => e.epoch)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(epochs.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(events.filter((e) => e.event === 'epoch').map((e) => e.id)).toEqual(
      epochs.map((e) => String(e.seq)),
    );
    expect(new Set(epochs.map((e) => e.attempt))).toEqual(new Set([1]));
    const last = events.at(-2)!;
    expect(last.event).toBe('job');
    expect((JSON.parse(last.data) as JobView).status).toBe('succeeded');
    expect(events.at(-1)!.event).toBe('end');
    // The burst is what makes this a test of delivery rather than of timing.
    console.log(`20 epochs reported in ${burstMs} ms`);
  });

  it('sends heartbeats while a job is silent, then its epochs', async () => {
    const { apiKey, job, report, complete } = await runningJob(2);
    const stream = await follow(apiKey, job.id);
    // Silent for over four heartbeat intervals (0.2 s each in the tests).
    const silentUntil = Date.now() + 1000;
    const seen: SseEvent[] = [];
    while (Date.now() < silentUntil) seen.push((await stream.next())!);
    const heartbeats = seen.filter((e) => e.comment && e.data === '');
    expect(heartbeats.length).toBeGreaterThanOrEqual(3);
    expect(seen.some((e) => e.event === 'epoch')).toBe(false);
    await report(1);
    await report(2);
    await complete();
    expect(epochsOf(await stream.rest()).map((e) => e.epoch)).toEqual([1, 2]);
  });

  it('resumes after Last-Event-ID without missing or repeating an epoch', async () => {
    const { apiKey, job, report, complete } = await runningJob(10);
    for (let epoch = 1; epoch <= 6; epoch++) await report(epoch);
    const first = await follow(apiKey, job.id);
    const before: JobEpochEvent[] = [];
    while (before.length < 4) {
      const e = (await first.next())!;
      if (e.event === 'epoch') before.push(JSON.parse(e.data) as JobEpochEvent);
    }
    await first.cancel(); // the connection drops after seq 4
    const resumed = await follow(apiKey, job.id, { 'last-event-id': String(before.at(-1)!.seq) });
    for (let epoch = 7; epoch <= 10; epoch++) await report(epoch);
    await complete();
    const after = epochsOf(await resumed.rest());
    expect([...before, ...after].map((e) => e.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // The query parameter does the same for clients that cannot set headers.
    const viaQuery = await SELF.fetch(
      `https://edge.test/v1/fine-tunes/${job.id}/events?lastEventId=8`,
      { headers: { authorization: `Bearer ${apiKey}` } },
    );
    const reader = viaQuery.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
    const tail = epochsOf(await new EventReader(reader).rest());
    expect(tail.map((e) => e.epoch)).toEqual([9, 10]);
  });

  it('numbers the epochs of a retried attempt after the first attempt’s', async () => {
    const { apiKey, worker, job, grant, report } = await runningJob(3);
    await report(1);
    await report(2);
    await report(2); // a retried report is logged once
    const failed = await call(`/internal/v1/jobs/${job.id}/fail`, {
      key: worker,
      json: { leaseToken: grant.leaseToken, message: 'boom', retryable: true },
    });
    expect(asJob(failed).status).toBe('queued');
    const second = await leaseOne(worker, { waitSeconds: 2 });
    for (let epoch = 1; epoch <= 3; epoch++) await report(epoch, second.leaseToken);
    const stream = await follow(apiKey, job.id);
    const seen: JobEpochEvent[] = [];
    while (seen.length < 5) {
      const e = (await stream.next())!;
      if (e.event === 'epoch') seen.push(JSON.parse(e.data) as JobEpochEvent);
    }
    await stream.cancel();
    expect(seen.map((e) => [e.seq, e.attempt, e.epoch])).toEqual([
      [1, 1, 1],
      [2, 1, 2],
      [3, 2, 1],
      [4, 2, 2],
      [5, 2, 3],
    ]);
  });

  it('refuses a malformed Last-Event-ID, naming it', async () => {
    const { apiKey, job } = await runningJob(2);
    const res = await call(`/v1/fine-tunes/${job.id}/events`, {
      key: apiKey,
      headers: { 'last-event-id': 'seven' },
    });
    expect(res.status).toBe(400);
    expect(problemOf(res).field).toBe('header.last-event-id');
  });
});
