/**
 * Discovery and JWKS as a browser sees them (DESIGN.md §1: CORS on discovery and JWKS is `*`
 * without credentials): Chromium opens the discovery document, and a page on another origin
 * reads the JWKS with fetch(), as a single-page app's OIDC library does.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, resultPath, startServer, type TesseraServer } from './browser.js';

/** A page that fetches `jwksUrl` cross-origin, with and without credentials, and shows what came back. */
function appPage(jwksUrl: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>JWKS probe</title>
<style>body{font:16px system-ui,sans-serif;margin:2em} pre{background:#eef;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}</style></head>
<body>
<h1>Keys of the issuer</h1>
<p>Fetched from <code id="url"></code></p>
<pre id="result" data-state="pending">loading…</pre>
<script>
const url = ${JSON.stringify(jwksUrl)};
document.getElementById('url').textContent = url;
(async () => {
  const out = document.getElementById('result');
  try {
    const r = await fetch(url);
    const body = await r.json();
    // ACAO "*" forbids credentials (Fetch standard, CORS check): this one must fail.
    const credentialed = await fetch(url, { credentials: 'include' }).then(() => 'allowed', (e) => e.name);
    out.textContent = JSON.stringify({ origin: location.origin, status: r.status, contentType: r.headers.get('content-type'), body, credentialed }, null, 2);
    out.dataset.state = 'done';
  } catch (e) {
    out.textContent = String(e);
    out.dataset.state = 'failed';
  }
})();
</script>
</body></html>`;
}

describe('discovery and JWKS in Chromium', () => {
  let server: TesseraServer;
  let browser: Browser;
  let app: Server;
  let appOrigin: string;

  beforeAll(async () => {
    // Chromium first: without it the tests must fail here, before anything else is set up.
    browser = await launchBrowser();
    server = await startServer();
    app = createServer((req, res) => {
      if (req.url !== '/') return res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(appPage(`${server.issuer}/protocol/openid-connect/certs`));
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    appOrigin = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await new Promise((resolve) => (app ? app.close(resolve) : resolve(undefined)));
  });

  it('opens the discovery document and shows the same JSON a library gets', async () => {
    const url = `${server.issuer}/.well-known/openid-configuration`;
    const expected = await (await fetch(url)).json();
    expect(expected).toMatchObject({ issuer: server.issuer, jwks_uri: `${server.issuer}/protocol/openid-connect/certs` });

    const page = await browser.newPage();
    try {
      const response = await page.goto(url);
      expect({ status: response?.status(), type: response?.headers()['content-type'] }).toEqual({ status: 200, type: expect.stringMatching(/^application\/json\b/) });
      // Chromium shows a JSON response as text in a <pre>.
      const shown = await page.locator('pre').first().textContent();
      expect(JSON.parse(shown ?? '')).toEqual(expected);
    } finally {
      await page.close();
    }
  });

  it('lets a page on another origin read the JWKS with fetch(), but not with credentials', async () => {
    const expected = await (await fetch(`${server.issuer}/protocol/openid-connect/certs`)).json();
    expect(expected.keys.length).toBeGreaterThan(0);

    const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
    try {
      await page.goto(`${appOrigin}/`);
      const result = page.locator('#result');
      await page.locator('#result:not([data-state="pending"])').waitFor({ timeout: 10_000 });
      expect(await result.getAttribute('data-state'), (await result.textContent()) ?? '').toBe('done');
      expect(JSON.parse((await result.textContent()) ?? '')).toEqual({
        origin: appOrigin,
        status: 200,
        contentType: expect.stringMatching(/^application\/(jwk-set\+)?json\b/),
        body: expected,
        credentialed: 'TypeError',
      });
      // No private key material reaches the page.
      for (const key of expected.keys) expect(Object.keys(key).filter((k) => ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].includes(k))).toEqual([]);

      const shot = resultPath('discovery-jwks-cross-origin.png');
      await page.screenshot({ path: shot, fullPage: true });
      expect(readFileSync(shot).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    } finally {
      await page.close();
    }
  });
});
