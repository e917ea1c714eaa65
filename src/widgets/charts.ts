// Live training curves as inline SVG: loss and accuracy per epoch, training (solid) against
// validation (dashed), with labelled axes and a text summary for screen readers.
import { h, percent, svg } from './dom.js';
import type { EpochPoint } from './training-responses.js';

const WIDTH = 320;
const HEIGHT = 200;
const MARGIN = { left: 46, right: 12, top: 12, bottom: 36 };
const PLOT_W = WIDTH - MARGIN.left - MARGIN.right;
const PLOT_H = HEIGHT - MARGIN.top - MARGIN.bottom;

interface Series {
  readonly kind: 'train' | 'val';
  readonly values: readonly number[];
}

interface ChartSpec {
  readonly title: string;
  readonly yLabel: string;
  /** Top of the y axis. */
  readonly yMax: number;
  readonly format: (v: number) => string;
  readonly epochs: number;
  readonly series: readonly Series[];
  readonly summary: string;
}

/** Up to `n` evenly spaced integer ticks in 1..max. */
function epochTicks(max: number, n = 5): number[] {
  const step = Math.max(1, Math.ceil(max / n));
  const ticks = [1];
  for (let t = step; t <= max; t += step) if (t > 1) ticks.push(t);
  return ticks;
}

function lineChart(spec: ChartSpec): SVGSVGElement {
  const x = (epoch: number) =>
    MARGIN.left + (spec.epochs <= 1 ? PLOT_W / 2 : ((epoch - 1) / (spec.epochs - 1)) * PLOT_W);
  const y = (v: number) => MARGIN.top + PLOT_H - (Math.min(v, spec.yMax) / spec.yMax) * PLOT_H;
  const bottom = MARGIN.top + PLOT_H;
  const parts: SVGElement[] = [
    svg('title', {}, spec.title),
    svg('line', {
      class: 'axis',
      x1: MARGIN.left,
      y1: bottom,
      x2: MARGIN.left + PLOT_W,
      y2: bottom,
    }),
    svg('line', { class: 'axis', x1: MARGIN.left, y1: MARGIN.top, x2: MARGIN.left, y2: bottom }),
  ];
  for (const epoch of epochTicks(spec.epochs)) {
    parts.push(
      svg('text', { x: x(epoch), y: bottom + 14, 'text-anchor': 'middle' }, String(epoch)),
    );
  }
  for (let i = 0; i <= 4; i++) {
    const v = (spec.yMax * i) / 4;
    parts.push(
      svg('text', { x: MARGIN.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, spec.format(v)),
    );
  }
  parts.push(
    svg('text', { x: MARGIN.left + PLOT_W / 2, y: HEIGHT - 4, 'text-anchor': 'middle' }, 'Epoch'),
    svg(
      'text',
      {
        x: 12,
        y: MARGIN.top + PLOT_H / 2,
        'text-anchor': 'middle',
        transform: `rotate(-90 12 ${MARGIN.top + PLOT_H / 2})`,
      },
      spec.yLabel,
    ),
  );
  for (const { kind, values } of spec.series) {
    const points = values.map((v, i) => `${x(i + 1).toFixed(1)},${y(v).toFixed(1)}`);
    parts.push(svg('polyline', { class: kind, points: points.join(' ') }));
    values.forEach((v, i) =>
      parts.push(svg('circle', { class: kind, cx: x(i + 1), cy: y(v), r: 2.5 })),
    );
  }
  return svg(
    'svg',
    {
      class: 'chart',
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: 'img',
      'aria-label': `${spec.title}. ${spec.summary}`,
    },
    ...parts,
  );
}

function legendItem(kind: 'train' | 'val', text: string): HTMLSpanElement {
  const sample = svg(
    'svg',
    { class: 'chart', width: 28, height: 10, viewBox: '0 0 28 10', 'aria-hidden': 'true' },
    svg('line', { class: kind, x1: 0, y1: 5, x2: 28, y2: 5 }),
  );
  sample.style.width = '28px';
  return h('span', {}, sample, ` ${text}`);
}

/**
 * Loss and accuracy curves that redraw from a job's history on every update.
 *
 * @example
 * const charts = new TrainingCharts();
 * root.append(charts.element);
 * charts.update(job.history);
 */
export class TrainingCharts {
  readonly element: HTMLDivElement;
  private readonly plots: HTMLDivElement;

  constructor() {
    this.plots = h('div', { class: 'charts' });
    this.element = h(
      'div',
      {},
      this.plots,
      h(
        'p',
        { class: 'legend' },
        legendItem('train', 'training (solid)'),
        legendItem('val', 'validation (dashed)'),
      ),
    );
  }

  update(history: readonly EpochPoint[]): void {
    const last = history.at(-1);
    const epochs = Math.max(last?.epochs ?? 1, history.length, 1);
    const losses = history.flatMap((e) => [e.trainLoss, e.valLoss]);
    const lossMax = niceCeiling(Math.max(0.1, ...losses));
    const when = last ? `After epoch ${last.epoch} of ${last.epochs}: ` : 'No epochs yet.';
    this.plots.replaceChildren(
      lineChart({
        title: 'Loss per epoch',
        yLabel: 'Loss',
        yMax: lossMax,
        format: (v) => v.toFixed(lossMax < 1 ? 2 : 1),
        epochs,
        series: [
          { kind: 'train', values: history.map((e) => e.trainLoss) },
          { kind: 'val', values: history.map((e) => e.valLoss) },
        ],
        summary: last
          ? `${when}training loss ${last.trainLoss.toFixed(3)}, validation loss ${last.valLoss.toFixed(3)}.`
          : when,
      }),
      lineChart({
        title: 'Accuracy per epoch',
        yLabel: 'Accuracy',
        yMax: 1,
        format: (v) => percent(v, 0),
        epochs,
        series: [
          { kind: 'train', values: history.map((e) => e.trainAccuracy) },
          { kind: 'val', values: history.map((e) => e.valAccuracy) },
        ],
        summary: last
          ? `${when}training accuracy ${percent(last.trainAccuracy)}, validation accuracy ${percent(last.valAccuracy)}.`
          : when,
      }),
    );
  }
}

/** 1, 2 or 5 times a power of ten, at least `v`: a y axis top that reads well. */
function niceCeiling(v: number): number {
  const power = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * power >= v) return m * power;
  return 10 * power;
}
