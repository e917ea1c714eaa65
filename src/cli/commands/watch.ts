// `jobs watch`: follows one job's event stream (epoch table, live bar) or polls a batch (a bar
// per job), then prints the final metrics and the confusion matrix of the (best) head.
import { setTimeout as sleep } from 'node:timers/promises';
import type { EpochMetrics } from '../../shared/jobs.js';
import type { Command, CommandContext } from '../args.js';
import { numberValue } from '../args.js';
import type { HeadstartClient, JobView } from '../client.js';
import { ApiProblemError, UsageError } from '../errors.js';
import { duration, fixed, renderConfusion } from '../format.js';
import { isFinal, jobFigures } from '../job-summary.js';
import { StatusLines, bar } from '../progress.js';
import { paint, type Terminal } from '../terminal.js';

const EPOCH_COLUMNS = [
  ['epoch', 5],
  ['train loss', 10],
  ['train acc', 9],
  ['val loss', 9],
  ['val acc', 8],
  ['lr', 10],
] as const;

const epochCells = (m: EpochMetrics) => [
  `${m.epoch}`,
  fixed(m.trainLoss, 4),
  fixed(m.trainAccuracy),
  fixed(m.valLoss, 4),
  fixed(m.valAccuracy),
  String(Number(m.lr.toPrecision(3))),
];
const row = (cells: readonly string[]) =>
  cells.map((c, i) => c.padStart(EPOCH_COLUMNS[i]![1])).join('  ');

/** The epoch table's header and one row per epoch (fixed widths, so it can print as it grows). */
export const epochTable = {
  header: () => row(EPOCH_COLUMNS.map(([h]) => h)),
  row: (m: EpochMetrics) => row(epochCells(m)),
};

const statusText = (term: Terminal, job: JobView) =>
  paint(
    term.color,
    job.status === 'succeeded'
      ? 'green'
      : job.status === 'running'
        ? 'yellow'
        : job.status === 'queued'
          ? 'dim'
          : 'red',
    job.status,
  );

/** One job's progress line: bar (on a terminal), epoch/epochs, validation accuracy, status. */
function jobLine(term: Terminal, job: JobView): string {
  const f = jobFigures(job);
  const epoch = job.progress?.epoch ?? job.history.length;
  const phase = job.status === 'running' && epoch === 0 ? '  embedding…' : '';
  const acc = job.progress ? `  val acc ${fixed(job.progress.valAccuracy)}` : '';
  const progress = term.interactive
    ? `${bar(epoch / f.epochs, 20)}  ${String(epoch).padStart(3)}/${f.epochs}`
    : `epoch ${epoch}/${f.epochs}`;
  return `${job.id}  ${progress}${acc}  ${statusText(term, job)}${phase}`;
}

/** Follows a job's event stream to a final state, reconnecting when the stream ends early. */
async function followJob(
  client: HeadstartClient,
  id: string,
  onJob: (job: JobView) => void,
): Promise<JobView> {
  let failures = 0;
  for (;;) {
    try {
      for await (const e of client.jobEvents(id)) {
        if (e.event !== 'job') continue;
        failures = 0;
        onJob(e.job);
        if (isFinal(e.job)) return e.job;
      }
    } catch (err) {
      // A refusal (404, 401) is final; a dropped stream is not.
      if (err instanceof ApiProblemError || ++failures > 5) throw err;
    }
    await sleep(500 * (failures + 1));
  }
}

async function watchJob(ctx: CommandContext, id: string, status: StatusLines): Promise<JobView[]> {
  let printed = 0;
  let lastStatus = '';
  const job = await followJob(ctx.client(), id, (job) => {
    if (job.history.length < printed) printed = 0; // a retried attempt starts over
    if (printed === 0 && job.history.length > 0) status.print(epochTable.header());
    for (const m of job.history.slice(printed)) status.print(epochTable.row(m));
    printed = job.history.length;
    if (job.status !== lastStatus) status.note(`${job.id}: ${job.status}`);
    lastStatus = job.status;
    status.set([jobLine(ctx.term, job)]);
  });
  return [job];
}

async function watchBatch(
  ctx: CommandContext,
  id: string,
  status: StatusLines,
  intervalMs: number,
) {
  const seen = new Map<string, string>();
  for (;;) {
    const { jobs } = await ctx.client().getBatch(id);
    for (const job of jobs) {
      const state = `${job.status}|${job.progress?.epoch ?? 0}`;
      if (seen.get(job.id) !== state && !ctx.term.interactive) status.note(jobLine(ctx.term, job));
      seen.set(job.id, state);
    }
    const done = jobs.filter(isFinal).length;
    // A bar per job while they fit on the screen; then the unfinished ones first.
    const room = Math.max(3, ctx.term.rows - 3);
    const shown =
      jobs.length <= room
        ? jobs
        : [...jobs.filter((j) => !isFinal(j)), ...jobs.filter(isFinal)].slice(0, room);
    const more = jobs.length - shown.length;
    status.set([
      ...shown.map((j) => jobLine(ctx.term, j)),
      `${done}/${jobs.length} jobs finished${more > 0 ? ` (${more} not shown)` : ''}`,
    ]);
    if (done === jobs.length) return jobs;
    await sleep(intervalMs);
  }
}

/** Final metrics of each job, then the confusion matrix of the best succeeded one. */
async function summarize(ctx: CommandContext, jobs: readonly JobView[]): Promise<number> {
  const { term } = ctx;
  const lines = jobs.map((job) => {
    const f = jobFigures(job);
    if (job.status !== 'succeeded')
      return `${job.id}  ${statusText(term, job)}  ${job.lastError ?? ''}`;
    return `${job.id}  ${statusText(term, job)}  val acc ${fixed(f.valAccuracy)}  best epoch ${f.bestEpoch ?? '?'}/${f.epochsRun}  ${f.inputMode ?? ''}  ${duration(f.seconds)}  ${job.headId ?? ''}`;
  });
  term.out(`\n${lines.join('\n')}\n`);
  const best = jobs
    .filter((j) => j.status === 'succeeded' && j.headId)
    .sort((a, b) => (jobFigures(b).valAccuracy ?? 0) - (jobFigures(a).valAccuracy ?? 0))[0];
  if (best?.headId) {
    const head = await ctx.client().getHead(best.headId);
    if (head.confusion) {
      const which = jobs.length > 1 ? ` (best of the batch: ${best.id})` : '';
      term.out(`\nConfusion matrix of ${head.id}${which}, validation set, rows = true class:\n\n`);
      term.out(
        renderConfusion(head.confusion.labels, head.confusion.matrix, { color: term.color }),
      );
    }
  }
  const failed = jobs.filter((j) => j.status !== 'succeeded');
  for (const job of failed)
    term.err(`headstart: ${job.id} ${job.status}: ${job.lastError ?? 'no reason given'}\n`);
  return failed.length > 0 ? 1 : 0;
}

const watch: Command = {
  name: 'jobs watch',
  usage: 'jobs watch <jobId|batchId> [--interval S]',
  summary: 'Follow a job or a batch to the end; final metrics and confusion matrix',
  key: 'required',
  options: {
    interval: {
      type: 'string',
      value: '<s>',
      help: 'seconds between polls of a batch (default 1)',
    },
  },
  notes: ['Exit code: 0 when every job succeeded, 1 when any failed or was canceled.'],
  async run(ctx) {
    if (ctx.positionals.length !== 1) throw new UsageError('jobs watch takes one job or batch id');
    const id = ctx.positionals[0]!;
    const interval = numberValue(ctx.values, 'interval', { min: 0.2, max: 600 }) ?? 1;
    const status = new StatusLines(ctx.term);
    const jobs = await (
      id.startsWith('batch_')
        ? watchBatch(ctx, id, status, interval * 1000)
        : watchJob(ctx, id, status)
    ).finally(() => status.done());
    return summarize(ctx, jobs);
  },
};

/** `jobs watch`. */
export const WATCH_COMMANDS: readonly Command[] = [watch];
