/**
 * The refresh_token grant (RFC 6749 §6, RFC 9700 §4.14): rotation, scope narrowing,
 * lifetimes, session-bound tokens — on every backend, with a hand-moved clock. The
 * SECURITY-CHECKLIST items (30–34: reuse detection, concurrency, client binding, no widening,
 * DPoP binding) are in test/security/d_refresh_tokens.test.ts.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../src/manage/apis.js';
import { createClient } from '../src/manage/clients.js';
import { createTenant } from '../src/manage/tenants.js';
import { createUser, updateUser } from '../src/manage/users.js';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS, FakeClock, startTestApp, type TestApp } from './helpers.js';
import {
  authUrl, drive, InjectBrowser, invalidGrant, ISSUER, jsonView, PASSWORD, pkce, redirectView, tokenRequest, verifyJwt, type TestClient,
} from './security/support.js';

const REDIRECT = 'https://app.example/cb';
const AVATARS = 'https://api.loomai.com/';
const STATS = 'https://stats.example/';
const DAY = 24 * 3600;
const ACME_AUTH = '/realms/acme/protocol/openid-connect/auth';
const ACME_TOKEN = '/realms/acme/protocol/openid-connect/token';

describe.each(BACKENDS)('refresh_token grant on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  /** Confidential, JWT access tokens, offline refresh tokens. */
  let web: TestClient;
  /** Registered with --session-refresh-tokens: session-bound refresh tokens (keycloak-js). */
  let kc: TestClient;
  let noRefresh: TestClient;
  let acme: TestClient;
  let aliceId: string;

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    await createApi(t.deps, 'default', { audience: AVATARS, scopes: ['read:avatars', 'write:avatars'] }, 86400);
    await createApi(t.deps, 'default', { audience: STATS, scopes: ['read:stats'] }, 86400);
    const mk = async (tenant: string, input: Parameters<typeof createClient>[2]) => {
      const c = await createClient(t.deps, tenant, { redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'], ...input }, 86400);
      return { id: c.client.clientId, secret: c.secret };
    };
    const scopes = ['read:avatars', 'write:avatars', 'read:stats'];
    web = await mk('default', { name: 'Avatar Studio', scopes });
    kc = await mk('default', { name: 'Keycloak App', scopes, sessionRefreshTokens: true });
    noRefresh = await mk('default', { name: 'Code Only', grantTypes: ['authorization_code'] });
    aliceId = (await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD, name: 'Alice' })).id;
    await createUser(t.deps, 'default', { username: 'bob', password: PASSWORD });
    await createTenant(t.deps, { id: 'acme' });
    acme = await mk('acme', { name: 'Acme App' });
    await createUser(t.deps, 'acme', { username: 'alice', password: PASSWORD });
  });
  afterAll(() => t?.close());

  /** Signs in (a new browser unless one is given), consents, and redeems the code. */
  async function tokensFor(client: TestClient, scope: string, opts: { username?: string; browser?: InjectBrowser; tenant?: 'acme' } = {}) {
    const b = opts.browser ?? new InjectBrowser(t.app);
    const { verifier, challenge } = pkce();
    const { res } = await drive(
      b,
      authUrl({ response_type: 'code', client_id: client.id, redirect_uri: REDIRECT, scope, state: 's', code_challenge: challenge, code_challenge_method: 'S256' }, opts.tenant ? ACME_AUTH : undefined),
      { username: opts.username },
    );
    const code = redirectView(res).query.code;
    expect(code, JSON.stringify(redirectView(res))).toBeTruthy();
    const tokens = await tokenRequest(t.app, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, opts.tenant ? ACME_TOKEN : undefined);
    expect(tokens.statusCode, tokens.body).toBe(200);
    return { body: tokens.json() as Record<string, string>, browser: b };
  }

  const refresh = (client: TestClient, refreshToken: string | undefined, extra: Record<string, string> = {}) =>
    tokenRequest(t.app, client, { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra });

  const success = (scope: string, extra: Record<string, unknown> = {}) => ({
    status: 200,
    body: { access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, refresh_token: expect.any(String), scope, ...extra },
  });

  const grantOf = async (refreshToken: string) => (await t.storage.artifacts.find('refresh_token', storageKey(decodeJwt(refreshToken).jti!)))!.grantId!;

  it('rotates on every use: new access, refresh and ID tokens, the same expiry and scope, the presented token spent', async () => {
    const first = (await tokensFor(web, 'openid profile offline_access read:avatars')).body;
    const firstClaims = decodeJwt(first.refresh_token);
    clock.advance(60);
    const res = await refresh(web, first.refresh_token);
    expect(jsonView(res)).toEqual(success('openid profile offline_access read:avatars', { id_token: expect.any(String) }));
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();

    expect(body.refresh_token).not.toBe(first.refresh_token);
    const claims = decodeJwt(body.refresh_token);
    expect(claims).toEqual({
      iss: ISSUER, aud: ISSUER, sub: aliceId, azp: web.id, iat: firstClaims.iat! + 60, exp: firstClaims.exp,
      jti: expect.any(String), scope: 'openid profile offline_access read:avatars', typ: 'Offline',
    });
    expect(claims.jti).not.toBe(firstClaims.jti);
    expect(await t.storage.artifacts.find('refresh_token', storageKey(firstClaims.jti!))).toMatchObject({ usedAt: firstClaims.iat! + 60 });
    expect(await grantOf(body.refresh_token)).toBe(await grantOf(first.refresh_token));

    const access = (await verifyJwt(t.app, body.access_token, clock.now(), { typ: 'at+jwt' })).payload;
    expect(access).toEqual({
      iss: ISSUER, sub: aliceId, aud: AVATARS, client_id: web.id, scope: 'openid profile offline_access read:avatars',
      iat: claims.iat, exp: claims.iat! + 3600, jti: expect.any(String),
    });
    // OIDC Core §12.2: same iss, sub, aud; the original auth_time; no nonce; an offline token has no session.
    const id = (await verifyJwt(t.app, body.id_token, clock.now(), { audience: web.id })).payload;
    expect(id).toEqual({
      iss: ISSUER, sub: aliceId, aud: web.id, azp: web.id, exp: claims.iat! + 3600, iat: claims.iat, auth_time: decodeJwt(first.id_token).auth_time, amr: ['pwd'], acr: '1',
      at_hash: expect.any(String), preferred_username: 'alice', name: 'Alice', updated_at: expect.any(Number),
    });

    const third = await refresh(web, body.refresh_token);
    expect(jsonView(third)).toEqual(success('openid profile offline_access read:avatars', { id_token: expect.any(String) }));
  });

  it('narrows scope: the access token gets the narrowed scope and audience, the new refresh token keeps the original', async () => {
    const first = (await tokensFor(web, 'openid offline_access read:avatars read:stats')).body;
    expect(decodeJwt(first.access_token).aud).toEqual([AVATARS, STATS]);
    const res = await refresh(web, first.refresh_token, { scope: 'read:avatars' });
    expect(jsonView(res)).toEqual(success('read:avatars'));
    const body = res.json();
    expect(decodeJwt(body.access_token)).toMatchObject({ scope: 'read:avatars', aud: AVATARS });
    expect(decodeJwt(body.refresh_token).scope).toBe('openid offline_access read:avatars read:stats');
    const full = await refresh(web, body.refresh_token);
    expect(jsonView(full)).toEqual(success('openid offline_access read:avatars read:stats', { id_token: expect.any(String) }));
    expect(decodeJwt(full.json().access_token).aud).toEqual([AVATARS, STATS]);
  });

  it('refuses an access token, an ID token, a tampered or malformed value as a refresh token', async () => {
    const tokens = (await tokensFor(web, 'openid offline_access read:avatars')).body;
    const [h, p, s] = tokens.refresh_token.split('.');
    const claims = decodeJwt(tokens.refresh_token);
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, scope: `${claims.scope} write:avatars` })).toString('base64url')}.${s}`;
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'rt+jwt' })).toString('base64url')}.${p}.`;
    for (const value of [tokens.access_token, tokens.id_token, forged, unsigned, 'not-a-token', `${h}.${p}`]) {
      expect(jsonView(await refresh(web, value))).toEqual(invalidGrant('refresh token is invalid'));
    }
    expect(jsonView(await refresh(web, undefined))).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'refresh_token is missing' } });
    expect(jsonView(await refresh(web, tokens.refresh_token))).toEqual(success('openid offline_access read:avatars', { id_token: expect.any(String) }));
  });

  it('refuses a refresh token of another tenant', async () => {
    const { refresh_token } = (await tokensFor(acme, 'offline_access', { tenant: 'acme' })).body;
    expect(decodeJwt(refresh_token).iss).toBe(ISSUER.replace('/default', '/acme'));
    expect(jsonView(await refresh(web, refresh_token))).toEqual(invalidGrant('refresh token is invalid'));
    const own = await tokenRequest(t.app, acme, { grant_type: 'refresh_token', refresh_token }, ACME_TOKEN);
    expect(jsonView(own)).toEqual(success('offline_access'));
  });

  it('refuses a refresh token of a disabled user', async () => {
    const { refresh_token } = (await tokensFor(web, 'offline_access read:avatars', { username: 'bob' })).body;
    await updateUser(t.deps, 'default', 'bob', { disabled: true });
    expect(jsonView(await refresh(web, refresh_token))).toEqual(invalidGrant('the user of this refresh token is disabled or gone'));
    await updateUser(t.deps, 'default', 'bob', { disabled: false });
    // The refusal did not spend it.
    expect(jsonView(await refresh(web, refresh_token))).toEqual(success('offline_access read:avatars'));
  });

  it('refuses a client that is not registered for the refresh_token grant', async () => {
    const { refresh_token } = (await tokensFor(web, 'offline_access read:avatars')).body;
    expect(jsonView(await refresh(noRefresh, refresh_token))).toEqual({
      status: 400, body: { error: 'unauthorized_client', error_description: 'the client is not allowed to use the refresh_token grant' },
    });
  });

  it('session-bound: rotates within the session, keeping sid and expiry, and fails once the session is revoked', async () => {
    const { body, browser } = await tokensFor(kc, 'openid read:avatars');
    const first = decodeJwt(body.refresh_token);
    expect(first.typ).toBe('Refresh');
    const res = await refresh(kc, body.refresh_token);
    expect(jsonView(res)).toEqual(success('openid read:avatars', { id_token: expect.any(String) }));
    const next = res.json();
    expect(decodeJwt(next.refresh_token)).toMatchObject({ typ: 'Refresh', sid: first.sid, exp: first.exp });
    expect(decodeJwt(next.id_token).sid).toBe(first.sid);

    const cookie = browser.cookies.get('tessera_session_default')!;
    expect(await t.storage.sessions.revoke(storageKey(cookie), Math.floor(clock.now() / 1000))).toBe(true);
    expect(jsonView(await refresh(kc, next.refresh_token))).toEqual(invalidGrant('the session of this refresh token has ended'));
  });

  it('session-bound: refreshing keeps the session alive; idle past its timeout, or past its absolute end, it fails', async () => {
    const { body } = await tokensFor(kc, 'read:avatars');
    let token = body.refresh_token;
    // Every 20 minutes, well past the 30-minute idle timeout in total: each refresh is activity.
    for (let i = 0; i < 4; i++) {
      clock.advance(20 * 60);
      const res = await refresh(kc, token);
      expect(jsonView(res)).toEqual(success('read:avatars'));
      token = res.json().refresh_token;
    }
    clock.advance(31 * 60);
    expect(jsonView(await refresh(kc, token))).toEqual(invalidGrant('the session of this refresh token has ended'));

    // The refresh token's exp is the session's absolute end (10 hours).
    let live = (await tokensFor(kc, 'read:avatars')).body.refresh_token;
    for (let i = 0; i < 34; i++) {
      clock.advance(1050);
      const res = await refresh(kc, live);
      expect(jsonView(res)).toEqual(success('read:avatars'));
      live = res.json().refresh_token;
    }
    clock.advance(1050);
    expect(jsonView(await refresh(kc, live))).toEqual(invalidGrant('refresh token has expired'));
  });

  it('refuses an offline refresh token past its absolute expiry (30 days), rotated or not', async () => {
    const first = (await tokensFor(web, 'offline_access read:avatars')).body;
    clock.advance(10 * DAY);
    const rotated = await refresh(web, first.refresh_token);
    expect(jsonView(rotated)).toEqual(success('offline_access read:avatars'));
    expect(decodeJwt(rotated.json().refresh_token).exp).toBe(decodeJwt(first.refresh_token).exp);
    clock.advance(20 * DAY - 1);
    const last = await refresh(web, rotated.json().refresh_token);
    expect(jsonView(last)).toEqual(success('offline_access read:avatars'));
    clock.advance(1);
    expect(jsonView(await refresh(web, last.json().refresh_token))).toEqual(invalidGrant('refresh token has expired'));
  });
});
