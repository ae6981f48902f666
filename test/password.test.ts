/**
 * The resource owner password credentials grant (RFC 6749 §4.3, Loomie's "Resource Owner
 * Flow"): off unless the client has it, the login page's credential checks, throttling
 * (SECURITY-CHECKLIST 52) and disabled-account rule, and a user grant like the code
 * flow's — on every backend, with a hand-moved clock. Item 56 for this grant (no account
 * enumeration) is in test/security/g_password_grant.test.ts.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../src/manage/apis.js';
import { createClient } from '../src/manage/clients.js';
import { updateTenant } from '../src/manage/tenants.js';
import { createUser, updateUser } from '../src/manage/users.js';
import { storageKey } from '../src/tokens/opaque.js';
import { basic, BACKENDS, FakeClock, form, FORM_HEADERS, startTestApp, type TestApp } from './helpers.js';
import {
  authUrl, formOf, InjectBrowser, ISSUER, jsonView, PASSWORD, pathOf, TOKEN, USERINFO, verifyJwt, type TestClient,
} from './security/support.js';

const REDIRECT = 'https://app.example/cb';
const AVATARS = 'https://api.loomai.com/';
const STATS = 'https://stats.example/';
const DAY = 24 * 3600;

const invalidCredentials = { status: 400, body: { error: 'invalid_grant', error_description: 'invalid username or password' } };
const throttled = (seconds: number) => ({
  status: 429, retryAfter: String(seconds),
  body: { error: 'invalid_grant', error_description: `too many failed sign-ins; try again in ${seconds} seconds` },
});

describe.each(BACKENDS)('password grant on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  /** Confidential, password + refresh_token. */
  let app: TestClient;
  /** Public (a first-party native app), password only. */
  let native: TestClient;
  /** The default grant types: no password grant. */
  let codeOnly: TestClient;
  let aliceId: string;

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    await createApi(t.deps, 'default', { audience: AVATARS, scopes: ['read:avatars', 'write:avatars'] }, 86400);
    await createApi(t.deps, 'default', { audience: STATS, scopes: ['read:stats'] }, 86400);
    const mk = async (input: Parameters<typeof createClient>[2]) => {
      const c = await createClient(t.deps, 'default', { scopes: ['read:avatars', 'write:avatars', 'read:stats'], ...input }, 86400);
      return { id: c.client.clientId, secret: c.secret };
    };
    app = await mk({ name: 'Avatar Studio', grantTypes: ['password', 'refresh_token'] });
    native = await mk({ name: 'Avatar App', public: true, grantTypes: ['password'] });
    codeOnly = await mk({ name: 'Code App', redirectUris: [REDIRECT] });
    aliceId = (await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD, name: 'Alice', email: 'alice@example.com' })).id;
    for (const username of ['bob', 'carol', 'dave', 'erin']) await createUser(t.deps, 'default', { username, password: PASSWORD });
  });
  afterAll(() => t?.close());

  /** A password grant request from `ip` (each test its own address, so address counts do not leak between tests). */
  function signIn(client: TestClient, fields: Record<string, string | undefined>, ip = '192.0.2.1') {
    const body: Record<string, string> = { grant_type: 'password' };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) body[k] = v;
    if (client.secret === undefined) body.client_id = client.id;
    return t.app.inject({
      method: 'POST', url: TOKEN, remoteAddress: ip,
      headers: { ...FORM_HEADERS, ...(client.secret !== undefined && { authorization: basic(client.id, client.secret) }) },
      payload: form(body),
    });
  }
  const view = (res: Awaited<ReturnType<typeof signIn>>) => ({ ...jsonView(res), ...(res.statusCode === 429 && { retryAfter: res.headers['retry-after'] }) });
  const now = () => Math.floor(clock.now() / 1000);

  it('issues an access token for the user, with the scopes and audience asked for, and no refresh token without offline_access', async () => {
    const res = await signIn(app, { username: 'alice', password: PASSWORD, scope: 'read:avatars read:stats' }, '192.0.2.10');
    expect(jsonView(res)).toEqual({ status: 200, body: { access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'read:avatars read:stats' } });
    expect(res.headers['cache-control']).toBe('no-store');
    const access = (await verifyJwt(t.app, res.json().access_token, clock.now(), { typ: 'at+jwt' })).payload;
    expect(access).toEqual({
      iss: ISSUER, sub: aliceId, aud: [AVATARS, STATS], client_id: app.id, scope: 'read:avatars read:stats', iat: now(), exp: now() + 3600, jti: expect.any(String),
    });

    // audience selects the API; no scope named: no API scopes (as in the code flow)
    const bare = await signIn(app, { username: 'alice', password: PASSWORD, audience: STATS }, '192.0.2.10');
    expect(jsonView(bare)).toEqual({ status: 200, body: { access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600 } });
    expect(decodeJwt(bare.json().access_token)).toMatchObject({ aud: STATS, sub: aliceId });
    // usernames compare case-insensitively, as on the login page
    expect((await signIn(app, { username: ' ALICE ', password: PASSWORD, scope: 'read:avatars' }, '192.0.2.10')).statusCode).toBe(200);
  });

  it('openid → an ID token without nonce or sid; offline_access → an offline refresh token in a new grant, which refreshes', async () => {
    const res = await signIn(app, { username: 'alice', password: PASSWORD, scope: 'openid profile email offline_access read:avatars' }, '192.0.2.11');
    expect(jsonView(res)).toEqual({
      status: 200,
      body: {
        access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, refresh_token: expect.any(String),
        scope: 'openid profile email offline_access read:avatars', id_token: expect.any(String),
      },
    });
    const body = res.json();
    const id = (await verifyJwt(t.app, body.id_token, clock.now(), { audience: app.id })).payload;
    expect(id).toEqual({
      iss: ISSUER, sub: aliceId, aud: app.id, azp: app.id, exp: now() + 3600, iat: now(), auth_time: now(), amr: ['pwd'], acr: '1', at_hash: expect.any(String),
      preferred_username: 'alice', name: 'Alice', email: 'alice@example.com', email_verified: false, updated_at: expect.any(Number),
    });
    expect(decodeJwt(body.refresh_token)).toEqual({
      iss: ISSUER, aud: ISSUER, sub: aliceId, azp: app.id, iat: now(), exp: now() + 30 * DAY, jti: expect.any(String),
      scope: 'openid profile email offline_access read:avatars', typ: 'Offline',
    });
    const row = await t.storage.artifacts.find('refresh_token', storageKey(decodeJwt(body.refresh_token).jti!));
    expect(await t.storage.grants.get(row!.grantId!)).toEqual({
      id: row!.grantId, tenantId: 'default', clientId: app.id, subject: aliceId, scope: 'openid profile email offline_access read:avatars',
      createdAt: now(), expiresAt: now() + 30 * DAY, revokedAt: null,
    });
    const userinfo = await t.app.inject({ url: USERINFO, headers: { authorization: `Bearer ${body.access_token}` } });
    expect(userinfo.json()).toMatchObject({ sub: aliceId, preferred_username: 'alice' });

    clock.advance(60);
    const refreshed = await t.app.inject({
      method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(app.id, app.secret!) },
      payload: form({ grant_type: 'refresh_token', refresh_token: body.refresh_token }),
    });
    expect(jsonView(refreshed)).toEqual({
      status: 200,
      body: {
        access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, refresh_token: expect.any(String),
        scope: 'openid profile email offline_access read:avatars', id_token: expect.any(String),
      },
    });
    expect(decodeJwt(refreshed.json().id_token)).toMatchObject({ auth_time: now() - 60 });
    expect(decodeJwt(refreshed.json().id_token)).not.toHaveProperty('sid');
  });

  it('gives no refresh token to a client without the refresh_token grant, even for offline_access; a public client needs no secret', async () => {
    const res = await signIn(native, { username: 'alice', password: PASSWORD, scope: 'offline_access read:avatars' }, '192.0.2.12');
    expect(jsonView(res)).toEqual({ status: 200, body: { access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'offline_access read:avatars' } });
  });

  it('is off unless the client has the password grant: unauthorized_client, without checking the password', async () => {
    for (const password of [PASSWORD, 'wrong password 1']) {
      expect(jsonView(await signIn(codeOnly, { username: 'alice', password }, '192.0.2.13'))).toEqual({
        status: 400, body: { error: 'unauthorized_client', error_description: 'the client is not allowed to use the password grant' },
      });
    }
  });

  it('refuses a missing username or password with invalid_request, and bad scopes or audiences before the password is checked', async () => {
    const ip = '192.0.2.14';
    expect(jsonView(await signIn(app, { password: PASSWORD }, ip))).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'username is missing' } });
    expect(jsonView(await signIn(app, { username: '  ', password: PASSWORD }, ip))).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'username is missing' } });
    expect(jsonView(await signIn(app, { username: 'alice' }, ip))).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'password is missing' } });
    expect(jsonView(await signIn(app, { username: 'alice', password: '' }, ip))).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'password is missing' } });
    for (const password of [PASSWORD, 'wrong password 1']) {
      expect(jsonView(await signIn(app, { username: 'alice', password, scope: 'read:avatars admin' }, ip))).toEqual({
        status: 400, body: { error: 'invalid_scope', error_description: 'the client may not request scope admin' },
      });
      expect(jsonView(await signIn(app, { username: 'alice', password, audience: 'https://nowhere.example/' }, ip))).toEqual({
        status: 400, body: { error: 'invalid_target', error_description: '"https://nowhere.example/" is not an API of this tenant' },
      });
      expect(jsonView(await signIn(app, { username: 'alice', password, scope: 'read:stats', audience: AVATARS }, ip))).toEqual({
        status: 400, body: { error: 'invalid_scope', error_description: `scope read:stats belongs to ${STATS}, not to the requested audience` },
      });
    }
    // None of those counted as a failed sign-in: five real failures are still free, the sixth waits.
    for (let i = 0; i < 5; i++) expect(jsonView(await signIn(app, { username: 'alice', password: 'wrong password 1' }, ip))).toEqual(invalidCredentials);
    expect(view(await signIn(app, { username: 'alice', password: PASSWORD }, ip))).toEqual(throttled(1));
    clock.advance(1);
    expect((await signIn(app, { username: 'alice', password: PASSWORD }, ip)).statusCode).toBe(200);
  });

  it('52. throttles failures per account with 429 invalid_grant and Retry-After, the right password included, and the wait ends; the user elsewhere is not locked out', async () => {
    clock.advance(901);
    const ip = '192.0.2.20';
    for (let i = 0; i < 5; i++) expect(jsonView(await signIn(app, { username: 'carol', password: 'wrong password 1' }, ip))).toEqual(invalidCredentials);
    // From that address, with the right password too, however the name is spelt: the account waits there.
    expect(view(await signIn(app, { username: 'carol', password: PASSWORD }, ip))).toEqual(throttled(1));
    expect(view(await signIn(app, { username: 'Carol', password: 'wrong password 1' }, ip))).toEqual(throttled(1));
    // Other accounts are not affected: no lockout of users an attacker does not target.
    expect((await signIn(app, { username: 'dave', password: PASSWORD }, ip)).statusCode).toBe(200);
    clock.advance(1);
    expect(jsonView(await signIn(app, { username: 'carol', password: 'wrong password 1' }, ip))).toEqual(invalidCredentials);
    expect(view(await signIn(app, { username: 'carol', password: PASSWORD }, ip))).toEqual(throttled(2));
    // Nor is the user at another address (test/security/h_throttling.test.ts has the whole attack).
    expect((await signIn(app, { username: 'carol', password: PASSWORD }, '192.0.2.30')).statusCode).toBe(200);
    clock.advance(2);
    expect((await signIn(app, { username: 'carol', password: PASSWORD }, ip)).statusCode).toBe(200);
    // Success starts the account afresh.
    expect(jsonView(await signIn(app, { username: 'carol', password: 'wrong password 1' }, ip))).toEqual(invalidCredentials);
  });

  it('52. throttles failures per address across accounts (20 free), unknown usernames included', async () => {
    clock.advance(901);
    const ip = '198.51.100.7';
    for (let i = 0; i < 20; i++) expect(jsonView(await signIn(app, { username: `guess-${i}`, password: 'wrong password 1' }, ip))).toEqual(invalidCredentials);
    expect(view(await signIn(app, { username: 'erin', password: PASSWORD }, ip))).toEqual(throttled(1));
    expect((await signIn(app, { username: 'erin', password: PASSWORD }, '198.51.100.8')).statusCode).toBe(200);
    clock.advance(1);
    expect((await signIn(app, { username: 'erin', password: PASSWORD }, ip)).statusCode).toBe(200);
  });

  it('52. shares its counts with the login page: failures there throttle the grant for the same account', async () => {
    clock.advance(901);
    const client = await createClient(t.deps, 'default', { name: 'Web', redirectUris: [REDIRECT], grantTypes: ['authorization_code'] }, 86400);
    const b = new InjectBrowser(t.app);
    const page = await b.get(authUrl({ response_type: 'code', client_id: client.client.clientId, redirect_uri: REDIRECT, state: 's', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }));
    const f = formOf(page.body);
    for (let i = 0; i < 5; i++) {
      const res = await b.post(pathOf(f.action), { ...f.fields, username: 'dave', password: 'wrong password 1' });
      expect(res.statusCode).toBe(401);
    }
    // From the same address (the browser's): the count is per account and address.
    expect(view(await signIn(app, { username: 'dave', password: PASSWORD }, '127.0.0.1'))).toEqual(throttled(1));
    clock.advance(1);
    expect((await signIn(app, { username: 'dave', password: PASSWORD }, '127.0.0.1')).statusCode).toBe(200);
  });

  it('52. refuses a disabled account with invalid_grant after the password check; a wrong password for it looks like any other', async () => {
    const ip = '192.0.2.50';
    await updateUser(t.deps, 'default', 'bob', { disabled: true });
    expect(jsonView(await signIn(app, { username: 'bob', password: PASSWORD, scope: 'offline_access' }, ip))).toEqual({
      status: 400, body: { error: 'invalid_grant', error_description: 'this account is disabled' },
    });
    expect(jsonView(await signIn(app, { username: 'bob', password: 'wrong password 1' }, ip))).toEqual(invalidCredentials);
    await updateUser(t.deps, 'default', 'bob', { disabled: false });
    expect((await signIn(app, { username: 'bob', password: PASSWORD }, ip)).statusCode).toBe(200);
  });

  it('takes an email as the username, and refuses an unverified one where the tenant requires verified emails', async () => {
    const ip = '192.0.2.51';
    expect((await signIn(app, { username: 'ALICE@example.com', password: PASSWORD }, ip)).statusCode).toBe(200);
    await updateTenant(t.deps, 'default', { requireVerifiedEmail: true });
    try {
      expect(jsonView(await signIn(app, { username: 'alice', password: PASSWORD }, ip))).toEqual({
        status: 400, body: { error: 'invalid_grant', error_description: 'the email address of this account is not verified' },
      });
      await updateUser(t.deps, 'default', 'alice', { emailVerified: true });
      expect((await signIn(app, { username: 'alice', password: PASSWORD }, ip)).statusCode).toBe(200);
    } finally {
      await updateTenant(t.deps, 'default', { requireVerifiedEmail: false });
      await updateUser(t.deps, 'default', 'alice', { emailVerified: false });
    }
  });

  it('lists the password grant in discovery', async () => {
    const res = await t.app.inject({ url: '/realms/default/.well-known/openid-configuration' });
    expect(res.json().grant_types_supported).toContain('password');
  });
});
