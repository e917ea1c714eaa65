// <headstart-strategies>: feature extraction, partial and full fine-tuning drawn over a backbone's
// real blocks, with trainable-parameter counts, a gradual-unfreezing schedule on a slider, and
// the catalogue's latency against accuracy, measured, to choose the backbone by.
import { apiBase, errorMessage, isAbort, requestJson } from './client.js';
import { LoadingElement, count, h, percent, svg } from './dom.js';
import {
  type BackboneBlock,
  type CatalogueEntry,
  parseBackbone,
  parseCatalogue,
} from './responses.js';
import {
  defaultSchedule,
  firstTrainableOf,
  headParameters,
  stepAt,
  strategies,
  trainableFrom,
  trunkBlocks,
} from './strategy-plan.js';

const DEFAULT_BACKBONE = 'mobilenet-v2-0.35';
const MAX_EPOCH = 20;
const CELL = 16;
const GAP = 3;

/** `classes` as a head size: an integer of at least 2, else 2. */
export function parseClasses(value: string | null): number {
  const n = Number(value);
  return value !== null && Number.isInteger(n) && n >= 2 && n <= 100_000 ? n : 2;
}

/** A row of blocks and the head; trainable ones are filled, frozen ones outlined. */
function blockRow(
  trunk: readonly BackboneBlock[],
  firstTrainable: number,
  label: string,
): SVGSVGElement {
  const cells = trunk.map((block, i) => {
    const trainable = i >= firstTrainable;
    return svg(
      'rect',
      {
        class: trainable ? 'trainable' : 'frozen',
        x: i * (CELL + GAP) + 1,
        y: 1,
        width: CELL,
        height: 28,
        rx: 3,
      },
      svg(
        'title',
        {},
        `${block.name}: ${count(block.trainableParameters)} trainable parameters, ${trainable ? 'trainable' : 'frozen'}`,
      ),
    );
  });
  const headX = trunk.length * (CELL + GAP) + GAP + 1;
  const width = headX + CELL * 2 + 2;
  return svg(
    'svg',
    { class: 'blocks', viewBox: `0 0 ${width} 44`, role: 'img', 'aria-label': label },
    ...cells,
    svg(
      'rect',
      { class: 'head', x: headX, y: 1, width: CELL * 2, height: 28, rx: 3 },
      svg('title', {}, 'new head: trainable'),
    ),
    svg('text', { x: 1, y: 42 }, trunk[0]?.name ?? ''),
    svg('text', { x: headX + CELL * 2, y: 42, 'text-anchor': 'end' }, 'head'),
  );
}

/** "block_13 to top_conv and the head train; stem to block_12 are frozen." */
function describe(trunk: readonly BackboneBlock[], first: number): string {
  const name = (i: number) => trunk[i]?.name ?? '';
  const trained =
    first >= trunk.length
      ? 'Only the head trains'
      : `${name(first)} to ${name(trunk.length - 1)} and the head train`;
  const frozen = first <= 0 ? 'nothing is frozen' : `${name(0)} to ${name(first - 1)} are frozen`;
  return `${trained}; ${frozen}.`;
}

const PLOT = { width: 340, height: 210, left: 44, right: 96, top: 10, bottom: 34 };

/**
 * Edge milliseconds (x) against reference accuracy (y) for every measured backbone: a filled dot
 * for hymenoptera, a ring for flowers, joined per backbone; the one drawn above is in bold.
 */
function tradeOffPlot(measured: readonly CatalogueEntry[], current: string): SVGSVGElement {
  const { width, height, left, right, top, bottom } = PLOT;
  const maxMs = Math.max(...measured.map((m) => m.edgeMs ?? 0));
  const xMax = Math.max(10, Math.ceil(maxMs / 10) * 10);
  const accuracies = measured.flatMap((m) => [m.hymenoptera, m.flowers]);
  const lowest = Math.min(...accuracies.filter((a): a is number => a !== null));
  const yMin = Math.max(0, Math.floor(lowest * 20) / 20 - 0.05);
  const x = (ms: number) => left + (ms / xMax) * (width - left - right);
  const y = (acc: number) => top + ((1 - acc) / (1 - yMin)) * (height - top - bottom);
  const ticks = [0, xMax / 2, xMax].map((ms) =>
    svg('text', { x: x(ms), y: height - bottom + 14, 'text-anchor': 'middle' }, `${ms}`),
  );
  const yTicks = [yMin, (yMin + 1) / 2, 1].map((acc) =>
    svg('text', { x: left - 4, y: y(acc) + 3, 'text-anchor': 'end' }, percent(acc, 0)),
  );
  // Each name sits beside its backbone's upper dot, moved down a line where it would overprint
  // a name already placed near it (backbones of similar speed and accuracy).
  const placed: { x: number; y: number }[] = [];
  const labelY = (px: number, wanted: number): number => {
    let at = wanted;
    while (placed.some((p) => Math.abs(p.x - px) < 90 && Math.abs(p.y - at) < 11)) at += 11;
    placed.push({ x: px, y: at });
    return at;
  };
  const byHeight = [...measured].sort(
    (a, b) =>
      Math.max(b.hymenoptera ?? 0, b.flowers ?? 0) - Math.max(a.hymenoptera ?? 0, a.flowers ?? 0),
  );
  const points = byHeight.map((m) => {
    const px = x(m.edgeMs ?? 0);
    const marks: SVGElement[] = [];
    if (m.hymenoptera !== null && m.flowers !== null)
      marks.push(
        svg('line', { class: 'pair', x1: px, x2: px, y1: y(m.hymenoptera), y2: y(m.flowers) }),
      );
    if (m.hymenoptera !== null)
      marks.push(svg('circle', { class: 'hym', cx: px, cy: y(m.hymenoptera), r: 4 }));
    if (m.flowers !== null)
      marks.push(svg('circle', { class: 'flo', cx: px, cy: y(m.flowers), r: 4 }));
    const top = labelY(px, y(Math.max(m.hymenoptera ?? 0, m.flowers ?? 0)) + 3);
    marks.push(svg('text', { class: 'name', x: px + 7, y: top }, m.id));
    return svg(
      'g',
      m.id === current ? { class: 'current' } : {},
      svg(
        'title',
        {},
        `${m.id}: ${m.edgeMs ?? '?'} ms at the edge; hymenoptera ${m.hymenoptera === null ? 'not measured' : percent(m.hymenoptera)}, flowers ${m.flowers === null ? 'not measured' : percent(m.flowers)}`,
      ),
      ...marks,
    );
  });
  return svg(
    'svg',
    {
      class: 'tradeoff',
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-label':
        'Edge milliseconds per image against validation accuracy for each backbone; the table below gives the same figures.',
    },
    svg('line', {
      class: 'axis',
      x1: left,
      x2: width - right,
      y1: height - bottom,
      y2: height - bottom,
    }),
    svg('line', { class: 'axis', x1: left, x2: left, y1: top, y2: height - bottom }),
    ...ticks,
    ...yTicks,
    svg(
      'text',
      { x: (left + width - right) / 2, y: height - 4, 'text-anchor': 'middle' },
      'ms per image at the edge (lower is faster)',
    ),
    ...points,
  );
}

/**
 * `<headstart-strategies>` — which blocks each transfer-learning strategy trains, counted, and
 * what each backbone of the catalogue costs and gives (measured latency and accuracy).
 *
 * Attributes: `backbone` (default mobilenet-v2-0.35), `classes` (head size, default 2), `api`
 * (API base; default: the script's origin). Events: none.
 *
 * @example
 * <headstart-strategies backbone="mobilenet-v2-0.35" classes="2"></headstart-strategies>
 */
export class HeadstartStrategies extends LoadingElement {
  static readonly observedAttributes = ['backbone', 'classes', 'api'];
  private readonly content = h('div', {}, h('p', { class: 'muted' }, 'Loading the backbone…'));

  constructor() {
    super();
    this.root.append(this.content, this.alertBox);
  }

  protected async load(signal: AbortSignal): Promise<void> {
    const backbone = this.attr('backbone') ?? DEFAULT_BACKBONE;
    // The catalogue is an extra: the strategies are drawn without it when it cannot load.
    const catalogue = requestJson(apiBase(this), '/v1/models', { signal }).then(
      parseCatalogue,
      () => null,
    );
    try {
      const body = await requestJson(apiBase(this), `/v1/models/${encodeURIComponent(backbone)}`, {
        signal,
      });
      const manifest = parseBackbone(body);
      const trunk = manifest.blocks ? trunkBlocks(manifest.blocks) : [];
      const choice = this.choiceSection(await catalogue, manifest.id);
      if (signal.aborted) return;
      if (trunk.length === 0) {
        this.content.replaceChildren(
          h(
            'p',
            {},
            `The manifest of ${manifest.id} does not list its blocks yet, so the three strategies ` +
              'cannot be drawn with real parameter counts.',
          ),
          ...choice,
        );
        return;
      }
      this.render(manifest.id, trunk, manifest.embeddingDim, choice);
    } catch (err) {
      if (isAbort(err)) return;
      this.content.replaceChildren();
      this.showError(errorMessage(err));
    }
  }

  /**
   * "Which backbone?": the measured trade-off as a picture and as a table, each row with a
   * button that draws that backbone's blocks above. Nothing when the catalogue did not load.
   */
  private choiceSection(
    catalogue: readonly CatalogueEntry[] | null,
    current: string,
  ): HTMLElement[] {
    if (!catalogue || catalogue.length === 0) return [];
    const measured = catalogue.filter(
      (m) => m.edgeMs !== null && (m.hymenoptera !== null || m.flowers !== null),
    );
    const cell = (value: number | null, show: (v: number) => string) =>
      h('td', {}, value === null ? '—' : show(value));
    const rows = catalogue.map((m) => {
      const shown = m.id === current;
      const button = h(
        'button',
        { type: 'button', class: 'secondary', disabled: shown },
        shown ? 'Drawn above' : 'Draw its blocks',
      );
      button.addEventListener('click', () => this.setAttribute('backbone', m.id));
      return h(
        'tr',
        shown ? { 'aria-current': 'true' } : {},
        h('th', { scope: 'row' }, m.id),
        h('td', {}, count(m.parameters)),
        cell(m.edgeMs, (v) => `${v.toFixed(1)} ms`),
        cell(m.hymenoptera, (v) => percent(v)),
        cell(m.flowers, (v) => percent(v)),
        h('td', {}, button),
      );
    });
    const table = h(
      'table',
      {},
      h('caption', {}, 'The catalogue, measured'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Backbone', 'Parameters', 'Edge', 'Hymenoptera', 'Flowers', ''].map((t) =>
            h('th', { scope: 'col' }, t),
          ),
        ),
      ),
      h('tbody', {}, ...rows),
    );
    return [
      h(
        'section',
        { class: 'strategy choice' },
        h('h4', {}, 'Which backbone? Latency against accuracy'),
        h(
          'p',
          { class: 'muted' },
          'Measured by our benchmarks: inference per image in the edge’s runtime, and the ' +
            'validation accuracy of the default job (feature extraction) on two shared datasets ' +
            '(filled dot: hymenoptera, ring: flowers). Up and to the left is better.',
        ),
        ...(measured.length > 0 ? [tradeOffPlot(measured, current)] : []),
        h('div', { class: 'table-scroll' }, table),
      ),
    ];
  }

  private render(
    backbone: string,
    trunk: readonly BackboneBlock[],
    embeddingDim: number,
    choice: readonly HTMLElement[],
  ): void {
    const classes = parseClasses(this.getAttribute('classes'));
    const head = headParameters(embeddingDim, classes);
    const total = trainableFrom(trunk, 0, 0);
    const sections = strategies(trunk, head).map((s) =>
      h(
        'section',
        { class: 'strategy' },
        h('h4', {}, `${s.title}: ${count(s.trainableParameters)} trainable parameters`),
        blockRow(trunk, s.firstTrainable, `${s.title}. ${describe(trunk, s.firstTrainable)}`),
        h('p', { class: 'muted' }, `${s.summary} ${describe(trunk, s.firstTrainable)}`),
      ),
    );
    this.content.replaceChildren(
      h('h3', {}, `Three ways to reuse ${backbone}`),
      h(
        'p',
        {},
        `${trunk.length} pretrained blocks with ${count(total)} trainable parameters, and a new ` +
          `head for ${classes} classes: ${count(embeddingDim)} × ${classes} weights + ${classes} biases ` +
          `= ${count(head)} parameters. Filled blocks train; outlined blocks are frozen.`,
      ),
      ...sections,
      this.scheduleSection(trunk, head),
      ...choice,
    );
  }

  private scheduleSection(trunk: readonly BackboneBlock[], head: number): HTMLElement {
    const schedule = defaultSchedule(trunk);
    const slider = h('input', { type: 'range', min: 0, max: MAX_EPOCH, step: 1, value: 0 });
    const epochText = h('output', {});
    const row = h('div', {});
    const summary = h('p', { 'aria-live': 'polite' });
    const update = () => {
      const epoch = Number(slider.value);
      const step = stepAt(schedule, epoch);
      const first = firstTrainableOf(trunk, step);
      const from = step.from === 'head' ? 'the head only' : `${step.from} up`;
      epochText.textContent = `Epoch ${epoch}`;
      slider.setAttribute('aria-valuetext', `Epoch ${epoch}: training ${from}`);
      row.replaceChildren(blockRow(trunk, first, `Epoch ${epoch}. ${describe(trunk, first)}`));
      summary.textContent = `At epoch ${epoch}: ${describe(trunk, first)} ${count(trainableFrom(trunk, first, head))} trainable parameters.`;
    };
    slider.addEventListener('input', update);
    update();
    const plan = schedule
      .map((s) => `epoch ${s.epoch}: ${s.from === 'head' ? 'head only' : `from ${s.from}`}`)
      .join(' · ');
    return h(
      'section',
      { class: 'strategy' },
      h('h4', {}, 'Gradual unfreezing'),
      h('p', { class: 'muted' }, `Start with the head, then unfreeze from the top down: ${plan}.`),
      h('div', { class: 'slider' }, h('label', {}, 'Epoch ', slider), epochText),
      row,
      summary,
    );
  }
}
