/**
 * The account page (`/realms/T/account`): sign-in through the built-in Account client,
 * connected apps with Revoke, personal tokens (create, shown once, list, revoke), CSRF on
 * every form, the page headers. SECURITY-CHECKLIST 59 (personal tokens' caps) is in
 * test/security/g_personal_tokens.test.ts.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../src/manage/apis.js';
import { createClient } from '../src/manage/clients.js';
import { createUser } from '../src/manage/users.js';
import type { User } from '../src/storage/types.js';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS, basic, FakeClock, form, FORM_HEADERS, startTestApp, type TestApp } from './helpers.js';
import { formOf, InjectBrowser, pathOf } from './support/inject_browser.js';

/** A deployment's public URL is https (DESIGN.md §1); the account page is a redirect URI of its own tenant. */
const PUBLIC = 'https://tessera.test';
const ISSUER = `${PUBLIC}/realms/default`;
const ACCOUNT = '/realms/default/account';
const VALIDATE = '/realms/default/protocol/openid-connect/validate';
const TOKEN = '/realms/default/protocol/openid-connect/token';
const API = 'https://api.avatars.example/';
const REDIRECT = 'https://app.example/cb';
const PASSWORD = 'correct horse battery';
const DAY = 86400;

const mainOf = (html: string): string => /<main>([\s\S]*)<\/main>/.exec(html)?.[1] ?? `(no <main> in ${html.slice(0, 200)})`;
const textOf = (html: string): string => mainOf(html).replace(/<style[^>]*>[^<]*<\/style>/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
const csrfOf = (html: string): string => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '(no csrf)';
const newTokenOf = (html: string): string | undefined => /<textarea id="new-token"[^>]*>([^<]*)<\/textarea>/.exec(html)?.[1];
/** The hidden `token_id` of the revoke form of the token named `name`. */
const tokenIdOf = (html: string, name: string): string | undefined =>
  new RegExp(`<strong>${name}</strong>[\\s\\S]*?name="token_id" value="([^"]+)"`).exec(html)?.[1];

describe.each(BACKENDS)('account page on %s', (backend) => {
  const clock = new FakeClock();
  let t: TestApp;
  let alice: User;
  let studio: { id: string; secret: string };

  beforeAll(async () => {
    t = await startTestApp(backend, { clock, config: { publicUrl: PUBLIC } });
    await createApi(t.deps, 'default', { audience: API, name: 'Avatars', scopes: ['read:avatars=Read your avatars', 'write:avatars=Change your avatars'] }, DAY);
    const c = await createClient(t.deps, 'default', {
      name: 'Avatar Studio', redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'], scopes: ['read:avatars', 'tenant:level'],
      accessTokenFormat: 'opaque', sessionRefreshTokens: true,
    }, DAY);
    studio = { id: c.client.clientId, secret: c.secret! };
    alice = await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
    await createUser(t.deps, 'default', { username: 'bob', password: PASSWORD });
  });
  afterAll(() => t?.close());

  /** Opens the account page in a fresh browser and signs in on the login page it leads to. */
  async function signIn(username = 'alice'): Promise<{ b: InjectBrowser; page: LightMyRequestResponse }> {
    const b = new InjectBrowser(t.app);
    const start = await b.get(ACCOUNT);
    expect(start.statusCode).toBe(302);
    const login = await b.get(pathOf(start.headers.location as string));
    expect(login.statusCode).toBe(200);
    const lf = formOf(login.body);
    const back = await b.post(pathOf(lf.action), { ...lf.fields, username, password: PASSWORD });
    expect(back.statusCode).toBe(303);
    const clean = await b.get(pathOf(back.headers.location as string));
    expect(clean.statusCode).toBe(303);
    expect(clean.headers.location).toBe(`${ISSUER}/account`);
    const page = await b.get(ACCOUNT);
    expect(page.statusCode).toBe(200);
    return { b, page };
  }

  /** POSTs a form to the account page with this browser's cookies; `scope` may repeat. */
  const post = (b: InjectBrowser, fields: [string, string][]) =>
    t.app.inject({
      method: 'POST', url: ACCOUNT, payload: new URLSearchParams(fields).toString(),
      headers: { ...FORM_HEADERS, cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });

  const validate = (token: string) => t.app.inject({ method: 'GET', url: VALIDATE, headers: { authorization: `Bearer ${token}` } });

  /** Alice lets Avatar Studio in (consent page) and gets its opaque access token and session-bound refresh token. */
  async function connectStudio(b: InjectBrowser) {
    const auth = await b.get(`/realms/default/protocol/openid-connect/auth?${new URLSearchParams({ client_id: studio.id, redirect_uri: REDIRECT, response_type: 'code', scope: 'read:avatars' })}`);
    expect(auth.statusCode).toBe(200);
    const cf = formOf(auth.body);
    const done = await b.post(pathOf(cf.action), { ...cf.fields, decision: 'allow' });
    expect(done.statusCode).toBe(303);
    const code = new URL(done.headers.location as string).searchParams.get('code')!;
    const res = await t.app.inject({
      method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(studio.id, studio.secret) },
      payload: form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT }),
    });
    expect(res.statusCode).toBe(200);
    return res.json() as { access_token: string; refresh_token: string };
  }

  async function createToken(b: InjectBrowser, page: string, fields: [string, string][]) {
    return post(b, [['csrf', csrfOf(page)], ['action', 'create_token'], ...fields]);
  }

  it('sends a browser without a session through the login page as the built-in Account client, then back to the account page, signed in', async () => {
    const b = new InjectBrowser(t.app);
    const start = await b.get(ACCOUNT);
    expect(start.statusCode).toBe(302);
    expect(start.headers.location).toBe(
      `${ISSUER}/protocol/openid-connect/auth?client_id=tessera.account.default&redirect_uri=${encodeURIComponent(`${ISSUER}/account`)}&response_type=code`,
    );
    const account = await t.storage.clients.get('default', 'tessera.account.default');
    expect(account).toMatchObject({ name: 'Account', consent: 'skip', grantTypes: ['authorization_code'], redirectUris: [`${ISSUER}/account`], scopes: [] });

    const login = await b.get(pathOf(start.headers.location as string));
    expect(textOf(login.body)).toContain('to continue to Account');
    const lf = formOf(login.body);
    const back = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: PASSWORD });
    expect(back.statusCode).toBe(303);
    const landing = new URL(back.headers.location as string);
    expect(landing.origin + landing.pathname).toBe(`${ISSUER}/account`);
    const code = landing.searchParams.get('code')!;

    // The code is of no use to the page: it is consumed and its grant ended, then the URL is cleaned.
    const clean = await b.get(pathOf(landing.href));
    expect(clean.statusCode).toBe(303);
    expect(clean.headers.location).toBe(`${ISSUER}/account`);
    const artifact = await t.storage.artifacts.find('authorization_code', storageKey(code));
    expect(artifact?.usedAt).toBe(Math.floor(clock.ms / 1000));
    expect((await t.storage.grants.get(artifact!.grantId!))?.revokedAt).toBe(Math.floor(clock.ms / 1000));
    const redeem = await t.app.inject({ method: 'POST', url: TOKEN, headers: FORM_HEADERS, payload: form({ grant_type: 'authorization_code', code, redirect_uri: `${ISSUER}/account`, client_id: 'tessera.account.default' }) });
    expect(redeem.statusCode).toBe(401);

    const page = await b.get(ACCOUNT);
    expect(page.statusCode).toBe(200);
    expect(textOf(page.body)).toContain('Signed in to Default as alice');
    // The legacy Keycloak prefix serves the same page.
    const legacy = await b.get('/auth/realms/default/account');
    expect(legacy.statusCode).toBe(200);
    expect(textOf(legacy.body)).toContain('Signed in to Default as alice');
    // The page's own clients are not "connected apps".
    expect(textOf(page.body)).toContain('No apps have access to your account.');
  });

  it('answers a return from the sign-in without a session with a page instead of sending the browser round again', async () => {
    const res = await new InjectBrowser(t.app).get(`${ACCOUNT}?code=abc&state=x`);
    expect(res.statusCode).toBe(400);
    expect(textOf(res.body)).toContain('this browser did not keep the session');
  });

  it('lists connected apps with their scopes; Revoke forgets the consent and kills the app’s opaque access and refresh tokens', async () => {
    const { b } = await signIn();
    const tokens = await connectStudio(b);
    expect((await validate(tokens.access_token)).statusCode).toBe(200);
    const page = await b.get(ACCOUNT);
    expect(textOf(page.body)).toContain('Connected apps Avatar Studio read:avatars Revoke access of Avatar Studio');

    const revoked = await post(b, [['csrf', csrfOf(page.body)], ['action', 'revoke_app'], ['client_id', studio.id]]);
    expect(revoked.statusCode).toBe(303);
    expect(revoked.headers.location).toBe(`${ISSUER}/account`);
    expect(await t.storage.consents.get('default', alice.id, studio.id)).toBeUndefined();
    expect(await t.storage.grants.listLive('default', alice.id, Math.floor(clock.ms / 1000))).toEqual([]);
    expect((await validate(tokens.access_token)).statusCode).toBe(401);
    const refresh = await t.app.inject({
      method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(studio.id, studio.secret) },
      payload: form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token }),
    });
    expect(refresh.statusCode).toBe(400);
    expect(refresh.json().error).toBe('invalid_grant');
    expect(textOf((await b.get(ACCOUNT)).body)).toContain('No apps have access to your account.');
    // The next authorization asks for consent again.
    const again = await b.get(`/realms/default/protocol/openid-connect/auth?${new URLSearchParams({ client_id: studio.id, redirect_uri: REDIRECT, response_type: 'code', scope: 'read:avatars' })}`);
    expect(again.body).toContain('name="decision" value="allow"');
  });

  it('refuses a personal token with no scope and stores nothing, not even the built-in personal-tokens client', async () => {
    const { b, page } = await signIn();
    const refused = await createToken(b, page.body, [['name', 'Nothing'], ['days', '7']]);
    expect({ status: refused.statusCode, error: /class="error"[^>]*>([^<]*)</.exec(refused.body)?.[1] }).toEqual({ status: 400, error: 'Choose at least one scope.' });
    expect(await t.storage.clients.get('default', 'tessera.personal-tokens.default')).toBeUndefined();
  });

  it('creates a personal token, shows it once, lists it without the value, and revokes it', async () => {
    const { b, page } = await signIn();
    // The form offers the scopes the tenant's APIs define, with their descriptions.
    expect(textOf(page.body)).toContain('Scopes Read your avatars (read:avatars) Change your avatars (write:avatars)');
    const created = await createToken(b, page.body, [['name', 'Overlay <mod>'], ['scope', 'read:avatars'], ['scope', 'write:avatars'], ['days', '30']]);
    expect(created.statusCode).toBe(200);
    expect(created.headers['cache-control']).toBe('no-store');
    const value = newTokenOf(created.body)!;
    expect(value).toMatch(/^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
    expect(textOf(created.body)).toContain('Copy it now: it is shown only this once.');
    expect(created.body).toContain('Overlay &lt;mod&gt;');

    const v = await validate(value);
    expect(v.statusCode).toBe(200);
    expect(v.json()).toEqual({ client_id: 'tessera.personal-tokens.default', sub: alice.id, scopes: ['read:avatars', 'write:avatars'], expires_in: 30 * DAY });

    const listed = await b.get(ACCOUNT);
    expect(listed.body).not.toContain(value);
    expect(newTokenOf(listed.body)).toBeUndefined();
    expect(textOf(listed.body)).toContain('Personal tokens Overlay &lt;mod&gt; read:avatars write:avatars Created 2026-01-01 00:00 UTC · expires 2026-01-31 00:00 UTC Revoke Overlay &lt;mod&gt;');
    // The built-in client holds the grant; it is no app the user connected.
    expect(textOf(listed.body)).not.toContain('Revoke access of Personal tokens');

    const id = tokenIdOf(listed.body, 'Overlay &lt;mod&gt;')!;
    const revoked = await post(b, [['csrf', csrfOf(listed.body)], ['action', 'revoke_token'], ['token_id', id]]);
    expect(revoked.statusCode).toBe(303);
    const gone = await validate(value);
    expect(gone.statusCode).toBe(401);
    expect(gone.json()).toMatchObject({ error: 'invalid_token' });
    expect(textOf((await b.get(ACCOUNT)).body)).toContain('You have no personal tokens.');
  });

  it("cannot revoke another user's personal token", async () => {
    const { b: bob, page: bobPage } = await signIn('bob');
    const created = await createToken(bob, bobPage.body, [['name', 'Bob token'], ['scope', 'read:avatars'], ['days', '7']]);
    const value = newTokenOf(created.body)!;
    const id = tokenIdOf((await bob.get(ACCOUNT)).body, 'Bob token')!;
    const { b, page } = await signIn();
    const res = await post(b, [['csrf', csrfOf(page.body)], ['action', 'revoke_token'], ['token_id', id]]);
    expect(res.statusCode).toBe(303);
    expect((await validate(value)).statusCode).toBe(200);
  });

  it('refuses a form without the CSRF token, with a wrong one or one from another session, and changes nothing', async () => {
    const { b, page } = await signIn();
    const { page: other } = await signIn();
    const before = (await t.storage.personalTokens.listLive('default', alice.id, Math.floor(clock.ms / 1000))).length;
    for (const csrf of [undefined, 'x'.repeat(43), csrfOf(other.body)]) {
      const res = await post(b, [...(csrf ? [['csrf', csrf] as [string, string]] : []), ['action', 'create_token'], ['name', 'Sneaky'], ['scope', 'read:avatars'], ['days', '7']]);
      expect(res.statusCode).toBe(403);
      expect(textOf(res.body)).toContain('the form could not be verified (CSRF check failed)');
    }
    expect((await t.storage.personalTokens.listLive('default', alice.id, Math.floor(clock.ms / 1000))).length).toBe(before);
    // Every form on the page carries the token.
    const forms = page.body.match(/<form [^>]*>/g) ?? [];
    const tokens = page.body.match(/<input type="hidden" name="csrf" value="[^"]+">/g) ?? [];
    expect(forms.length).toBeGreaterThan(0);
    expect(tokens.length).toBe(forms.length);
    // Without a session, a POST changes nothing and leads to the page (and so to the sign-in).
    const anon = await t.app.inject({ method: 'POST', url: ACCOUNT, headers: FORM_HEADERS, payload: form({ csrf: csrfOf(page.body), action: 'create_token' }) });
    expect(anon.statusCode).toBe(303);
    expect(anon.headers.location).toBe(`${ISSUER}/account`);
  });

  it('sends the headers of every Tessera page: CSP with a nonce and no third party, no framing, no referrer, no caching', async () => {
    const { page } = await signIn();
    const nonce = /<style nonce="([^"]+)">/.exec(page.body)![1];
    expect(page.headers).toMatchObject({
      'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
      'content-type': 'text/html; charset=utf-8',
    });
    expect(page.body).not.toMatch(/(src|href)="https?:\/\/(?!tessera\.test)/);
    const styles = page.body.match(/<style[^>]*>/g)!;
    expect(styles.every((s) => s === `<style nonce="${nonce}">`)).toBe(true);
  });
});
