/**
 * SECURITY-CHECKLIST §E — key rotation keeps the previous key published until the tokens it
 * signed expire (41), and RP-initiated logout never redirects to an unregistered
 * post_logout_redirect_uri (42). Black-box through app.inject on every backend; keys rotate
 * as `tessera keys rotate` rotates them (the same management call and policy), on the
 * injected clock.
 */
import type { LightMyRequestResponse } from 'fastify';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/manage/clients.js';
import { removeExpiredKeys, rotateKeys, type KeyPolicy } from '../../src/manage/keys.js';
import { createUser } from '../../src/manage/users.js';
import { BACKENDS, FakeClock, startTestApp, type TestApp } from '../helpers.js';
import { authUrl, CERTS, errorMain, formOf, InjectBrowser, ISSUER, mainOf, PASSWORD, pathOf, redirectView, tokenRequest, USERINFO, type TestClient } from './support.js';

const DAY = 86400;
const LOGOUT = '/realms/default/protocol/openid-connect/logout';
const REDIRECT = 'https://app.example/cb';
const AFTER_LOGOUT = 'https://app.example/logged-out';

describe.each(BACKENDS)('SECURITY-CHECKLIST E: key rotation on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  /** JWT access tokens with the longest lifetime the deployment allows, and ID tokens. */
  let longLived: Required<TestClient>;
  /** What `tessera keys rotate` uses (src/cli/commands/keys.ts). */
  let policy: KeyPolicy;

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    policy = { jwksCacheSeconds: t.config.keys.jwksCacheSeconds, retentionSeconds: t.config.tokens.maxAccessTokenTtl };
    const c = await createClient(t.deps, 'default', {
      name: 'Long Lived', grantTypes: ['password'], scopes: [], accessTokenFormat: 'jwt', accessTokenTtl: t.config.tokens.maxAccessTokenTtl,
    }, t.config.tokens.maxAccessTokenTtl);
    longLived = { id: c.client.clientId, secret: c.secret! };
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
  });
  afterAll(() => t?.close());

  const issue = async () => {
    const res = await tokenRequest(t.app, longLived, { grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'openid' });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { access_token: string; id_token: string; expires_in: number };
  };
  const jwks = async () => (await t.app.inject({ url: CERTS })).json() as { keys: { kid: string }[] };
  const kids = async () => (await jwks()).keys.map((k) => k.kid);
  /** Verifies a token the way a relying party does: against the JWKS it fetches now, at the clock's time. */
  const verifies = async (token: string, typ?: string) => {
    try {
      await jwtVerify(token, createLocalJWKSet(await jwks() as never), { issuer: ISSUER, currentDate: new Date(clock.ms), ...(typ && { typ }) });
      return true;
    } catch {
      return false;
    }
  };
  const kidOf = (jwt: string) => decodeProtectedHeader(jwt).kid!;
  const now = () => Math.floor(clock.ms / 1000);
  /** The built-in cleanup, as the server runs it. */
  const cleanup = () => removeExpiredKeys(t.deps, 'default', policy);

  it('41. after key rotation the previous key stays published until tokens signed with it expire', async () => {
    expect(policy).toEqual({ jwksCacheSeconds: 300, retentionSeconds: DAY });
    const early = await issue();
    expect(early.expires_in).toBe(DAY);
    const [oldAccess, oldId] = [kidOf(early.access_token), kidOf(early.id_token)];

    const added = await rotateKeys(t.deps, 'default', policy);
    expect(added.map((k) => [k.purpose, k.status])).toEqual([['access', 'pending'], ['id', 'pending']]);
    // Published at once, signing only after the JWKS cache lifetime.
    expect(await kids()).toEqual(expect.arrayContaining([oldAccess, oldId, ...added.map((k) => k.kid)]));
    clock.advance(policy.jwksCacheSeconds - 1);
    // The last tokens the old keys sign: a second before the new keys take over.
    const last = await issue();
    expect([kidOf(last.access_token), kidOf(last.id_token)]).toEqual([oldAccess, oldId]);
    clock.advance(1);
    const fresh = await issue();
    expect([kidOf(fresh.access_token), kidOf(fresh.id_token)]).toEqual(added.map((k) => k.kid));

    // Every token the old keys signed verifies against the published JWKS through its last second,
    // and the cleanup leaves the keys alone while it does.
    clock.advance(3600 - 2);
    expect(now()).toBe(decodeJwt(last.id_token).exp! - 1);
    expect(await verifies(last.id_token)).toBe(true);
    clock.advance(DAY - 3600);
    expect(now()).toBe(decodeJwt(last.access_token).exp! - 1);
    expect(await cleanup()).toBe(0);
    expect(await verifies(last.access_token, 'at+jwt')).toBe(true);
    expect(await kids()).toEqual(expect.arrayContaining([oldAccess, oldId]));
    // The access token answers at userinfo, too, until then.
    expect((await t.app.inject({ url: USERINFO, headers: { authorization: `Bearer ${last.access_token}` } })).statusCode).toBe(200);

    // Once the longest-lived token of the old keys has expired, they leave the JWKS and the cleanup removes them.
    clock.advance(1);
    expect(await verifies(last.access_token, 'at+jwt')).toBe(false);
    clock.advance(1);
    expect((await kids()).filter((k) => k === oldAccess || k === oldId)).toEqual([]);
    expect(await cleanup()).toBe(2);
    // The new keys are unaffected.
    const after = await issue();
    expect(await verifies(after.access_token, 'at+jwt')).toBe(true);
    expect(await verifies(after.id_token)).toBe(true);
    expect([kidOf(after.access_token), kidOf(after.id_token)]).toEqual(added.map((k) => k.kid));
  });

  it('41. a rotated refresh-token key (never published) still verifies the refresh tokens it signed until they expire', async () => {
    const c = await createClient(t.deps, 'default', { name: 'Offline', grantTypes: ['password', 'refresh_token'], scopes: [] }, DAY);
    const client = { id: c.client.clientId, secret: c.secret! };
    const res = await tokenRequest(t.app, client, { grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'offline_access' });
    const { refresh_token } = res.json() as { refresh_token: string };
    const [added] = await rotateKeys(t.deps, 'default', policy, { purpose: 'refresh', immediately: true });
    expect(added).toMatchObject({ purpose: 'refresh', status: 'active' });
    expect(await kids()).not.toContain(added.kid);
    // Its last second: the grant (and the token) lives 30 days.
    clock.advance(decodeJwt(refresh_token).exp! - now() - 1);
    expect(await cleanup()).toBe(0);
    const refreshed = await tokenRequest(t.app, client, { grant_type: 'refresh_token', refresh_token });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    expect(kidOf(refreshed.json().refresh_token)).toBe(added.kid);
  });

  it('41. an emergency rotation (--now) also keeps the previous key published while its tokens live; only keys revoke pulls it at once', async () => {
    const before = await issue();
    const oldKid = kidOf(before.access_token);
    const [added] = await rotateKeys(t.deps, 'default', policy, { purpose: 'access', immediately: true });
    const after = await issue();
    expect(kidOf(after.access_token)).toBe(added.kid);
    clock.advance(DAY - 1);
    expect(await verifies(before.access_token, 'at+jwt')).toBe(true);
    expect(await kids()).toContain(oldKid);
  });
});

describe.each(BACKENDS)('SECURITY-CHECKLIST E: RP-initiated logout on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  let web: Required<TestClient>;
  const COOKIE = 'tessera_session_default';

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    const make = async (name: string, redirect: string, postLogout: string[]) => {
      const c = await createClient(t.deps, 'default', { name, grantTypes: ['authorization_code'], redirectUris: [redirect], postLogoutRedirectUris: postLogout, consent: 'skip' }, DAY);
      return { id: c.client.clientId, secret: c.secret! };
    };
    web = await make('Avatar Studio', REDIRECT, [AFTER_LOGOUT, 'http://127.0.0.1/bye']);
    // Another client, whose logout URI is registered — for it, not for web.
    await make('Other App', 'https://other.example/cb', ['https://other.example/bye']);
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
  });
  afterAll(() => t?.close());

  /** Signs a fresh browser in through the login page; returns it and the ID token of the code exchange. */
  async function signIn() {
    const b = new InjectBrowser(t.app);
    const login = await b.get(authUrl({ response_type: 'code', client_id: web.id, redirect_uri: REDIRECT, scope: 'openid', state: 's', nonce: 'n' }));
    const lf = formOf(login.body);
    const done = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: PASSWORD });
    const code = redirectView(done).query.code;
    const res = await tokenRequest(t.app, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT });
    expect(res.statusCode, res.body).toBe(200);
    return { b, idToken: res.json().id_token as string };
  }

  /** Whether this browser is still signed in: prompt=none answers with a code, or login_required. */
  async function signedIn(b: InjectBrowser): Promise<boolean> {
    const res = redirectView(await b.get(authUrl({ response_type: 'code', client_id: web.id, redirect_uri: REDIRECT, scope: 'openid', prompt: 'none' })));
    return res.query.code !== undefined;
  }

  const page = (res: LightMyRequestResponse) => ({ status: res.statusCode, location: res.headers.location, type: res.headers['content-type'], main: mainOf(res.body) });
  const refusal = (message: string) => ({
    status: 400, location: undefined, type: 'text/html; charset=utf-8',
    main: errorMain(message).replace('We could not start the sign-in', 'We could not sign you out'),
  });

  it('42. RP-initiated logout never redirects to an unregistered post_logout_redirect_uri', async () => {
    const { b, idToken } = await signIn();
    const NOT_REGISTERED = 'post_logout_redirect_uri is not registered for this client';
    const cases: [Record<string, string>, string][] = [
      [{ id_token_hint: idToken, post_logout_redirect_uri: 'https://evil.example/' }, NOT_REGISTERED],
      [{ id_token_hint: idToken, post_logout_redirect_uri: `${AFTER_LOGOUT}/` }, NOT_REGISTERED],
      [{ id_token_hint: idToken, post_logout_redirect_uri: `${AFTER_LOGOUT}?next=https://evil.example/` }, NOT_REGISTERED],
      [{ id_token_hint: idToken, post_logout_redirect_uri: `${AFTER_LOGOUT}#x` }, NOT_REGISTERED],
      [{ id_token_hint: idToken, post_logout_redirect_uri: 'HTTPS://app.example/logged-out' }, NOT_REGISTERED],
      [{ id_token_hint: idToken, post_logout_redirect_uri: 'https://app.example.evil.example/logged-out' }, NOT_REGISTERED],
      [{ id_token_hint: idToken, post_logout_redirect_uri: 'https://app.example@evil.example/logged-out' }, NOT_REGISTERED],
      [{ id_token_hint: idToken, post_logout_redirect_uri: 'javascript:alert(1)' }, NOT_REGISTERED],
      [{ id_token_hint: idToken, post_logout_redirect_uri: '//evil.example/' }, NOT_REGISTERED],
      // a login redirect URI is not a logout one
      [{ id_token_hint: idToken, post_logout_redirect_uri: REDIRECT }, NOT_REGISTERED],
      // another client's, named by client_id or by the hint
      [{ client_id: web.id, post_logout_redirect_uri: 'https://other.example/bye' }, NOT_REGISTERED],
      [{ id_token_hint: idToken, post_logout_redirect_uri: 'https://other.example/bye' }, NOT_REGISTERED],
      // loopback matches on any port, but only its registered host
      [{ client_id: web.id, id_token_hint: idToken, post_logout_redirect_uri: 'http://127.0.0.2/bye' }, NOT_REGISTERED],
      [{ post_logout_redirect_uri: AFTER_LOGOUT, state: 's' }, 'post_logout_redirect_uri needs client_id or id_token_hint to identify the client'],
    ];
    for (const [params, message] of cases) {
      const got = await b.get(`${LOGOUT}?${new URLSearchParams(params)}`);
      expect({ params, ...page(got) }).toEqual({ params, ...refusal(message) });
      expect(got.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      const posted = await b.post(LOGOUT, params);
      expect({ params, ...page(posted) }).toEqual({ params, ...refusal(message) });
    }
    // Nothing was ended: the same browser is still signed in.
    expect(b.cookies.get(COOKIE)).toBeTruthy();
    expect(await signedIn(b)).toBe(true);
    // The registered URI is honoured (the refusals above are about the URI, not the request).
    const ok = await b.get(`${LOGOUT}?${new URLSearchParams({ id_token_hint: idToken, post_logout_redirect_uri: AFTER_LOGOUT, state: 's' })}`);
    expect({ status: ok.statusCode, location: ok.headers.location }).toEqual({ status: 302, location: `${AFTER_LOGOUT}?state=s` });
    expect(await signedIn(b)).toBe(false);
  });
});
