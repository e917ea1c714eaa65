// <headstart-console>: sign in with an API key, then datasets, fine-tunes, heads and aliases —
// all through the public API with that key. Navigation is the URL hash (#datasets, #jobs/ID…),
// so the back button and links work; each view aborts its requests when the reader leaves it.
import { ApiProblem, apiBase, errorMessage, isAbort } from '../client.js';
import { HeadstartElement, h, uniqueId } from '../dom.js';
import { ConsoleApi, MAX_PAGE_SIZE } from './api.js';
import { datasetsView } from './datasets.js';
import { headsView } from './heads.js';
import { jobsView } from './jobs.js';
import { CONSOLE_CSS, type View, type ViewContext, field } from './ui.js';

const STORE = 'headstart-console-key';
const SECTIONS: Record<string, { label: string; view: View }> = {
  datasets: { label: 'Datasets', view: datasetsView },
  jobs: { label: 'Fine-tunes', view: jobsView },
  heads: { label: 'Heads and aliases', view: headsView },
};

function storage(kind: 'session' | 'local'): Storage | null {
  try {
    return kind === 'session' ? window.sessionStorage : window.localStorage;
  } catch {
    return null; // storage blocked: the key lives in memory only
  }
}

/** The key kept by an earlier sign-in (this tab first, then this device). */
export function storedKey(): string | null {
  return storage('session')?.getItem(STORE) ?? storage('local')?.getItem(STORE) ?? null;
}

let sheet: CSSStyleSheet | null = null;

/** Items per page of a list: the `page-size` attribute, else the page's `?page-size=`, else 100. */
function pageSize(el: HTMLElement): number {
  const text =
    el.getAttribute('page-size') ?? new URLSearchParams(location.search).get('page-size') ?? '';
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= MAX_PAGE_SIZE ? n : MAX_PAGE_SIZE;
}

/**
 * `<headstart-console>` — a window on what an API key owns. Attributes: `api` (API base; default:
 * the script's origin), `page-size` (items per page of a list, 1–100; default 100, or the page's
 * `?page-size=`).
 *
 * @example
 * <script type="module" src="/widgets.js"></script>
 * <headstart-console></headstart-console>
 */
export class HeadstartConsole extends HeadstartElement {
  private api: ConsoleApi | null = null;
  private readonly nav = h('nav', { 'aria-label': 'Console' });
  private readonly bar = h('div', { class: 'bar' }, this.nav);
  private readonly status = h('p', { class: 'muted', 'aria-live': 'polite' });
  private readonly main = h('div', {});
  private controller: AbortController | null = null;
  private readonly onHash = () => void this.render();

  constructor() {
    super();
    try {
      sheet ??= new CSSStyleSheet();
      if (sheet.cssRules.length === 0) sheet.replaceSync(CONSOLE_CSS);
      this.root.adoptedStyleSheets = [...this.root.adoptedStyleSheets, sheet];
    } catch {
      this.root.append(h('style', {}, CONSOLE_CSS));
    }
    this.root.append(this.bar, this.alertBox, this.status, this.main);
  }

  connectedCallback(): void {
    window.addEventListener('hashchange', this.onHash);
    const key = storedKey();
    this.api = key ? new ConsoleApi({ base: apiBase(this), apiKey: key }, pageSize(this)) : null;
    void this.render();
  }

  disconnectedCallback(): void {
    window.removeEventListener('hashchange', this.onHash);
    this.controller?.abort();
  }

  private say(text: string): void {
    this.status.textContent = text;
  }

  private signOut(message?: string): void {
    for (const kind of ['session', 'local'] as const) storage(kind)?.removeItem(STORE);
    this.api = null;
    void this.render().then(() => {
      if (message) this.showError(message);
      this.say(message ? '' : 'Signed out: this browser no longer keeps your key.');
    });
  }

  private fail(err: unknown): void {
    if (isAbort(err)) return;
    if (err instanceof ApiProblem && err.status === 401)
      return this.signOut(
        `Your API key was refused (401): ${err.detail} Sign in with a valid key.`,
      );
    this.showError(errorMessage(err));
  }

  private async render(): Promise<void> {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    // Whether the reader was inside the console before this render replaces what had focus.
    const hadFocus = this.matches(':focus-within');
    this.clearError();
    if (!this.api) return this.renderSignIn();
    const [path = '', queryText = ''] = location.hash.slice(1).split('?');
    const [name = 'datasets', ...rest] = path.split('/');
    const section = SECTIONS[name] ? name : 'datasets';
    const id = rest.length ? decodeURIComponent(rest.join('/')) : null;
    this.renderNav(section);
    const heading = h('h2', { tabindex: -1 }, 'Loading…');
    this.main.replaceChildren(heading);
    this.main.setAttribute('aria-busy', 'true');
    const ctx: ViewContext = {
      api: this.api,
      signal: controller.signal,
      query: new URLSearchParams(queryText),
      error: (err) => this.fail(err),
      clearError: () => this.clearError(),
      say: (text) => this.say(text),
      go: (hash) => {
        if (location.hash === hash) void this.render();
        else location.hash = hash;
      },
    };
    try {
      const view = await SECTIONS[section]!.view(ctx, id);
      if (controller.signal.aborted) return;
      heading.textContent = view.title;
      this.main.replaceChildren(heading, ...view.nodes);
      document.title = `${view.title} · Headstart console`;
      // After a step inside the console, focus moves to the new heading: it tells keyboard and
      // screen-reader users the view changed (a page load leaves focus where the browser put it).
      if (hadFocus) heading.focus({ preventScroll: true });
    } catch (err) {
      if (controller.signal.aborted) return;
      heading.textContent = SECTIONS[section]!.label;
      this.fail(err);
    } finally {
      this.main.removeAttribute('aria-busy');
    }
  }

  private renderNav(current: string): void {
    const items = Object.entries(SECTIONS).map(([key, { label }]) =>
      h(
        'li',
        {},
        h('a', { href: `#${key}`, 'aria-current': key === current ? 'page' : null }, label),
      ),
    );
    const signOut = h('button', { type: 'button', class: 'secondary' }, 'Sign out');
    signOut.addEventListener('click', () => this.signOut());
    this.nav.replaceChildren(h('ul', {}, ...items));
    this.bar.replaceChildren(this.nav, signOut);
    this.bar.hidden = false;
  }

  private renderSignIn(): void {
    this.bar.hidden = true;
    const key = h('input', {
      type: 'password',
      id: uniqueId('key'),
      autocomplete: 'off',
      spellcheck: 'false',
      required: true,
      placeholder: 'hs_key_…',
    });
    const remember = h('input', { type: 'checkbox', id: uniqueId('remember') });
    const submit = h('button', { type: 'submit' }, 'Sign in');
    const form = h(
      'form',
      {},
      h(
        'p',
        {},
        'Paste one of your API keys. It is sent only to this Headstart API, and kept in this tab ' +
          'until you sign out or close it — or on this device, if you tick the box.',
      ),
      field('API key', key),
      h('label', { class: 'check' }, remember, 'Remember on this device'),
      h('div', { class: 'actions' }, submit),
    );
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.signIn(key.value.trim(), remember.checked, submit);
    });
    const heading = h('h2', { tabindex: -1 }, 'Sign in');
    this.main.replaceChildren(heading, form);
    document.title = 'Sign in · Headstart console';
  }

  private async signIn(key: string, remember: boolean, submit: HTMLButtonElement): Promise<void> {
    if (!key) return this.showError('Paste your API key first.');
    this.clearError();
    submit.disabled = true;
    this.say('Checking the key…');
    const api = new ConsoleApi({ base: apiBase(this), apiKey: key }, pageSize(this));
    try {
      await api.datasets();
    } catch (err) {
      this.say('');
      submit.disabled = false;
      if (err instanceof ApiProblem && err.status === 401)
        return this.showError(
          `That API key was not accepted (401 ${err.code ?? 'unauthorized'}): check that you pasted the whole key, and that it has not been revoked.`,
        );
      return this.showError(errorMessage(err));
    }
    storage(remember ? 'local' : 'session')?.setItem(STORE, key);
    this.api = api;
    this.say(remember ? 'Signed in; this device remembers your key.' : 'Signed in.');
    if (!location.hash) history.replaceState(null, '', '#datasets');
    await this.render();
  }
}
