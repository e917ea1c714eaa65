// What every console view is handed, and the few building blocks they share: tables that
// scroll on a phone, labelled fields, buttons, dates.
import { h, uniqueId } from '../dom.js';
import type { ConsoleApi, Page } from './api.js';

/** A view's world: the API, a signal that aborts when the reader leaves, and the element's voice. */
export interface ViewContext {
  readonly api: ConsoleApi;
  /** Aborts when another view replaces this one (or the element leaves the page). */
  readonly signal: AbortSignal;
  /** `?key=value` of the hash (`#jobs?dataset=ds_…`). */
  readonly query: URLSearchParams;
  /** Shows an error (a 401 signs the reader out); aborts are ignored. */
  error(err: unknown): void;
  clearError(): void;
  /** Announces `text` in the polite live region. */
  say(text: string): void;
  /** Goes to `hash` (or re-renders when it is the current one). */
  go(hash: string): void;
}

/** A rendered view: its heading and its content. */
export interface Rendered {
  readonly title: string;
  readonly nodes: readonly Node[];
}

/** Renders the view for `id` (null on a list). */
export type View = (ctx: ViewContext, id: string | null) => Promise<Rendered>;

type Cell = Node | string;

/**
 * A captioned table in a region that scrolls sideways on narrow screens (keyboard-focusable).
 *
 * @example
 * table('Your datasets', ['Name', 'Images'], rows.map((d) => [d.name, String(d.imageCount)]));
 */
export function table(
  caption: string,
  headers: readonly string[],
  rows: readonly Cell[][],
): HTMLElement {
  return h(
    'div',
    { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': caption },
    h(
      'table',
      { class: 'wide' },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, ...headers.map((t) => h('th', { scope: 'col' }, t)))),
      h(
        'tbody',
        {},
        ...rows.map((row) =>
          h(
            'tr',
            {},
            ...row.map((cell, i) =>
              i === 0 ? h('th', { scope: 'row' }, cell) : h('td', {}, cell),
            ),
          ),
        ),
      ),
    ),
  );
}

/**
 * A newest-first list shown a page at a time: a "Show older" button under it appends the next
 * page while the API has one. `render` draws every item shown so far (a table, or a line when
 * there are none).
 *
 * @example
 * const jobs = new PagedList(ctx, 'jobs', (c) => ctx.api.jobsPage(c, ctx.signal), jobsTable);
 * await jobs.load();
 */
export class PagedList<T extends { readonly id: string }> {
  readonly element: HTMLElement;
  private readonly list = h('div', {});
  private readonly more: HTMLButtonElement;
  private readonly moreBox: HTMLElement;
  private shown: T[] = [];
  private cursor: string | null = null;
  /** Whether an older page has been appended. */
  private opened = false;
  /** A page is on its way (a second press waits for it; the button keeps its focus). */
  private busy = false;

  constructor(
    private readonly ctx: ViewContext,
    private readonly noun: string,
    private readonly fetchPage: (cursor: string | null) => Promise<Page<T>>,
    private readonly render: (items: readonly T[]) => Node,
  ) {
    this.more = button('Show older', () => void this.older());
    this.moreBox = h('div', { class: 'actions', hidden: true }, this.more);
    this.element = h('div', {}, this.list, this.moreBox);
  }

  /**
   * Fetches the first page (again). What else is shown stays below it, less what the new first
   * page holds, so nothing is shown twice.
   */
  async load(): Promise<readonly T[]> {
    const page = await this.fetchPage(null);
    const fresh = new Set(page.items.map((x) => x.id));
    // Until the reader opens an older page, "Show older" goes on from the first page's end
    // (what it fetches again of the items kept below is dropped then).
    if (!this.opened) this.cursor = page.nextCursor;
    this.show([...page.items, ...this.shown.filter((x) => !fresh.has(x.id))]);
    return page.items;
  }

  private async older(): Promise<void> {
    if (this.cursor === null || this.busy) return;
    this.busy = true;
    try {
      const page = await this.fetchPage(this.cursor);
      const seen = new Set(this.shown.map((x) => x.id));
      this.cursor = page.nextCursor;
      this.opened = true;
      this.show([...this.shown, ...page.items.filter((x) => !seen.has(x.id))]);
      this.ctx.say(
        `Showing ${this.shown.length} ${this.noun}${this.cursor === null ? ': all of them' : ''}.`,
      );
    } catch (err) {
      this.ctx.error(err);
    } finally {
      this.busy = false;
    }
  }

  private show(items: T[]): void {
    const hadFocus = this.more.matches(':focus');
    this.shown = items;
    this.list.replaceChildren(this.render(items));
    this.moreBox.hidden = this.cursor === null;
    // The button leaves with the last page: focus goes to the list rather than the page's top.
    if (hadFocus && this.moreBox.hidden)
      this.list.querySelector<HTMLElement>('[tabindex]')?.focus({ preventScroll: true });
  }
}

/** A link inside the console (hash navigation). */
export const link = (hash: string, text: string): HTMLAnchorElement => h('a', { href: hash }, text);

/** A real button that runs `action` on click. */
export function button(
  text: string,
  action: () => void,
  secondary = true,
  label?: string,
): HTMLButtonElement {
  const b = h(
    'button',
    { type: 'button', class: secondary ? 'secondary' : null, 'aria-label': label ?? null },
    text,
  );
  b.addEventListener('click', action);
  return b;
}

/** A label and its control, stacked; a hint below them describes the control. */
export function field(text: string, control: HTMLElement, hint?: string): HTMLElement {
  control.id ||= uniqueId('field');
  const box = h('div', { class: 'field' }, h('label', { for: control.id }, text), control);
  if (hint) {
    const id = uniqueId('hint');
    control.setAttribute('aria-describedby', id);
    box.append(h('span', { id, class: 'muted' }, hint));
  }
  return box;
}

/** "2026-12-07 17:04" from an ISO time, in the reader's zone. */
export function when(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Asks before something that cannot be undone. */
export const confirmed = (question: string): boolean => window.confirm(question);

/** The console's own rules on top of the widgets' stylesheet. */
export const CONSOLE_CSS = `
:host { max-width: 72rem; }
nav ul { display: flex; flex-wrap: wrap; gap: 0.25rem 1rem; margin: 0; padding: 0; list-style: none; }
nav a { display: inline-block; padding: 0.35rem 0.25rem; color: var(--_accent); font-weight: 600; }
nav a[aria-current='page'] { color: var(--_fg); text-decoration-thickness: 3px; }
.bar { display: flex; flex-wrap: wrap; gap: 0.5rem 1rem; align-items: center; justify-content: space-between;
  border-bottom: 1px solid var(--_muted); padding-bottom: 0.5rem; margin-bottom: 1rem; }
h2 { margin: 0 0 0.75rem; font-size: 1.3rem; line-height: 1.3; overflow-wrap: anywhere; }
h2:focus { outline: none; }
h3 { margin-top: 1.5rem; }
a { color: var(--_accent); }
p, li, dd, h2 { overflow-wrap: anywhere; }
table.wide { width: 100%; }
table.wide th, table.wide td { text-align: left; }
table.wide th[scope='row'] { font-weight: 400; white-space: nowrap; }
.field { display: flex; flex-direction: column; gap: 0.2rem; margin: 0 0 0.75rem; max-width: 30rem; }
.field input, .field select { padding: 0.35rem 0.5rem; border: 1px solid var(--_muted);
  border-radius: calc(var(--_radius) / 2); background: var(--_bg); max-width: 100%; }
.check { display: flex; gap: 0.5rem; align-items: center; margin: 0 0 0.75rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr)); gap: 0 1.5rem; }
td button { padding: 0.1rem 0.6rem; font-weight: inherit; }
.panel > h3:first-child { margin-top: 0; }
.panel { margin: 1rem 0; padding: 1rem; border: 1px solid var(--_muted); border-radius: var(--_radius); }
progress { width: 100%; max-width: 30rem; height: 1rem; accent-color: var(--_accent); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; margin: 0.5rem 0; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
.status-failed { color: var(--_bad); font-weight: 700; }
.status-succeeded { color: var(--_ok); font-weight: 700; }
.thumb { width: 96px; height: 96px; object-fit: cover; flex: none; border: 1px solid var(--_muted);
  border-radius: calc(var(--_radius) / 2); background: var(--_bg); font-size: 0.75rem; overflow: hidden; }
.thumb.missing { display: inline-flex; align-items: center; justify-content: center; }
.thumbs { display: flex; flex-wrap: wrap; gap: 0.5rem; list-style: none; margin: 0.25rem 0 1rem; padding: 0; }
.photos { list-style: none; margin: 0.5rem 0; padding: 0; }
.photos li { display: flex; gap: 0.75rem; align-items: center; padding: 0.25rem 0; font-size: 0.9rem; }
.photos li > span { min-width: 0; overflow-wrap: anywhere; }
@media (max-width: 30rem) { :host { padding: 0.75rem; } dl { grid-template-columns: 1fr; } }
`;
