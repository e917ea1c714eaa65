// DOM building blocks shared by the widgets: element builders that only ever set text (never
// HTML), composed CustomEvents, and the base class that owns the shadow root and its styles.
import { adoptStyles } from './styles.js';

type Attrs = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | null | undefined | false;

function applyAttrs(element: Element, attrs: Attrs): void {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
}

function appendChildren(parent: Element, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child);
  }
}

/**
 * An HTML element with attributes and children; strings become text nodes, so data from the API
 * can never inject markup.
 *
 * @example
 * h('label', {}, h('input', { type: 'radio', name: 'q1', value: 'a' }), 'Option A');
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  applyAttrs(element, attrs);
  appendChildren(element, children);
  return element;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * An SVG element, as `h` does for HTML.
 *
 * @example
 * svg('rect', { x: 0, y: 0, width: 10, height: 10 }, svg('title', {}, 'block_3'));
 */
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG_NS, tag);
  applyAttrs(element, attrs);
  appendChildren(element, children);
  return element;
}

/**
 * Dispatches a CustomEvent that bubbles out of the shadow root (composed), so a page can listen on
 * `document`.
 *
 * @example
 * emit(this, 'headstart:graded', { lesson, score, total, results });
 */
export function emit(target: EventTarget, name: string, detail: unknown): void {
  target.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
}

let nextId = 0;
/** A document-unique id for label/control pairs inside one shadow root. */
export const uniqueId = (prefix: string): string => `${prefix}-${++nextId}`;

/** Formats a fraction as a whole-number percentage, e.g. 0.4291 → "42.9%". */
export const percent = (fraction: number, digits = 1): string =>
  `${(fraction * 100).toFixed(digits)}%`;

/** Formats a count with the reader's digit grouping, e.g. 410208 → "410,208". */
export const count = (n: number): string => n.toLocaleString();

/**
 * The base of every Headstart element: an open shadow root with the shared styles and an alert
 * region that exists before any message is put in it (so screen readers announce it).
 */
export abstract class HeadstartElement extends HTMLElement {
  protected readonly root: ShadowRoot;
  /** `role="alert"` region for errors; empty and hidden while there is nothing to say. */
  protected readonly alertBox: HTMLParagraphElement;

  constructor() {
    super();
    this.root = this.attachShadow({ mode: 'open' });
    adoptStyles(this.root);
    this.alertBox = h('p', { role: 'alert', class: 'alert', hidden: true });
  }

  /** The attribute's trimmed value, or null when it is absent or blank. */
  protected attr(name: string): string | null {
    const value = this.getAttribute(name)?.trim();
    return value ? value : null;
  }

  /** Shows `message` in the alert region. */
  protected showError(message: string): void {
    this.alertBox.textContent = message;
    this.alertBox.hidden = false;
  }

  protected clearError(): void {
    this.alertBox.textContent = '';
    this.alertBox.hidden = true;
  }
}

/**
 * An element that fetches what it shows: it loads once per burst of attribute changes (on
 * upgrade every attribute and the connection each call in), and a new load or a disconnection
 * aborts the one in flight.
 */
export abstract class LoadingElement extends HeadstartElement {
  private controller: AbortController | null = null;
  private loadQueued = false;

  connectedCallback(): void {
    this.queueLoad();
  }

  disconnectedCallback(): void {
    this.controller?.abort();
    this.controller = null;
  }

  attributeChangedCallback(_name: string, old: string | null, value: string | null): void {
    if (old !== value) this.queueLoad();
  }

  private queueLoad(): void {
    if (this.loadQueued) return;
    this.loadQueued = true;
    queueMicrotask(() => {
      this.loadQueued = false;
      if (!this.isConnected) return;
      this.controller?.abort();
      const controller = new AbortController();
      this.controller = controller;
      this.clearError();
      void this.load(controller.signal);
    });
  }

  /** The current load's signal, for follow-up requests that should end with it. */
  protected get loadSignal(): AbortSignal | undefined {
    return this.controller?.signal;
  }

  /** Fetches and renders; `signal` aborts when a newer load starts or the element leaves. */
  protected abstract load(signal: AbortSignal): Promise<void>;
}
