/**
 * The browser flows as a person goes through them (DESIGN.md §1 "Sign-in pages", response
 * modes): Chromium opens the authorization URL, signs in on Tessera's login page, approves on
 * the consent page, and lands on a relying party served from a loopback origin — code + PKCE
 * (query), form_post, implicit with a nonce (fragment), and Pulsoid's web_page token page.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers.js';
import { createUser, type CreatedUser } from '../support/users.js';
import { decide, resultPage, shownResult, signIn, startApp, type LoopbackApp } from './apps.js';
import { launchBrowser, resultPath, startServer, type TesseraServer } from './browser.js';

const API = 'https://api.loomai.com/';
const ALICE = { username: 'alice', password: 'correct horse battery', email: 'alice@example.test' };
const random = () => randomBytes(16).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);
const recent = () => expect.toSatisfy((v: unknown) => Number.isInteger(v) && Math.abs((v as number) - nowSeconds()) < 60, 'a time in seconds close to now');

/** OIDC Core §3.1.3.6: the left half of the hash the ID token's alg names (SHA-512 for EdDSA, as Tessera signs Ed25519). */
function halfHash(value: string, alg: string): string {
  const bits = alg === 'EdDSA' ? '512' : alg.slice(-3);
  const full = createHash(`sha${bits}`).update(value, 'ascii').digest();
  return full.subarray(0, full.length / 2).toString('base64url');
}

/** The fragment a redirect URI page cannot send to its server: the page reads it and shows it. */
const FRAGMENT_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Implicit callback</title>
<style>body{font:16px system-ui,sans-serif;margin:2em}pre{background:#eef;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}</style></head>
<body><h1>Signed in (implicit)</h1><pre id="result" data-state="pending">reading the fragment…</pre>
<script>
const out = document.getElementById('result');
out.textContent = JSON.stringify(Object.fromEntries(new URLSearchParams(location.hash.slice(1))), null, 2);
out.dataset.state = 'done';
</script></body></html>`;

let browser: Browser;
// One Chromium for the file; each test gets a fresh profile (context), so each signs in.
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe.each(BACKENDS)('browser flows on %s', (backend) => {
  let server: TesseraServer;
  let app: LoopbackApp;
  let alice: CreatedUser;
  let context: BrowserContext | undefined;
  let issuer: string;
  let jwks: ReturnType<typeof createRemoteJWKSet>;
  const clients: Record<'pkce' | 'formPost' | 'implicit' | 'webPage', { client_id: string; client_secret?: string }> = {} as never;

  beforeAll(async () => {
    server = await startServer({ backend });
    issuer = server.issuer;
    jwks = createRemoteJWKSet(new URL(`${issuer}/protocol/openid-connect/certs`));
    app = await startApp();
    app.route('/cb', (_req, res, r) =>
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(r.method === 'POST' ? resultPage('Form post received', r.form ?? {}) : resultPage('Callback', r.query)),
    );
    app.route('/implicit', (_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(FRAGMENT_PAGE));

    await server.cli('api', 'create', '--tenant', 'default', '--audience', API, '--scope', 'read:avatars=Read your avatars');
    const cb = `${app.origin}/cb`;
    [clients.pkce, clients.formPost, clients.implicit, clients.webPage, alice] = await Promise.all([
      server.cli('client', 'create', '--tenant', 'default', '--name', 'Avatar Viewer', '--redirect-uri', cb, '--grant-types', 'authorization_code', '--scopes', 'read:avatars', '--public'),
      server.cli('client', 'create', '--tenant', 'default', '--name', 'Form Post App', '--redirect-uri', cb, '--grant-types', 'authorization_code', '--scopes', 'read:avatars'),
      server.cli('client', 'create', '--tenant', 'default', '--name', 'Implicit App', '--redirect-uri', `${app.origin}/implicit`, '--grant-types', 'implicit', '--scopes', 'read:avatars', '--public'),
      server.cli('client', 'create', '--tenant', 'default', '--name', 'Overlay Mod', '--redirect-uri', cb, '--grant-types', 'authorization_code,implicit', '--scopes', 'read:avatars', '--public', '--web-page'),
      createUser(server, ALICE),
    ]);
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
  });

  afterAll(async () => {
    await server?.stop();
    await app?.close();
  });

  const authorizationUrl = (params: Record<string, string>) => `${issuer}/protocol/openid-connect/auth?${new URLSearchParams(params)}`;
  const tokenRequest = (body: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${issuer}/protocol/openid-connect/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(body) });
  const userinfo = (token: string) => fetch(`${issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${token}` } });

  async function verifyAccessToken(token: string, clientId: string, scope: string): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, jwks, { issuer, audience: API, typ: 'at+jwt' });
    expect(payload).toMatchObject({ iss: issuer, sub: alice.id, aud: API, client_id: clientId, scope, iat: recent(), exp: payload.iat! + 3600 });
    return payload;
  }

  async function verifyIdToken(idToken: string, clientId: string, expected: { nonce?: string; accessToken?: string; code?: string }) {
    const { payload, protectedHeader } = await jwtVerify(idToken, jwks, { issuer, audience: clientId });
    expect(payload).toMatchObject({ iss: issuer, sub: alice.id, aud: clientId, iat: recent(), auth_time: recent(), sid: expect.any(String) });
    expect(payload.nonce).toBe(expected.nonce);
    expect(payload.at_hash).toBe(expected.accessToken === undefined ? undefined : halfHash(expected.accessToken, protectedHeader.alg));
    expect(payload.c_hash).toBe(expected.code === undefined ? undefined : halfHash(expected.code, protectedHeader.alg));
    return payload;
  }

  async function newPage() {
    context = await browser.newContext({ viewport: { width: 900, height: 800 } });
    return context.newPage();
  }

  it('runs code + PKCE for a public client: labelled login, consent with scope descriptions, the code at the loopback redirect URI, then the token exchange', async () => {
    const { client_id } = clients.pkce;
    const redirect_uri = `${app.origin}/cb`;
    const verifier = randomBytes(48).toString('base64url');
    const state = random();
    const nonce = random();
    const page = await newPage();
    await page.goto(authorizationUrl({
      client_id, redirect_uri, response_type: 'code', scope: 'openid email read:avatars', state, nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
    }));

    // The login page: labelled inputs username/password, one submit button, the client named.
    expect(await page.getByLabel(/username/i).getAttribute('name')).toBe('username');
    expect(await page.getByLabel(/password/i).getAttribute('name')).toBe('password');
    expect(await page.locator('body').innerText()).toContain('Avatar Viewer');
    await signIn(page, issuer, ALICE);
    await decide(page, { clientName: 'Avatar Viewer', descriptions: ['Know who you are', 'See your email address', 'Read your avatars'] });

    await page.waitForURL(`${redirect_uri}?**`);
    const query = await shownResult(page);
    expect(query).toEqual({ code: expect.any(String), state, iss: issuer, session_state: expect.any(String) });
    expect(app.received.filter((r) => r.path === '/cb').at(-1)).toMatchObject({ method: 'GET', query });

    // RFC 7636 §4.6: the code is bound to the verifier.
    const wrong = await tokenRequest({ grant_type: 'authorization_code', code: query.code, redirect_uri, client_id, code_verifier: randomBytes(48).toString('base64url') });
    expect({ status: wrong.status, body: await wrong.json() }).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'code_verifier does not match the code_challenge' } });

    const r = await tokenRequest({ grant_type: 'authorization_code', code: query.code, redirect_uri, client_id, code_verifier: verifier });
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const tokens = await r.json();
    expect(tokens).toEqual({ access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'openid email read:avatars', id_token: expect.any(String) });
    await verifyAccessToken(tokens.access_token, client_id, 'openid email read:avatars');
    await verifyIdToken(tokens.id_token, client_id, { nonce, accessToken: tokens.access_token });

    const info = await userinfo(tokens.access_token);
    expect({ status: info.status, body: await info.json() }).toEqual({ status: 200, body: { sub: alice.id, email: ALICE.email, email_verified: true } });

    // A code is spent once.
    const again = await tokenRequest({ grant_type: 'authorization_code', code: query.code, redirect_uri, client_id, code_verifier: verifier });
    expect({ status: again.status, body: await again.json() }).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'authorization code was already used' } });
  });

  it('posts the response to the redirect URI with response_mode=form_post, which the relying party receives as a form', async () => {
    const { client_id, client_secret } = clients.formPost;
    const redirect_uri = `${app.origin}/cb`;
    const state = random();
    const page = await newPage();
    const before = app.received.length;
    await page.goto(authorizationUrl({ client_id, redirect_uri, response_type: 'code', response_mode: 'form_post', scope: 'read:avatars', state }));
    await signIn(page, issuer, ALICE);
    await decide(page, { clientName: 'Form Post App', descriptions: ['Read your avatars'] });

    await page.waitForURL(redirect_uri);
    const form = await shownResult(page);
    expect(form).toEqual({ code: expect.any(String), state, iss: issuer, session_state: expect.any(String) });
    // Nothing travelled in a URL: one POST with the form, no query.
    const calls = app.received.slice(before).filter((r) => r.path === '/cb');
    expect(calls).toEqual([expect.objectContaining({ method: 'POST', query: {}, form })]);

    const r = await tokenRequest({ grant_type: 'authorization_code', code: form.code, redirect_uri }, { authorization: `Basic ${Buffer.from(`${client_id}:${client_secret}`).toString('base64')}` });
    expect(r.status).toBe(200);
    const tokens = await r.json();
    expect(tokens).toEqual({ access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'read:avatars' });
    await verifyAccessToken(tokens.access_token, client_id, 'read:avatars');
  });

  it('returns id_token and token in the fragment for the implicit flow; the ID token carries the nonce and a matching at_hash', async () => {
    const { client_id } = clients.implicit;
    const redirect_uri = `${app.origin}/implicit`;
    const state = random();
    const nonce = random();
    const page = await newPage();
    const before = app.received.length;
    await page.goto(authorizationUrl({ client_id, redirect_uri, response_type: 'id_token token', scope: 'openid read:avatars', state, nonce }));
    await signIn(page, issuer, ALICE);
    await decide(page, { clientName: 'Implicit App', descriptions: ['Know who you are', 'Read your avatars'] });

    await page.waitForURL(`${redirect_uri}#**`);
    const fragment = await shownResult(page);
    expect(fragment).toEqual({
      access_token: expect.any(String), token_type: 'Bearer', expires_in: '3600', scope: 'openid read:avatars',
      id_token: expect.any(String), state, iss: issuer, session_state: expect.any(String),
    });
    // The tokens stayed in the browser: the server behind the redirect URI saw no parameters.
    expect(app.received.slice(before).filter((r) => r.path === '/implicit')).toEqual([expect.objectContaining({ method: 'GET', query: {} })]);

    const claims = await verifyIdToken(fragment.id_token, client_id, { nonce, accessToken: fragment.access_token });
    expect(claims.azp).toBe(client_id);
    expect(['RS256', 'ES256', 'EdDSA', 'PS256']).toContain(decodeProtectedHeader(fragment.id_token).alg);
    await verifyAccessToken(fragment.access_token, client_id, 'openid read:avatars');
    const info = await userinfo(fragment.access_token);
    expect({ status: info.status, body: await info.json() }).toEqual({ status: 200, body: { sub: alice.id } });
  });

  it('shows the token on its own page for response_mode=web_page, naming the client and warning the user', async () => {
    const { client_id } = clients.webPage;
    const page = await newPage();
    const before = app.received.length;
    await page.goto(authorizationUrl({ client_id, redirect_uri: `${app.origin}/cb`, response_type: 'token', response_mode: 'web_page', scope: 'openid read:avatars', state: random() }));
    await signIn(page, issuer, ALICE);
    await decide(page, { clientName: 'Overlay Mod', descriptions: ['Know who you are', 'Read your avatars'] });

    const textarea = page.locator('textarea');
    await textarea.waitFor({ timeout: 15_000 });
    // Tessera's own page, not the client's: nothing was sent to the redirect URI.
    expect(page.url().startsWith(`${issuer}/`)).toBe(true);
    expect(app.received.slice(before).filter((r) => r.path === '/cb')).toEqual([]);
    expect(await page.title()).toContain('Overlay Mod');
    expect(await page.locator('h1').innerText()).toContain('Overlay Mod');
    const warning = await page.locator('.warn').innerText();
    expect(warning).toMatch(/keep this token secret/i);
    expect(warning).toContain('Overlay Mod');
    expect(warning).toMatch(/never share it/i);
    expect(await page.getByLabel(/access token/i).evaluate((el) => el.tagName)).toBe('TEXTAREA');
    expect(await textarea.getAttribute('readonly')).not.toBeNull();
    const token = (await textarea.inputValue()).trim();

    const shot = resultPath('web-page-token.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(readFileSync(shot).subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

    // The token shown is one that works.
    await verifyAccessToken(token, client_id, 'openid read:avatars');
    const info = await userinfo(token);
    expect({ status: info.status, body: await info.json() }).toEqual({ status: 200, body: { sub: alice.id } });

    // The copy button runs under the page's CSP (its script has the nonce).
    await page.locator('#copy').click();
    await expect.poll(() => page.locator('#copy').innerText()).toBe('Copied');
  });
});
