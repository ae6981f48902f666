/**
 * SECURITY-CHECKLIST §E — OpenID Connect (items 35–40), black-box through app.inject on
 * every backend, with a hand-moved clock. Items 41 (key rotation retention) and 42
 * (RP-initiated logout) are covered elsewhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/manage/clients.js';
import { rotateKeys } from '../../src/manage/keys.js';
import { createTenant } from '../../src/manage/tenants.js';
import { createUser } from '../../src/manage/users.js';
import { BACKENDS, FakeClock, PUBLIC_URL, startTestApp, type TestApp } from '../helpers.js';
import {
  authUrl, CERTS, CODE, drive, formOf, halfSha256, headerOf, InjectBrowser, isLoginPage, ISSUER, parseLocation, PASSWORD, redirectView, SESSION_STATE,
  tokenRequest, verifyJwt, type TestClient,
} from './support.js';

const REG = 'https://rp.example/cb';
const POLICY = { jwksCacheSeconds: 300, retentionSeconds: 86400 };
const NONCE_REQUIRED = 'nonce is required when an ID token is returned from the authorization endpoint';

describe.each(BACKENDS)('SECURITY-CHECKLIST E: OpenID Connect on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  const now = () => Math.floor(clock.ms / 1000);
  /** Confidential: code and implicit, hence the hybrid response types too. */
  let rp: TestClient;
  let userId: string;
  /** Every ID token any test obtained, for item 38. */
  const idTokens: string[] = [];

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    const c = await createClient(t.deps, 'default', { name: 'Relying Party', grantTypes: ['authorization_code', 'implicit', 'refresh_token'], redirectUris: [REG], scopes: ['read:avatars'] }, 86400);
    rp = { id: c.client.clientId, secret: c.secret };
    userId = (await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD, email: 'alice@example.test', name: 'Alice' })).id;
    await createTenant(t.deps, { id: 'acme' });
  });
  afterAll(() => t?.close());

  const oidcUrl = (extra: Record<string, string | undefined> = {}, path?: string) =>
    authUrl({ response_type: 'code', client_id: rp.id, redirect_uri: REG, scope: 'openid profile email', state: 'st', nonce: 'n-0S6_WzA2Mj', ...extra }, path);

  const redeem = (code: string, extra: Record<string, string | undefined> = {}, url?: string) =>
    tokenRequest(t.app, rp, { grant_type: 'authorization_code', code, redirect_uri: REG, ...extra }, url);

  async function idTokenClaims(idToken: string) {
    idTokens.push(idToken);
    return verifyJwt(t.app, idToken, clock.ms, { audience: rp.id });
  }

  /** A browser signed in as alice that has consented to `openid profile email read:avatars`. */
  async function signedIn(): Promise<InjectBrowser> {
    const b = new InjectBrowser(t.app);
    const { res } = await drive(b, oidcUrl({ scope: 'openid profile email read:avatars' }));
    expect(res.statusCode).toBe(303);
    return b;
  }

  describe('35', () => {
    it('35. ID tokens have correct iss, aud, azp, exp, iat, sub, and echo nonce (code flow)', async () => {
      const b = new InjectBrowser(t.app);
      const signInAt = now();
      const nonce = 'n-0S6_WzA2Mj ü&=?"<>';
      const { res } = await drive(b, oidcUrl({ nonce }));
      const code = parseLocation(res.headers.location).query.code;
      clock.advance(7);
      const token = await redeem(code);
      expect(token.statusCode).toBe(200);
      const { id_token: idToken, access_token: accessToken } = token.json();
      const { header, payload } = await idTokenClaims(idToken);
      expect(header).toEqual({ alg: 'RS256', kid: expect.any(String), typ: 'JWT' });
      expect(payload).toEqual({
        iss: ISSUER, aud: rp.id, azp: rp.id, sub: userId, iat: now(), exp: now() + 3600, auth_time: signInAt, amr: ['pwd'], acr: '1', nonce, sid: expect.any(String),
        at_hash: halfSha256(accessToken), preferred_username: 'alice', name: 'Alice', email: 'alice@example.test', email_verified: false, updated_at: expect.any(Number),
      });
    });

    it('35. ID tokens have correct claims under the alias paths too (iss is the canonical issuer), and no nonce when none was sent', async () => {
      const b = await signedIn();
      const res = await b.get(oidcUrl({ nonce: undefined, scope: 'openid' }, '/authorize'));
      const code = parseLocation(res.headers.location).query.code;
      const token = await redeem(code, {}, '/oauth/token');
      expect(token.statusCode).toBe(200);
      const { payload } = await idTokenClaims(token.json().id_token);
      expect(payload).toEqual({
        iss: ISSUER, aud: rp.id, azp: rp.id, sub: userId, iat: now(), exp: now() + 3600, auth_time: expect.any(Number), amr: ['pwd'], acr: '1', sid: expect.any(String),
        at_hash: halfSha256(token.json().access_token),
      });
      expect(payload.nonce).toBeUndefined();
    });

    it('35. ID tokens have correct iss and aud (another tenant\'s ID token carries its own issuer and fails verification here)', async () => {
      const acmeClient = await createClient(t.deps, 'acme', { name: 'Acme RP', redirectUris: [REG] }, 86400);
      await createUser(t.deps, 'acme', { username: 'alice', password: PASSWORD });
      const b = new InjectBrowser(t.app);
      const { res } = await drive(b, authUrl({ response_type: 'code', client_id: acmeClient.client.clientId, redirect_uri: REG, scope: 'openid', nonce: 'n' }, '/realms/acme/protocol/openid-connect/auth'));
      const code = parseLocation(res.headers.location).query.code;
      const token = await tokenRequest(t.app, { id: acmeClient.client.clientId, secret: acmeClient.secret }, { grant_type: 'authorization_code', code, redirect_uri: REG }, '/realms/acme/protocol/openid-connect/token');
      const idToken = token.json().id_token;
      idTokens.push(idToken);
      const acmeKeys = (await t.app.inject({ url: '/realms/acme/protocol/openid-connect/certs' })).json();
      expect(acmeKeys.keys.map((k: { kid: string }) => k.kid)).toContain(headerOf(idToken).kid);
      await expect(verifyJwt(t.app, idToken, clock.ms)).rejects.toThrow();
      const { decodeJwt } = await import('jose');
      expect(decodeJwt(idToken)).toMatchObject({ iss: `${PUBLIC_URL}/realms/acme`, aud: acmeClient.client.clientId, azp: acmeClient.client.clientId });
    });
  });

  describe('36', () => {
    it('36. at_hash is correct in implicit responses (id_token token), and absent with id_token alone', async () => {
      const b = await signedIn();
      const res = await b.get(oidcUrl({ response_type: 'id_token token' }));
      expect(redirectView(res)).toEqual({
        status: 302, target: REG, query: {},
        fragment: { access_token: expect.any(String), token_type: 'Bearer', expires_in: '3600', id_token: expect.any(String), scope: 'openid profile email', state: 'st', iss: ISSUER, session_state: SESSION_STATE },
      });
      const f = parseLocation(res.headers.location).fragment;
      const { payload } = await idTokenClaims(f.id_token);
      expect(payload).toMatchObject({ iss: ISSUER, aud: rp.id, azp: rp.id, sub: userId, nonce: 'n-0S6_WzA2Mj', at_hash: halfSha256(f.access_token) });
      expect(payload.c_hash).toBeUndefined();

      const only = await b.get(oidcUrl({ response_type: 'id_token' }));
      const g = parseLocation(only.headers.location).fragment;
      expect(Object.keys(g).sort()).toEqual(['id_token', 'iss', 'session_state', 'state']);
      const claims = (await idTokenClaims(g.id_token)).payload;
      expect(claims).toMatchObject({ nonce: 'n-0S6_WzA2Mj', sub: userId });
      expect({ at_hash: claims.at_hash, c_hash: claims.c_hash }).toEqual({ at_hash: undefined, c_hash: undefined });
    });

    it('36. at_hash and c_hash are correct in hybrid responses (code id_token, code token, code id_token token)', async () => {
      const b = await signedIn();
      const results: Record<string, unknown> = {};

      const ci = await b.get(oidcUrl({ response_type: 'code id_token' }));
      const ciF = parseLocation(ci.headers.location).fragment;
      expect(Object.keys(ciF).sort()).toEqual(['code', 'id_token', 'iss', 'session_state', 'state']);
      const ciClaims = (await idTokenClaims(ciF.id_token)).payload;
      results.codeIdToken = { c_hash: ciClaims.c_hash === halfSha256(ciF.code), at_hash: ciClaims.at_hash, nonce: ciClaims.nonce };

      const ct = await b.get(oidcUrl({ response_type: 'code token' }));
      const ctF = parseLocation(ct.headers.location).fragment;
      expect(Object.keys(ctF).sort()).toEqual(['access_token', 'code', 'expires_in', 'iss', 'scope', 'session_state', 'state', 'token_type']);
      results.codeToken = { idTokenInFragment: 'id_token' in ctF };

      const cit = await b.get(oidcUrl({ response_type: 'code id_token token' }));
      const citF = parseLocation(cit.headers.location).fragment;
      expect(Object.keys(citF).sort()).toEqual(['access_token', 'code', 'expires_in', 'id_token', 'iss', 'scope', 'session_state', 'state', 'token_type']);
      const citClaims = (await idTokenClaims(citF.id_token)).payload;
      results.codeIdTokenToken = { c_hash: citClaims.c_hash === halfSha256(citF.code), at_hash: citClaims.at_hash === halfSha256(citF.access_token), nonce: citClaims.nonce };

      // the code of a hybrid response redeems for an ID token with the same nonce and sub, whose at_hash is of the new access token
      const fromCode = await redeem(citF.code);
      expect(fromCode.statusCode).toBe(200);
      const codeClaims = (await idTokenClaims(fromCode.json().id_token)).payload;
      results.redeemed = { sub: codeClaims.sub === citClaims.sub, nonce: codeClaims.nonce, at_hash: codeClaims.at_hash === halfSha256(fromCode.json().access_token), c_hash: codeClaims.c_hash };
      const fromCodeToken = await redeem(ctF.code);
      results.redeemedCodeToken = { status: fromCodeToken.statusCode, at_hash: (await idTokenClaims(fromCodeToken.json().id_token)).payload.at_hash === halfSha256(fromCodeToken.json().access_token) };

      expect(results).toEqual({
        codeIdToken: { c_hash: true, at_hash: undefined, nonce: 'n-0S6_WzA2Mj' },
        codeToken: { idTokenInFragment: false },
        codeIdTokenToken: { c_hash: true, at_hash: true, nonce: 'n-0S6_WzA2Mj' },
        redeemed: { sub: true, nonce: 'n-0S6_WzA2Mj', at_hash: true, c_hash: undefined },
        redeemedCodeToken: { status: 200, at_hash: true },
      });
    });

    it('36. at_hash and c_hash are correct in a hybrid form_post response', async () => {
      const b = await signedIn();
      const res = await b.get(oidcUrl({ response_type: 'code id_token token', response_mode: 'form_post' }));
      expect(res.statusCode).toBe(200);
      const { action, fields } = formOf(res.body);
      expect(action).toBe(REG);
      const claims = (await idTokenClaims(fields.id_token)).payload;
      expect({ c_hash: claims.c_hash, at_hash: claims.at_hash }).toEqual({ c_hash: halfSha256(fields.code), at_hash: halfSha256(fields.access_token) });
    });
  });

  describe('37', () => {
    it('37. implicit or hybrid without nonce → error', async () => {
      const b = await signedIn();
      const types = ['id_token', 'id_token token', 'token id_token', 'code id_token', 'id_token code', 'code id_token token'];
      const results = [];
      for (const rt of types) {
        for (const nonce of [undefined, '']) {
          results.push({ rt, nonce, signedIn: redirectView(await b.get(oidcUrl({ response_type: rt, nonce }))), anonymous: redirectView(await t.app.inject({ url: oidcUrl({ response_type: rt, nonce }) })) });
        }
      }
      const expected = { status: 302, target: REG, query: {}, fragment: { error: 'invalid_request', error_description: NONCE_REQUIRED, state: 'st', iss: ISSUER } };
      expect(results).toEqual(types.flatMap((rt) => [undefined, ''].map((nonce) => ({ rt, nonce, signedIn: expected, anonymous: expected }))));
      // form_post: the error is posted, still without any token
      const post = await b.get(oidcUrl({ response_type: 'code id_token', nonce: undefined, response_mode: 'form_post' }));
      expect(formOf(post.body)).toEqual({ action: REG, fields: { error: 'invalid_request', error_description: NONCE_REQUIRED, state: 'st', iss: ISSUER } });
    });
  });

  describe('38', () => {
    it('38. no alg none ID tokens: every ID token issued is RS256 with a published kid; discovery never lists none', async () => {
      // make sure there are ID tokens from every path, even when this test runs alone
      const b = await signedIn();
      const fragment = parseLocation((await b.get(oidcUrl({ response_type: 'code id_token token' }))).headers.location).fragment;
      idTokens.push(fragment.id_token, (await redeem(fragment.code)).json().id_token);
      idTokens.push(parseLocation((await b.get(oidcUrl({ response_type: 'id_token' }))).headers.location).fragment.id_token);

      const kids = new Set((await t.app.inject({ url: CERTS })).json().keys.map((k: { kid: string }) => k.kid));
      const acmeKids = new Set((await t.app.inject({ url: '/realms/acme/protocol/openid-connect/certs' })).json().keys.map((k: { kid: string }) => k.kid));
      const headers = idTokens.map((tok) => {
        const h = headerOf(tok);
        return { alg: h.alg, typ: h.typ, published: kids.has(h.kid) || acmeKids.has(h.kid), signed: tok.split('.')[2].length > 0 };
      });
      expect(headers.length).toBeGreaterThanOrEqual(3);
      expect(headers).toEqual(headers.map(() => ({ alg: 'RS256', typ: 'JWT', published: true, signed: true })));

      for (const path of ['/realms/default/.well-known/openid-configuration', '/realms/default/.well-known/oauth-authorization-server', '/.well-known/oauth-authorization-server/realms/default', '/realms/acme/.well-known/openid-configuration']) {
        const meta = (await t.app.inject({ url: path })).json();
        expect({ path, algs: meta.id_token_signing_alg_values_supported }).toEqual({ path, algs: ['RS256', 'ES256', 'EdDSA'] });
        const algLists = Object.entries(meta).filter(([k]) => k.endsWith('_alg_values_supported'));
        expect(algLists.flatMap(([, v]) => (v as string[]).filter((a) => a.toLowerCase() === 'none'))).toEqual([]);
      }
      const jwks = (await t.app.inject({ url: CERTS })).json();
      for (const k of jwks.keys) expect(['ES256', 'RS256', 'EdDSA']).toContain(k.alg);
    });
  });

  describe('39', () => {
    async function idTokenFrom(res: { headers: Record<string, unknown> }) {
      const code = parseLocation(res.headers.location as string).query.code;
      expect(code).toEqual(CODE);
      const token = await redeem(code);
      expect(token.statusCode).toBe(200);
      return (await idTokenClaims(token.json().id_token)).payload;
    }

    it('39. max_age forces a fresh login with a later auth_time; sub is stable', async () => {
      const b = new InjectBrowser(t.app);
      const firstAt = now();
      const first = await drive(b, oidcUrl());
      const c1 = await idTokenFrom(first.res);
      expect(c1.auth_time).toBe(firstAt);

      clock.advance(120);
      // within max_age: no login, same auth_time
      const within = await b.get(oidcUrl({ max_age: '300' }));
      expect(within.statusCode).toBe(302);
      expect((await idTokenFrom(within)).auth_time).toBe(firstAt);

      // beyond max_age: the login page, then a later auth_time
      const beyond = await b.get(oidcUrl({ max_age: '60' }));
      expect(isLoginPage(beyond)).toBe(true);
      // with prompt=none it cannot sign in: login_required
      const none = await b.get(oidcUrl({ max_age: '60', prompt: 'none' }));
      expect(redirectView(none)).toEqual({ status: 302, target: REG, query: { error: 'login_required', error_description: 'the user is not signed in', state: 'st', iss: ISSUER }, fragment: {} });
      const relogin = await drive(b, oidcUrl({ max_age: '60' }));
      expect({ sawLogin: relogin.sawLogin, status: relogin.res.statusCode }).toEqual({ sawLogin: true, status: 303 });
      const c2 = await idTokenFrom(relogin.res);
      expect({ auth_time: c2.auth_time, sub: c2.sub }).toEqual({ auth_time: firstAt + 120, sub: c1.sub });
      expect(c2.auth_time).toBeGreaterThan(c1.auth_time as number);

      // max_age=0 after any time has passed: a fresh login again
      clock.advance(1);
      const zero = await drive(b, oidcUrl({ max_age: '0' }));
      expect(zero.sawLogin).toBe(true);
      const c3 = await idTokenFrom(zero.res);
      expect({ auth_time: c3.auth_time, sub: c3.sub }).toEqual({ auth_time: firstAt + 121, sub: c1.sub });
    });

    it('39. prompt=login forces a fresh login with a later auth_time; sub is stable', async () => {
      const b = new InjectBrowser(t.app);
      const firstAt = now();
      const c1 = await idTokenFrom((await drive(b, oidcUrl())).res);
      clock.advance(30);
      const page = await b.get(oidcUrl({ prompt: 'login' }));
      expect(isLoginPage(page)).toBe(true);
      const relogin = await drive(b, oidcUrl({ prompt: 'login' }));
      expect({ sawLogin: relogin.sawLogin, status: relogin.res.statusCode }).toEqual({ sawLogin: true, status: 303 });
      const c2 = await idTokenFrom(relogin.res);
      expect({ first: c1.auth_time, second: c2.auth_time, sameSub: c2.sub === c1.sub, sub: c2.sub }).toEqual({ first: firstAt, second: firstAt + 30, sameSub: true, sub: userId });
      // the session from the fresh login serves the next request without a login, with the new auth_time
      const next = await b.get(oidcUrl());
      expect(next.statusCode).toBe(302);
      expect((await idTokenFrom(next)).auth_time).toBe(firstAt + 30);
      // a wrong password at the forced login does not fall back to the old session
      const forced = await b.get(oidcUrl({ prompt: 'login' }));
      const f = formOf(forced.body);
      const wrong = await b.post(new URL(f.action).pathname, { ...f.fields, username: 'alice', password: 'not the password' });
      expect(wrong.statusCode).toBe(401);
      expect(wrong.headers.location).toBeUndefined();
    });
  });

  describe('40', () => {
    it('40. discovery issuer equals the canonical URL it was fetched under; under an alias the server answers 308 to the canonical one', async () => {
      const canonical = [
        [`${ISSUER}/.well-known/openid-configuration`, ISSUER],
        [`${ISSUER}/.well-known/oauth-authorization-server`, ISSUER],
        [`${PUBLIC_URL}/.well-known/oauth-authorization-server/realms/default`, ISSUER],
        [`${PUBLIC_URL}/realms/acme/.well-known/openid-configuration`, `${PUBLIC_URL}/realms/acme`],
      ];
      for (const [url, issuer] of canonical) {
        const res = await t.app.inject({ url: url.slice(PUBLIC_URL.length) });
        const meta = res.json();
        expect({ url, status: res.statusCode, issuer: meta.issuer }).toEqual({ url, status: 200, issuer });
        // OIDC Discovery §4.3: the configuration URL is the issuer plus /.well-known/openid-configuration
        if (url.endsWith('/openid-configuration')) expect(`${meta.issuer}/.well-known/openid-configuration`).toBe(url);
        for (const key of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri']) expect(meta[key].startsWith(`${issuer}/`)).toBe(true);
      }
      const aliases = [
        ['/auth/realms/default/.well-known/openid-configuration', `${ISSUER}/.well-known/openid-configuration`],
        ['/auth/realms/default/.well-known/oauth-authorization-server', `${ISSUER}/.well-known/oauth-authorization-server`],
        ['/auth/realms/acme/.well-known/openid-configuration', `${PUBLIC_URL}/realms/acme/.well-known/openid-configuration`],
        ['/.well-known/openid-configuration', `${ISSUER}/.well-known/openid-configuration`],
        ['/.well-known/oauth-authorization-server', `${ISSUER}/.well-known/oauth-authorization-server`],
      ];
      const results = [];
      for (const [from] of aliases) {
        const res = await t.app.inject({ url: from });
        results.push({ from, status: res.statusCode, location: res.headers.location });
      }
      expect(results).toEqual(aliases.map(([from, to]) => ({ from, status: 308, location: to })));
    });

    it('40. JWKS has unique kids and no private material (also after key rotation, and on the alias)', async () => {
      const PRIVATE = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'];
      const check = async (url: string) => {
        const res = await t.app.inject({ url });
        expect(res.statusCode).toBe(200);
        const { keys } = res.json();
        const kids = keys.map((k: { kid: string }) => k.kid);
        return {
          unique: new Set(kids).size === kids.length,
          allHaveKid: kids.every((k: unknown) => typeof k === 'string' && k.length > 0),
          privateMembers: keys.flatMap((k: Record<string, unknown>) => PRIVATE.filter((m) => m in k).map((m) => `${k.kid}:${m}`)),
          symmetric: keys.filter((k: { kty: string }) => k.kty === 'oct').length,
          count: keys.length,
        };
      };
      const before = await check(CERTS);
      expect(before).toEqual({ unique: true, allHaveKid: true, privateMembers: [], symmetric: 0, count: 2 });
      await rotateKeys(t.deps, 'default', POLICY);
      await rotateKeys(t.deps, 'default', POLICY, { immediately: true });
      for (const url of [CERTS, '/.well-known/jwks.json', '/auth/realms/default/protocol/openid-connect/certs']) {
        expect({ url, ...(await check(url)) }).toEqual({ url, unique: true, allHaveKid: true, privateMembers: [], symmetric: 0, count: 6 });
      }
      // the kids of two tenants never collide
      const acme = (await t.app.inject({ url: '/realms/acme/protocol/openid-connect/certs' })).json().keys.map((k: { kid: string }) => k.kid);
      const mine = (await t.app.inject({ url: CERTS })).json().keys.map((k: { kid: string }) => k.kid);
      expect(acme.filter((k: string) => mine.includes(k))).toEqual([]);
      // and an ID token signed after the rotation still names a published kid and verifies
      const b = await signedIn();
      const code = parseLocation((await b.get(oidcUrl())).headers.location).query.code;
      const idToken = (await redeem(code, { code_verifier: undefined })).json().id_token;
      expect(mine).toContain(headerOf(idToken).kid);
      await idTokenClaims(idToken);
    });
  });
});
