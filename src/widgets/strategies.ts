// <headstart-strategies>: feature extraction, partial and full fine-tuning drawn over a backbone's
// real blocks, with trainable-parameter counts, and a gradual-unfreezing schedule on a slider.
import { apiBase, errorMessage, isAbort, requestJson } from './client.js';
import { LoadingElement, count, h, svg } from './dom.js';
import { type BackboneBlock, parseBackbone } from './responses.js';
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

/**
 * `<headstart-strategies>` — which blocks each transfer-learning strategy trains, counted.
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
    try {
      const body = await requestJson(apiBase(this), `/v1/models/${encodeURIComponent(backbone)}`, {
        signal,
      });
      const manifest = parseBackbone(body);
      const trunk = manifest.blocks ? trunkBlocks(manifest.blocks) : [];
      if (trunk.length === 0) {
        this.content.replaceChildren(
          h(
            'p',
            {},
            `The manifest of ${manifest.id} does not list its blocks yet, so the three strategies ` +
              'cannot be drawn with real parameter counts.',
          ),
        );
        return;
      }
      this.render(manifest.id, trunk, manifest.embeddingDim);
    } catch (err) {
      if (isAbort(err)) return;
      this.content.replaceChildren();
      this.showError(errorMessage(err));
    }
  }

  private render(backbone: string, trunk: readonly BackboneBlock[], embeddingDim: number): void {
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
