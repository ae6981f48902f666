/**
 * Passkeys in process on both backends, with a software authenticator (ES256, `none`
 * attestation) standing in for the browser's: registration on the account page, the passkey
 * as second step, passwordless sign-in, and what is refused — a replayed registration, a
 * challenge of another sign-in, a counter that did not move on, garbage.
 */
import type { LightMyRequestResponse } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/manage/clients.js';
import { createUser, updateUser } from '../src/manage/users.js';
import { BACKENDS, basic, FakeClock, form, FORM_HEADERS, startTestApp, type TestApp } from './helpers.js';
import { formOf, InjectBrowser, pathOf } from './support/inject_browser.js';
import { SoftAuthenticator } from './support/webauthn_authenticator.js';

const PUBLIC = 'https://tessera.test';
const ISSUER = `${PUBLIC}/realms/default`;
const AUTH = '/realms/default/protocol/openid-connect/auth';
const TOKEN = '/realms/default/protocol/openid-connect/token';
const SECURITY = '/realms/default/account/security';
const PASSKEY = '/realms/default/login-actions/passkey';
const REDIRECT = 'https://app.example/cb';
const PASSWORD = 'correct horse battery';

const decode = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const optionsOf = (html: string): any => JSON.parse(decode(/data-options="([^"]*)"/.exec(html)?.[1] ?? 'null'));
const alertOf = (html: string): string | undefined => /<p class="error" role="alert">([^<]*)<\/p>/.exec(html)?.[1];

describe.each(BACKENDS)('passkeys on %s', (backend) => {
  const clock = new FakeClock();
  let t: TestApp;
  let app: { id: string; secret: string };
  const key = new SoftAuthenticator(PUBLIC);

  beforeAll(async () => {
    t = await startTestApp(backend, { clock, config: { publicUrl: PUBLIC } });
    const c = await createClient(t.deps, 'default', { name: 'Avatar Studio', redirectUris: [REDIRECT], consent: 'skip' }, 3600);
    app = { id: c.client.clientId, secret: c.secret! };
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
  });
  afterAll(() => t?.close());

  const authorizeUrl = () => `${AUTH}?${new URLSearchParams({ client_id: app.id, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', state: 's', nonce: 'n' })}`;

  async function password(b: InjectBrowser): Promise<LightMyRequestResponse> {
    const login = await b.get(authorizeUrl());
    const lf = formOf(login.body);
    return b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: PASSWORD });
  }

  async function claimsOf(res: LightMyRequestResponse) {
    expect(res.statusCode).toBe(303);
    const code = new URL(res.headers.location as string).searchParams.get('code')!;
    const tok = await t.app.inject({ method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(app.id, app.secret) }, payload: form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT }) });
    expect(tok.statusCode).toBe(200);
    return decodeJwt(tok.json().id_token);
  }

  /** The login page's "Sign in with a passkey": the page that asks the authenticator. */
  async function passkeyPage(b: InjectBrowser) {
    const login = await b.get(authorizeUrl());
    expect(login.body).toContain(`<form method="post" action="${ISSUER}/login-actions/passkey">`);
    const page = await b.post(PASSKEY, formOf(login.body).fields);
    expect(page.statusCode).toBe(200);
    return page;
  }

  it('serves the passkey script as a static file', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/realms/default/resources/webauthn.js' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.body).toContain('navigator.credentials.get');
  });

  it('registers a passkey on the account page (relying party = the issuer’s host); the same answer again is refused', async () => {
    const b = new InjectBrowser(t.app);
    await claimsOf(await password(b));
    const csrf = /name="csrf" value="([^"]+)"/.exec((await b.get(SECURITY)).body)![1];
    const start = await b.post(SECURITY, { csrf, action: 'start_passkey' });
    expect(start.statusCode).toBe(200);
    const options = optionsOf(start.body);
    expect(options).toMatchObject({ rp: { id: 'tessera.test', name: 'Default' }, user: { name: 'alice' }, attestation: 'none', authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' } });
    const nonce = /script-src 'nonce-([^']+)'/.exec(start.headers['content-security-policy'] as string)![1];
    expect(start.body).toContain(`<script nonce="${nonce}" src="${ISSUER}/resources/webauthn.js"></script>`);
    const credential = JSON.stringify(key.create(options));
    const done = await b.post(SECURITY, { csrf, action: 'confirm_passkey', credential, label: 'Laptop' });
    expect(done.statusCode).toBe(200);
    expect([...done.body.matchAll(/<li><code>[a-z2-7]{5}-[a-z2-7]{5}<\/code><\/li>/g)]).toHaveLength(10);
    const again = await b.post(SECURITY, { csrf, action: 'confirm_passkey', credential, label: 'Laptop' });
    expect(again.statusCode).toBe(400);
    expect(alertOf(again.body)).toBe('The passkey could not be registered (the request expired or was already used). Try again.');
    const factors = await t.storage.mfa.list('default', (await t.storage.users.findByUsername('default', 'alice'))!.id);
    expect(factors.map((f) => [f.type, f.label, f.type === 'webauthn' && f.credentialId])).toEqual([['webauthn', 'Laptop', key.id]]);
  });

  it('asks for the passkey after the password, and refuses a counter that did not move on', async () => {
    const b = new InjectBrowser(t.app);
    const step = await password(b);
    expect(step.statusCode).toBe(200);
    const options = optionsOf(step.body);
    expect(options).toMatchObject({ rpId: 'tessera.test', allowCredentials: [{ id: key.id, type: 'public-key', transports: ['internal'] }], userVerification: 'preferred' });
    const fields = formOf(step.body).fields;
    // The button is inert until the script takes the form over; a form posted without an answer is not a failed attempt.
    expect(step.body).toContain('<button type="submit" class="secondary" disabled>Use your passkey</button>');
    const empty = await b.post(`/realms/default/login-actions/mfa`, { ...fields, action: 'passkey', credential: '' });
    expect(empty.statusCode).toBe(400);
    expect(alertOf(empty.body)).toBe('Your browser sent no passkey. Try again, or use a code.');
    const ok = await b.post(`/realms/default/login-actions/mfa`, { ...fields, action: 'passkey', credential: JSON.stringify(key.get(options)) });
    expect(await claimsOf(ok)).toMatchObject({ amr: ['pwd', 'hwk', 'mfa'], acr: '2' });

    const other = new InjectBrowser(t.app);
    const step2 = await password(other);
    const cloned = await other.post(`/realms/default/login-actions/mfa`, { ...formOf(step2.body).fields, action: 'passkey', credential: JSON.stringify(key.get(optionsOf(step2.body), { counter: key.counter })) });
    expect(cloned.statusCode).toBe(401);
    expect(alertOf(cloned.body)).toBe('The passkey could not be verified. Try again, or use a code.');
  });

  it('signs in with the passkey alone (user verified: amr hwk, user, mfa)', async () => {
    const b = new InjectBrowser(t.app);
    const page = await passkeyPage(b);
    const options = optionsOf(page.body);
    expect(options).toMatchObject({ rpId: 'tessera.test', allowCredentials: [], userVerification: 'required' });
    const res = await b.post(PASSKEY, { ...formOf(page.body).fields, credential: JSON.stringify(key.get(options)) });
    expect(await claimsOf(res)).toMatchObject({ amr: ['hwk', 'user', 'mfa'], acr: '2', sub: (await t.storage.users.findByUsername('default', 'alice'))!.id });
  });

  it('after a passkey alone, an operator\'s "must change password" still asks for a new password first', async () => {
    await updateUser(t.deps, 'default', 'alice', { mustChangePassword: true });
    try {
      const b = new InjectBrowser(t.app);
      const page = await passkeyPage(b);
      const res = await b.post(PASSKEY, { ...formOf(page.body).fields, credential: JSON.stringify(key.get(optionsOf(page.body))) });
      expect(res.statusCode).toBe(200);
      expect(formOf(res.body).action).toBe(`${ISSUER}/login-actions/required-action`);
      expect(Object.keys(formOf(res.body).fields).sort()).toEqual(['csrf', 'interaction', 'key']);
    } finally {
      await updateUser(t.deps, 'default', 'alice', { mustChangePassword: false });
    }
  });

  it('refuses a challenge of another sign-in, a challenge used twice, and garbage', async () => {
    const a = new InjectBrowser(t.app);
    const pageA = await passkeyPage(a);
    const b = new InjectBrowser(t.app);
    const pageB = await passkeyPage(b);
    // B posts an answer to A's challenge.
    const answerToA = JSON.stringify(key.get(optionsOf(pageA.body)));
    const crossed = await b.post(PASSKEY, { ...formOf(pageB.body).fields, credential: answerToA });
    expect(crossed.statusCode).toBe(401);
    expect(alertOf(crossed.body)).toBe('That passkey could not be verified. Try again, or sign in with your password.');
    // That challenge was spent by the attempt: A cannot use it either.
    const spent = await a.post(PASSKEY, { ...formOf(pageA.body).fields, credential: answerToA });
    expect(spent.statusCode).toBe(401);
    const garbage = await a.post(PASSKEY, { ...formOf(pageA.body).fields, credential: '{"id":1}' });
    expect(garbage.statusCode).toBe(401);
    expect(a.cookies.has('tessera_session_default')).toBe(false);
    expect(b.cookies.has('tessera_session_default')).toBe(false);
  });
});
