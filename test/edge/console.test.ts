// The console page inside workerd: it answers /console with a page that loads the widget bundle
// from this origin and holds the console element, under a CSP without inline scripts or other
// origins; the landing page links to it.
import { SELF } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';

describe('the console page', () => {
  it('serves the console element under a first-party CSP', async () => {
    const res = await SELF.fetch('https://edge.test/console');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'self'");
    expect(csp).not.toMatch(/unsafe-eval|https?:\/\//);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).toContain('<script type="module" src="/widgets.js"></script>');
    expect(html).toContain('<headstart-console>');
    // The only script is the bundle: no inline code, no third-party source.
    expect([...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual([
      '<script type="module" src="/widgets.js">',
    ]);
    expect(html).not.toMatch(/hs_key_/);
  });

  it('is linked from the landing page, and the bundle it loads defines the element', async () => {
    const home = await (await SELF.fetch('https://edge.test/')).text();
    expect(home).toContain('href="/console"');
    const js = await SELF.fetch('https://edge.test/widgets.js');
    expect(js.status).toBe(200);
    expect(await js.text()).toContain('"headstart-console"');
  });
});
