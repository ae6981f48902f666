/**
 * Single-page apps with the OIDC libraries users already have, unchanged (DESIGN.md §1
 * "Client libraries that must work unchanged"): oidc-client-ts and Keycloak's own adapter
 * (keycloak-js, `checkLoginIframe: false`). Each page is served from a loopback origin that is
 * the client's redirect URI and CORS origin, loads the library's own browser build from
 * node_modules (no bundler, no CDN), and runs the library's sign-in redirect; Chromium fills
 * Tessera's login and consent forms, and the page ends signed in.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers.js';
import { linksIn, startSmtpSink, type SmtpSink } from '../support/smtp_sink.js';
import { createUser, type CreatedUser } from '../support/users.js';
import { decide, resultPage, shownResult, signIn, startApp, type LoopbackApp } from './apps.js';
import { launchBrowser, startServer, type TesseraServer } from './browser.js';

const API = 'https://api.loomai.com/';
const ALICE = { username: 'alice', password: 'correct horse battery', email: 'alice@example.test', name: 'Alice Liddell' };
const nowSeconds = () => Math.floor(Date.now() / 1000);

const require = createRequire(import.meta.url);
/** The packages' own browser builds: oidc-client-ts's IIFE (global `oidc`), keycloak-js's ES module (no imports). */
const OIDC_CLIENT_TS = join(dirname(require.resolve('oidc-client-ts/package.json')), 'dist/browser/oidc-client-ts.js');
const KEYCLOAK_JS = require.resolve('keycloak-js'); // lib/keycloak.js, its only entry point

const shell = (title: string, scripts: string) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font:16px system-ui,sans-serif;margin:2em}pre{background:#eef;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}</style></head>
<body><h1>${title}</h1><pre id="result" data-state="pending">signing in…</pre>
${scripts}</body></html>`;

/** oidc-client-ts's UserManager: signinRedirect(), then signinRedirectCallback() when the code comes back. */
const oidcClientTsPage = (settings: object) =>
  shell('oidc-client-ts app', `<script src="/lib/oidc-client-ts.js"></script>
<script>
(async () => {
  const out = document.getElementById('result');
  try {
    const mgr = new oidc.UserManager(${JSON.stringify(settings)});
    const params = new URLSearchParams(location.search);
    if (params.has('code') || params.has('error')) {
      const user = await mgr.signinRedirectCallback();
      const stored = await mgr.getUser();
      out.textContent = JSON.stringify({
        profile: user.profile, access_token: user.access_token, token_type: user.token_type, scope: user.scope,
        expires_in: user.expires_in, id_token: user.id_token, refresh_token: user.refresh_token ?? null,
        stored: stored && stored.access_token === user.access_token,
      }, null, 2);
      out.dataset.state = 'done';
    } else {
      await mgr.signinRedirect();
    }
  } catch (e) {
    out.textContent = String((e && e.stack) || e);
    out.dataset.state = 'failed';
  }
})();
</script>`);

/** keycloak-js as its documentation shows it; `window.kc` lets the test call the adapter afterwards. */
const keycloakPage = (config: object, init: object = { onLoad: 'login-required', checkLoginIframe: false, pkceMethod: 'S256', scope: 'profile read:avatars' }) =>
  shell('keycloak-js app', `<script type="module">
import Keycloak from '/lib/keycloak.js';
const out = document.getElementById('result');
try {
  const kc = new Keycloak(${JSON.stringify(config)});
  window.kc = kc;
  const authenticated = await kc.init(${JSON.stringify(init)});
  out.textContent = JSON.stringify({
    authenticated, subject: kc.subject ?? null, token: kc.token ?? null, tokenParsed: kc.tokenParsed ?? null,
    idToken: kc.idToken ?? null, idTokenParsed: kc.idTokenParsed ?? null, refreshToken: kc.refreshToken ?? null, href: location.href,
  }, null, 2);
  out.dataset.state = 'done';
} catch (e) {
  out.textContent = String((e && (e.stack || e.error_description || JSON.stringify(e))) || e);
  out.dataset.state = 'failed';
}
</script>`);

interface Seen {
  url: string;
  status: number;
}

let browser: Browser;
// One Chromium for the file; each test gets a fresh profile (context).
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe.each(BACKENDS)('OIDC libraries in Chromium on %s', (backend) => {
  let sink: SmtpSink;
  let server: TesseraServer;
  let app: LoopbackApp;
  let alice: CreatedUser;
  let issuer: string;
  let jwks: ReturnType<typeof createRemoteJWKSet>;
  let oidcClient: { client_id: string };
  let kcClient: { client_id: string };
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    // Mail (sign-up links) goes over SMTP to a sink of this file.
    sink = await startSmtpSink();
    server = await startServer({ backend, env: { SMTP_URL: sink.url } });
    issuer = server.issuer;
    jwks = createRemoteJWKSet(new URL(`${issuer}/protocol/openid-connect/certs`));
    app = await startApp();
    app.file('/lib/oidc-client-ts.js', OIDC_CLIENT_TS, 'text/javascript; charset=utf-8');
    app.file('/lib/keycloak.js', KEYCLOAK_JS, 'text/javascript; charset=utf-8');
    app.route('/cb', (_req, res, r) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(resultPage('Callback', r.query)));
    app.route('/signed-out.html', (_req, res, r) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(resultPage('Signed out', r.query)));

    await server.cli('api', 'create', '--tenant', 'default', '--audience', API, '--scope', 'read:avatars=Read your avatars');
    [oidcClient, kcClient, alice] = await Promise.all([
      server.cli('client', 'create', '--tenant', 'default', '--name', 'OIDC Client TS App', '--public', '--grant-types', 'authorization_code',
        '--redirect-uri', `${app.origin}/oidc-client-ts.html`, '--cors-origin', app.origin, '--scopes', 'read:avatars'),
      // What a Keycloak client has: refresh tokens bound to the session, and a logout redirect.
      server.cli('client', 'create', '--tenant', 'default', '--name', 'Keycloak JS App', '--public', '--grant-types', 'authorization_code,refresh_token',
        '--session-refresh-tokens', '--redirect-uri', `${app.origin}/keycloak.html`, '--redirect-uri', `${app.origin}/cb`,
        '--post-logout-redirect-uri', `${app.origin}/signed-out.html`, '--cors-origin', app.origin, '--scopes', 'read:avatars'),
      createUser(server, ALICE),
    ]);
    app.route('/oidc-client-ts.html', (_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(oidcClientTsPage({
        authority: issuer, client_id: oidcClient.client_id, redirect_uri: `${app.origin}/oidc-client-ts.html`,
        response_type: 'code', scope: 'openid profile read:avatars', loadUserInfo: true,
      })));
    app.route('/keycloak.html', (_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(keycloakPage({ url: server.baseUrl, realm: 'default', clientId: kcClient.client_id })));
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await server?.stop();
    await app?.close();
    await sink?.close();
  });

  /** A fresh browser profile; records every response from Tessera and the page's console. */
  async function newPage(): Promise<{ page: Page; seen: Seen[]; console: string[] }> {
    const context = await browser.newContext({ viewport: { width: 900, height: 800 } });
    contexts.push(context);
    const page = await context.newPage();
    const seen: Seen[] = [];
    const console: string[] = [];
    page.on('response', (r) => {
      if (r.url().startsWith(server.baseUrl)) seen.push({ url: r.url().split('?')[0], status: r.status() });
    });
    page.on('console', (m) => console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => console.push(`pageerror: ${e.message}`));
    return { page, seen, console };
  }

  async function verifyAccessToken(token: string, clientId: string) {
    expect(decodeProtectedHeader(token)).toMatchObject({ typ: 'at+jwt' });
    const { payload } = await jwtVerify(token, jwks, { issuer, audience: API, typ: 'at+jwt' });
    expect(payload).toMatchObject({ iss: issuer, sub: alice.id, client_id: clientId });
    return payload;
  }

  it('signs in with oidc-client-ts (code + PKCE, discovery, CORS token request, userinfo)', async () => {
    const { page, seen, console } = await newPage();
    await page.goto(`${app.origin}/oidc-client-ts.html`);
    await signIn(page, issuer, ALICE);
    await decide(page, { clientName: 'OIDC Client TS App', descriptions: ['Know who you are', 'See your name and username', 'Read your avatars'] });
    await page.waitForURL(`${app.origin}/oidc-client-ts.html?**`);
    const user = await shownResult(page).catch((e) => {
      throw new Error(`${e.message}\nconsole:\n${console.join('\n')}`);
    });

    expect(user).toMatchObject({
      profile: { iss: issuer, sub: alice.id, aud: oidcClient.client_id, preferred_username: 'alice', name: 'Alice Liddell' },
      token_type: 'Bearer', scope: 'openid profile read:avatars', refresh_token: null, stored: true,
    });
    expect(user.expires_in).toBeGreaterThan(3500);
    const claims = await verifyAccessToken(user.access_token, oidcClient.client_id);
    expect(claims.scope).toBe('openid profile read:avatars');
    // The library fetched discovery, exchanged the code, and loaded userinfo, all cross-origin, none refused.
    expect(seen.filter((s) => s.status >= 400)).toEqual([]);
  });

  describe('keycloak-js', () => {
    /** keycloak-js's init({ onLoad: 'login-required' }) through Tessera's forms; the page then holds a signed-in `window.kc`. */
    async function signInWithKeycloak() {
      const { page, seen, console: logs } = await newPage();
      await page.goto(`${app.origin}/keycloak.html`);
      await signIn(page, issuer, ALICE);
      await decide(page, { clientName: 'Keycloak JS App', descriptions: ['Know who you are', 'See your name and username', 'Read your avatars'] });
      await page.waitForURL((u) => u.href.startsWith(`${app.origin}/keycloak.html`));
      const result = await shownResult(page).catch((e) => {
        throw new Error(`${e.message}\nconsole:\n${logs.join('\n')}\nTessera responses: ${JSON.stringify(seen)}`);
      });
      expect(result.authenticated).toBe(true);
      return { page, seen, result };
    }

    it('signs in with keycloak-js (init login-required, fragment response, PKCE S256, nonce check)', async () => {
      const { page, seen, result } = await signInWithKeycloak();
      expect(result).toMatchObject({
        authenticated: true, subject: alice.id, tokenParsed: { iss: issuer, sub: alice.id },
        idTokenParsed: { iss: issuer, sub: alice.id, aud: kcClient.client_id, preferred_username: 'alice' },
        // keycloak-js removed the response parameters from the fragment.
        href: `${app.origin}/keycloak.html`,
      });
      await verifyAccessToken(result.token, kcClient.client_id);
      // Only the endpoints of the code flow were needed: no login-status iframe, no 3p-cookie check.
      expect(seen.filter((s) => s.status >= 400)).toEqual([]);
      expect([...new Set(seen.map((s) => s.url.slice(server.baseUrl.length)))].sort()).toEqual([
        '/realms/default/login-actions/authenticate',
        '/realms/default/login-actions/consent',
        '/realms/default/protocol/openid-connect/auth',
        '/realms/default/protocol/openid-connect/token',
      ]);

      // loadUserInfo(): the userinfo endpoint with the bearer token, cross-origin.
      const info = await page.evaluate(() => (window as any).kc.loadUserInfo());
      expect(info).toEqual({ sub: alice.id, preferred_username: 'alice', name: 'Alice Liddell', updated_at: expect.any(Number) });
    });

    it('gets a refresh token (a JWT keycloak-js can decode) and refreshes with updateToken()', async () => {
      const { page, result } = await signInWithKeycloak();
      // DESIGN.md §1: --session-refresh-tokens gives the code flow a session-bound refresh token, a JWT (typ rt+jwt, aud = issuer).
      expect(result.refreshToken, 'the token response carried no refresh_token').toEqual(expect.any(String));
      expect(decodeProtectedHeader(result.refreshToken)).toMatchObject({ typ: 'rt+jwt' });
      const parsed = await page.evaluate(() => (window as any).kc.refreshTokenParsed);
      expect(parsed).toMatchObject({ iss: issuer, aud: issuer, sub: alice.id, exp: expect.any(Number) });
      expect(parsed.exp).toBeGreaterThan(nowSeconds());

      // updateToken(-1) forces a refresh: POST token grant_type=refresh_token&refresh_token&client_id, credentials included.
      const refreshed = await page.evaluate(async () => {
        const kc = (window as any).kc;
        const before = kc.token;
        try {
          const done = await kc.updateToken(-1);
          return { done, changed: kc.token !== before, token: kc.token, refreshToken: kc.refreshToken ?? null };
        } catch (e: any) {
          return { error: String(e?.message ?? e), status: e?.response?.status ?? null, body: e?.response ? await e.response.text() : null };
        }
      });
      expect(refreshed).toEqual({ done: true, changed: true, token: expect.any(String), refreshToken: expect.any(String) });
      await verifyAccessToken(refreshed.token!, kcClient.client_id);
    });

    it('signs out with logout(): the end-session endpoint ends the session and returns to the registered URI', async () => {
      const { page } = await signInWithKeycloak();
      // keycloak-js: GET {realm}/protocol/openid-connect/logout?client_id&post_logout_redirect_uri&id_token_hint. With a
      // valid id_token_hint Keycloak ends the session and redirects at once (OIDC RP-Initiated Logout §2, §3).
      const answered = page.waitForResponse((r) => r.url().startsWith(`${issuer}/protocol/openid-connect/logout`));
      await page.evaluate(() => (window as any).kc.logout({ redirectUri: `${location.origin}/signed-out.html` }));
      const logout = await answered;
      const body = logout.status() >= 300 && logout.status() < 400 ? '' : await logout.text().catch(() => '');
      expect({ status: logout.status(), location: logout.headers().location ?? null }, `GET ${logout.url().split('?')[0]} answered: ${body}`).toEqual({
        status: expect.toSatisfy((s: number) => s === 302 || s === 303, 'a redirect'),
        location: expect.toSatisfy((l: unknown) => typeof l === 'string' && l.startsWith(`${app.origin}/signed-out.html`), 'the post_logout_redirect_uri'),
      });
      await page.waitForURL(`${app.origin}/signed-out.html**`);

      // The session is over: a silent request now needs a login.
      await page.goto(`${issuer}/protocol/openid-connect/auth?${new URLSearchParams({
        client_id: kcClient.client_id, redirect_uri: `${app.origin}/cb`, response_type: 'code', scope: 'openid', prompt: 'none', state: 'after-logout',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
      })}`);
      await page.waitForURL(`${app.origin}/cb?**`);
      expect(await shownResult(page)).toMatchObject({ error: 'login_required', state: 'after-logout', iss: issuer });
    });

    it("keycloak-js's register() reaches the sign-up page and ends signed in", async () => {
      const dinah = { username: 'dinah', email: 'dinah@example.test', password: 'cheshire cat grin' };
      // Its own client and page: keycloak-js initialised without a login, so the app can offer "Sign up".
      const signUpClient: { client_id: string } = await server.cli('client', 'create', '--tenant', 'default', '--name', 'Keycloak Sign-up App', '--public',
        '--grant-types', 'authorization_code,refresh_token', '--session-refresh-tokens', '--redirect-uri', `${app.origin}/keycloak-signup.html`,
        '--cors-origin', app.origin, '--scopes', 'read:avatars');
      app.route('/keycloak-signup.html', (_req, res) =>
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(keycloakPage(
          { url: server.baseUrl, realm: 'default', clientId: signUpClient.client_id },
          { checkLoginIframe: false, pkceMethod: 'S256', scope: 'profile read:avatars' },
        )));
      await server.cli('tenant', 'update', 'default', '--registration', 'on');
      try {
        // The server sees CLI changes within a second: wait until sign-up is open.
        const registrations = `${issuer}/protocol/openid-connect/registrations?${new URLSearchParams({
          client_id: signUpClient.client_id, redirect_uri: `${app.origin}/keycloak-signup.html`, response_type: 'code', scope: 'openid',
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
        })}`;
        await expect.poll(async () => (await fetch(registrations, { redirect: 'manual' })).status, { timeout: 10_000, interval: 100 }).toBe(200);

        const { page, seen, console: logs } = await newPage();
        await page.goto(`${app.origin}/keycloak-signup.html`);
        expect(await shownResult(page)).toMatchObject({ authenticated: false });

        // register(): keycloak-js sends the browser to Keycloak's registration endpoint.
        await page.evaluate(() => {
          void (window as any).kc.register();
        });
        await page.waitForURL((u) => u.pathname.endsWith('/protocol/openid-connect/registrations'), { timeout: 15_000 });
        const at = new URL(page.url());
        expect(`${at.origin}${at.pathname}`).toBe(`${issuer}/protocol/openid-connect/registrations`);
        expect(at.searchParams.get('client_id')).toBe(signUpClient.client_id);
        expect(await page.locator('h1').innerText()).toMatch(/^Create your .+ account$/);
        for (const name of ['username', 'email', 'password', 'password_confirm']) expect(await page.locator(`form input[name="${name}"]`).count()).toBe(1);

        await page.getByLabel('Username').fill(dinah.username);
        await page.getByLabel('Email').fill(dinah.email);
        await page.locator('input[name="password"]').fill(dinah.password);
        await page.locator('input[name="password_confirm"]').fill(dinah.password);
        await page.getByRole('button', { name: 'Create account', exact: true }).click();
        await expect.poll(() => page.locator('h1').innerText(), { timeout: 15_000 }).toBe('Check your email');

        // The link from the mail, in the same page.
        const mail = await sink.waitFor((m) => m.to === dinah.email && m.subject.startsWith('Finish creating your'), 20_000);
        const link = linksIn(mail.text).find((l) => l.startsWith(`${issuer}/login-actions/sign-up?key=`));
        expect(link, mail.text).toBeDefined();
        await page.goto(link!);
        expect(await page.locator('h1').innerText()).toBe('Finish creating your account');
        await page.getByRole('button', { name: 'Create account', exact: true }).click();
        await decide(page, { clientName: 'Keycloak Sign-up App', descriptions: ['Know who you are', 'See your name and username', 'Read your avatars'] });

        // Back at the app: keycloak-js redeems the code and is signed in as the new user.
        await page.waitForURL((u) => u.href.startsWith(`${app.origin}/keycloak-signup.html`), { timeout: 20_000 });
        const result = await shownResult(page).catch((e) => {
          throw new Error(`${e.message}\nconsole:\n${logs.join('\n')}\nTessera responses: ${JSON.stringify(seen)}`);
        });
        const user = await server.cli('user', 'show', '--tenant', 'default', dinah.username);
        expect(user).toMatchObject({ username: dinah.username, email: dinah.email, email_verified: true });
        expect(result).toMatchObject({
          authenticated: true, subject: user.id, href: `${app.origin}/keycloak-signup.html`,
          idTokenParsed: { iss: issuer, sub: user.id, aud: signUpClient.client_id, preferred_username: dinah.username },
        });
        const kc = await page.evaluate(() => {
          const k = (window as any).kc;
          return { authenticated: k.authenticated, tokenParsed: k.tokenParsed };
        });
        expect(kc.authenticated).toBe(true);
        // The access token (RFC 9068) names the user by sub only; the username is in the ID token above.
        expect(kc.tokenParsed).toMatchObject({ iss: issuer, sub: user.id });
      } finally {
        await server.cli('tenant', 'update', 'default', '--registration', 'off');
      }
    }, 120_000);
  });
});
