import { createHash, randomBytes } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { storageKey } from '../src/tokens/opaque.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/manage/clients.js';
import { createUser } from '../src/manage/users.js';
import { createTenant, updateTenant } from '../src/manage/tenants.js';
import { BACKENDS, basic, form, FORM_HEADERS, PUBLIC_URL, startTestApp, type TestApp } from './helpers.js';
import { formOf, InjectBrowser, pathOf } from './support/inject_browser.js';

const ISSUER = `${PUBLIC_URL}/realms/default`;
const AUTH = '/realms/default/protocol/openid-connect/auth';
const TOKEN = '/realms/default/protocol/openid-connect/token';
const REDIRECT = 'https://app.example/cb';

const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

describe.each(BACKENDS)('authorization code flow on %s', (backend) => {
  let t: TestApp;
  let web: { id: string; secret: string };
  let userId: string;

  beforeAll(async () => {
    t = await startTestApp(backend);
    const c = await createClient(t.deps, 'default', { name: 'Avatar Studio', grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [REDIRECT], scopes: ['read:avatars'] }, 86400);
    web = { id: c.client.clientId, secret: c.secret! };
    userId = (await createUser(t.deps, 'default', { username: 'alice', password: 'correct horse battery', email: 'alice@example.test', name: 'Alice' })).id;
  });
  afterAll(() => t?.close());

  const authorizeUrl = (extra: Record<string, string> = {}) =>
    `${AUTH}?${new URLSearchParams({ response_type: 'code', client_id: extra.client_id ?? web.id, redirect_uri: REDIRECT, scope: 'openid profile email', state: 'st-1', nonce: 'n-1', ...extra })}`;

  async function signInAndConsent(b: InjectBrowser, extra: Record<string, string> = {}, expectConsent = false) {
    const login = await b.get(authorizeUrl(extra));
    expect(login.statusCode).toBe(200);
    expect(login.body).toContain('name="username"');
    const lf = formOf(login.body);
    const consent = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: 'correct horse battery' });
    // Remembered consent (from an earlier test) goes straight back to the client.
    if (consent.statusCode === 303 && !expectConsent) return consent;
    expect(consent.statusCode).toBe(200);
    expect(consent.body).toContain('wants access to your account');
    const cf = formOf(consent.body);
    const done = await b.post(pathOf(cf.action), { ...cf.fields, decision: 'allow' });
    return done;
  }

  it('signs in, consents and exchanges the code with PKCE for tokens whose ID token checks out', async () => {
    const b = new InjectBrowser(t.app);
    const { verifier, challenge } = pkce();
    const done = await signInAndConsent(b, { code_challenge: challenge, code_challenge_method: 'S256' }, true);
    expect(done.statusCode).toBe(303);
    const location = new URL(done.headers.location as string);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    expect(location.searchParams.get('state')).toBe('st-1');
    expect(location.searchParams.get('iss')).toBe(ISSUER);
    const code = location.searchParams.get('code')!;
    expect(code).toMatch(/^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);

    const res = await t.app.inject({
      method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(web.id, web.secret) },
      payload: form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }),
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'openid profile email', id_token: expect.any(String) });
    const jwks = createLocalJWKSet((await t.app.inject({ url: '/realms/default/protocol/openid-connect/certs' })).json());
    const { payload, protectedHeader } = await jwtVerify(body.id_token, jwks, { issuer: ISSUER, audience: web.id });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload).toEqual({
      iss: ISSUER, sub: userId, aud: web.id, azp: web.id, exp: payload.iat! + 3600, iat: expect.any(Number), auth_time: expect.any(Number),
      amr: ['pwd'], acr: '1', nonce: 'n-1', sid: expect.any(String), at_hash: createHash('sha256').update(body.access_token).digest().subarray(0, 16).toString('base64url'),
      preferred_username: 'alice', name: 'Alice', updated_at: expect.any(Number), email: 'alice@example.test', email_verified: false,
    });

    const info = await t.app.inject({ url: '/realms/default/protocol/openid-connect/userinfo', headers: { authorization: `bearer ${body.access_token}` } });
    expect(info.statusCode).toBe(200);
    expect(info.json()).toEqual({ sub: userId, preferred_username: 'alice', name: 'Alice', updated_at: expect.any(Number), email: 'alice@example.test', email_verified: false });

    // SECURITY-CHECKLIST 14: a second use fails.
    const again = await t.app.inject({
      method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(web.id, web.secret) },
      payload: form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }),
    });
    expect({ status: again.statusCode, body: again.json() }).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'authorization code was already used' } });
  });

  it('remembers consent: a second authorization with a live session redirects at once', async () => {
    const other = await createClient(t.deps, 'default', { name: 'Second App', grantTypes: ['authorization_code'], redirectUris: [REDIRECT] }, 86400);
    const b = new InjectBrowser(t.app);
    expect((await signInAndConsent(b, { client_id: other.client.clientId }, true)).statusCode).toBe(303);
    const res = await b.get(authorizeUrl({ client_id: other.client.clientId, state: 'st-2' }));
    expect(res.statusCode).toBe(302);
    const location = new URL(res.headers.location as string);
    expect(location.searchParams.get('state')).toBe('st-2');
    expect(location.searchParams.get('code')).toBeTruthy();
  });

  it('answers a wrong password with the same message as an unknown user', async () => {
    const b = new InjectBrowser(t.app);
    const login = await b.get(authorizeUrl());
    const lf = formOf(login.body);
    const wrong = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: 'nope nope nope' });
    const unknown = await b.post(pathOf(lf.action), { ...lf.fields, username: 'nobody', password: 'nope nope nope' });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.body).toContain('Invalid username or password.');
    expect(unknown.body).toContain('Invalid username or password.');
  });

  async function codeFor(clientId: string, scope: string) {
    const b = new InjectBrowser(t.app);
    const { verifier, challenge } = pkce();
    const done = await signInAndConsent(b, { client_id: clientId, scope, code_challenge: challenge, code_challenge_method: 'S256' });
    expect(done.statusCode).toBe(303);
    return { code: new URL(done.headers.location as string).searchParams.get('code')!, verifier };
  }
  const exchange = (clientId: string, secret: string, code: string, verifier: string) =>
    t.app.inject({
      method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(clientId, secret) },
      payload: form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }),
    });

  it('issues a refresh token for a granted offline_access: an HS256 rt+jwt for the issuer, never in the JWKS', async () => {
    const { code, verifier } = await codeFor(web.id, 'openid offline_access read:avatars');
    const res = await exchange(web.id, web.secret, code, verifier);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(Object.keys(body).sort()).toEqual(['access_token', 'expires_in', 'id_token', 'not-before-policy', 'refresh_token', 'scope', 'token_type']);
    const header = decodeProtectedHeader(body.refresh_token);
    expect(header).toEqual({ alg: 'HS256', typ: 'rt+jwt', kid: expect.stringMatching(/^hs256-/) });
    const claims = decodeJwt(body.refresh_token);
    expect(claims).toEqual({
      iss: ISSUER, aud: ISSUER, sub: userId, azp: web.id, iat: expect.any(Number), exp: claims.iat! + 30 * 24 * 3600,
      jti: expect.any(String), scope: 'openid offline_access read:avatars', typ: 'Offline',
    });
    const jwks = (await t.app.inject({ url: '/realms/default/protocol/openid-connect/certs' })).json();
    expect(jwks.keys.map((k: { kid: string }) => k.kid)).not.toContain(header.kid);
    expect(JSON.stringify(jwks)).not.toContain('"oct"');
    const stored = await t.storage.artifacts.find('refresh_token', storageKey(claims.jti!));
    expect(stored).toMatchObject({ kind: 'refresh_token', clientId: web.id, usedAt: null, expiresAt: claims.exp });
  });

  it('issues no refresh token without offline_access, and a session-bound one for --session-refresh-tokens clients', async () => {
    const plain = await codeFor(web.id, 'openid read:avatars');
    expect((await exchange(web.id, web.secret, plain.code, plain.verifier)).json().refresh_token).toBeUndefined();
    const kc = await createClient(t.deps, 'default', { name: 'Keycloak App', grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [REDIRECT], sessionRefreshTokens: true }, 86400);
    const { code, verifier } = await codeFor(kc.client.clientId, 'openid');
    const body = (await exchange(kc.client.clientId, kc.secret!, code, verifier)).json();
    const claims = decodeJwt(body.refresh_token);
    expect(claims.typ).toBe('Refresh');
    expect(claims.sid).toBe(decodeJwt(body.id_token).sid);
    expect(claims.exp! - claims.iat!).toBeLessThanOrEqual(10 * 3600);
  });

  it('asks for consent on the first authorization even when no scope is requested', async () => {
    const c = await createClient(t.deps, 'default', { name: 'Scopeless App', grantTypes: ['authorization_code'], redirectUris: [REDIRECT] }, 86400);
    const b = new InjectBrowser(t.app);
    const login = await b.get(`${AUTH}?${new URLSearchParams({ response_type: 'code', client_id: c.client.clientId, redirect_uri: REDIRECT, state: 's' })}`);
    const lf = formOf(login.body);
    const next = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: 'correct horse battery' });
    expect(next.statusCode).toBe(200);
    expect(next.body).toContain('Scopeless App wants access to your account');
    const silent = await b.get(`${AUTH}?${new URLSearchParams({ response_type: 'code', client_id: c.client.clientId, redirect_uri: REDIRECT, state: 's', prompt: 'none' })}`);
    const location = new URL(silent.headers.location as string);
    expect(Object.fromEntries(location.searchParams)).toEqual({ error: 'consent_required', error_description: 'the user has not approved this client', state: 's', iss: ISSUER });
  });

  it("uses the tenant's own session lifetimes for the session cookie and its expiry", async () => {
    await createTenant(t.deps, { id: 'short' });
    await updateTenant(t.deps, 'short', { sessionIdleSeconds: 600, sessionMaxSeconds: 7200 });
    const c = await createClient(t.deps, 'short', { name: 'Short App', grantTypes: ['authorization_code'], redirectUris: [REDIRECT] }, 86400);
    await createUser(t.deps, 'short', { username: 'bob', password: 'correct horse battery' });
    const b = new InjectBrowser(t.app);
    const login = await b.get(`/realms/short/protocol/openid-connect/auth?${new URLSearchParams({ response_type: 'code', client_id: c.client.clientId, redirect_uri: REDIRECT })}`);
    const lf = formOf(login.body);
    const res = await t.app.inject({
      method: 'POST', url: pathOf(lf.action), payload: new URLSearchParams({ ...lf.fields, username: 'bob', password: 'correct horse battery' }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    const cookie = ([] as string[]).concat(res.headers['set-cookie'] as string[]).find((c) => c.startsWith('tessera_session_short='))!;
    expect(cookie).toMatch(/Max-Age=7200/);
    const session = await t.storage.sessions.get(storageKey(cookie.split(';')[0].split('=')[1]));
    expect(session!.expiresAt - session!.createdAt).toBe(7200);
    expect(session!.idleExpiresAt - session!.createdAt).toBe(600);
  });

  it("signs ID tokens with the client's registered algorithm, making that key on first use", async () => {
    const es = await createClient(t.deps, 'default', { name: 'ES App', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], idTokenAlg: 'ES256' }, 86400);
    const { code, verifier } = await codeFor(es.client.clientId, 'openid');
    const body = (await exchange(es.client.clientId, es.secret!, code, verifier)).json();
    const jwks = createLocalJWKSet((await t.app.inject({ url: '/realms/default/protocol/openid-connect/certs' })).json());
    const { protectedHeader } = await jwtVerify(body.id_token, jwks, { issuer: ISSUER, audience: es.client.clientId });
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'JWT', kid: expect.stringMatching(/^es256-/) });
    // Other clients keep RS256.
    const rs = await codeFor(web.id, 'openid');
    expect(decodeProtectedHeader((await exchange(web.id, web.secret, rs.code, rs.verifier)).json().id_token).alg).toBe('RS256');
    await expect(createClient(t.deps, 'default', { name: 'x', idTokenAlg: 'HS256' }, 86400)).rejects.toThrow('ID token algorithm must be one of RS256, ES256, EdDSA');
  });
});
