/**
 * SECURITY-CHECKLIST §D — refresh tokens: rotation and reuse detection (30), concurrent
 * refreshes with and without a grace window (31), client binding (32), no widening (33) and
 * sender-constrained refresh tokens (34, RFC 9449 §5), black-box through app.inject on every
 * backend with a hand-moved clock. Families come from the password grant (the shortest
 * honest way to one); whether a token still works is asked of userinfo and introspection.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../src/manage/apis.js';
import { createClient } from '../../src/manage/clients.js';
import { createUser } from '../../src/manage/users.js';
import { BACKENDS, basic, FakeClock, form, FORM_HEADERS, PUBLIC_URL, startTestApp, type TestApp } from '../helpers.js';
import { authorizeCode, dpopKey, dpopTokenRequest, fetchNonce, makeProof, type DpopKey } from '../support/dpop.js';
import { InjectBrowser, invalidGrant, jsonView, PASSWORD, TOKEN, tokenRequest, USERINFO, type TestClient } from './support.js';

const INTROSPECT = '/realms/default/protocol/openid-connect/token/introspect';
const REVOKE = '/realms/default/protocol/openid-connect/revoke';
const AVATARS = 'https://api.loomai.com/';
const GRACE = 10;
const SCOPE = 'openid offline_access read:avatars';

describe.each(BACKENDS)('SECURITY-CHECKLIST D: refresh rotation on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  /** No grace window (the default); opaque access tokens, so a revoked family shows at userinfo. */
  let strict: Required<TestClient>;
  /** A 10-second grace window. */
  let graceful: Required<TestClient>;
  /** JWT access tokens (revoked by jti with their family). */
  let jwt: Required<TestClient>;
  let other: Required<TestClient>;

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    await createApi(t.deps, 'default', { audience: AVATARS, scopes: ['read:avatars', 'write:avatars'] }, 86400);
    const mk = async (input: Parameters<typeof createClient>[2]) => {
      const c = await createClient(t.deps, 'default', { grantTypes: ['password', 'refresh_token'], scopes: ['read:avatars', 'write:avatars'], accessTokenFormat: 'opaque', ...input }, 86400);
      return { id: c.client.clientId, secret: c.secret! };
    };
    strict = await mk({ name: 'Strict App' });
    graceful = await mk({ name: 'Tabs App', refreshGraceSeconds: GRACE });
    jwt = await mk({ name: 'JWT App', accessTokenFormat: 'jwt' });
    other = await mk({ name: 'Other App' });
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
  });
  afterAll(() => t?.close());

  async function family(client: TestClient, scope = SCOPE) {
    const res = await tokenRequest(t.app, client, { grant_type: 'password', username: 'alice', password: PASSWORD, scope });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { access_token: string; refresh_token: string };
  }
  const refresh = (client: TestClient, refreshToken: string, extra: Record<string, string> = {}) => tokenRequest(t.app, client, { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra });
  const success = (scope = SCOPE) => ({
    status: 200,
    body: { access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, refresh_token: expect.any(String), scope, ...(scope.includes('openid') && { id_token: expect.any(String) }) },
  });
  const userinfoStatus = async (accessToken: string) => (await t.app.inject({ url: USERINFO, headers: { authorization: `Bearer ${accessToken}` } })).statusCode;
  /** Whether the client that holds a token still sees it active (RFC 7662). */
  const active = async (client: Required<TestClient>, token: string) =>
    (await t.app.inject({ method: 'POST', url: INTROSPECT, headers: { ...FORM_HEADERS, authorization: basic(client.id, client.secret) }, payload: form({ token }) })).json().active as boolean;
  const USED = invalidGrant('refresh token was already used');
  const REVOKED = invalidGrant('refresh token was revoked');

  describe('30', () => {
    it('30. with rotation, using an old refresh token after its successor → the whole family revoked', async () => {
      const first = await family(jwt);
      const second = await refresh(jwt, first.refresh_token);
      expect(jsonView(second)).toEqual(success());
      const third = await refresh(jwt, second.json().refresh_token);
      expect(jsonView(third)).toEqual(success());
      expect(await active(jwt, third.json().refresh_token)).toBe(true);
      expect(await active(jwt, third.json().access_token)).toBe(true);

      expect(jsonView(await refresh(jwt, first.refresh_token))).toEqual(USED);
      // Every member of the family — the latest refresh token and every access token — is dead.
      expect(jsonView(await refresh(jwt, third.json().refresh_token))).toEqual(REVOKED);
      for (const token of [first.access_token, second.json().access_token, third.json().access_token, third.json().refresh_token]) {
        expect(await active(jwt, token)).toBe(false);
      }
      expect(await userinfoStatus(third.json().access_token)).toBe(401);
    });

    it('30. the revoked family includes its opaque access tokens; another family of the same user and client lives on', async () => {
      const first = await family(strict);
      const bystander = await family(strict);
      const second = (await refresh(strict, first.refresh_token)).json();
      expect(await userinfoStatus(first.access_token)).toBe(200);
      expect(await userinfoStatus(second.access_token)).toBe(200);
      expect(jsonView(await refresh(strict, first.refresh_token))).toEqual(USED);
      expect(await userinfoStatus(first.access_token)).toBe(401);
      expect(await userinfoStatus(second.access_token)).toBe(401);
      expect(await userinfoStatus(bystander.access_token)).toBe(200);
      expect(jsonView(await refresh(strict, bystander.refresh_token))).toEqual(success());
    });
  });

  describe('31', () => {
    it('31. 50 concurrent refreshes with one token and no grace window → exactly one success; the losers revoke the family', async () => {
      const { refresh_token } = await family(strict);
      const results = (await Promise.all(Array.from({ length: 50 }, () => refresh(strict, refresh_token)))).map(jsonView);
      const winners = results.filter((r) => r.status === 200);
      expect(winners).toEqual([success()]);
      // Each loser is a reuse (and revokes the family), or finds the family already revoked by another.
      for (const r of results.filter((x) => x.status !== 200)) expect([USED, REVOKED]).toContainEqual(r);
      expect(results.filter((r) => r.body.error_description === 'refresh token was already used').length).toBeGreaterThan(0);
      expect(jsonView(await refresh(strict, winners[0].body.refresh_token))).toEqual(REVOKED);
      expect(await userinfoStatus(winners[0].body.access_token)).toBe(401);
    });

    it('31. 50 concurrent refreshes with one token within a grace window → every success stays in one family, every new refresh token works, and a use after the window revokes the family', async () => {
      const first = await family(graceful);
      const results = await Promise.all(Array.from({ length: 50 }, () => refresh(graceful, first.refresh_token)));
      expect(results.map(jsonView)).toEqual(Array(50).fill(success()));
      const siblings = results.map((r) => r.json() as { access_token: string; refresh_token: string });
      expect(new Set(siblings.map((s) => s.refresh_token)).size).toBe(50);

      // Every sibling is a live refresh token of its own (used once each, concurrently).
      const next = await Promise.all(siblings.map((s) => refresh(graceful, s.refresh_token)));
      expect(next.map(jsonView)).toEqual(Array(50).fill(success()));
      const live = next.map((r) => r.json() as { access_token: string; refresh_token: string });
      expect(await userinfoStatus(live[0].access_token)).toBe(200);

      // One family: a use of the first token after the window kills every sibling and its descendants.
      clock.advance(GRACE + 1);
      expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(USED);
      for (const s of live) expect(jsonView(await refresh(graceful, s.refresh_token))).toEqual(REVOKED);
      expect(await Promise.all([...siblings, ...live].map((s) => userinfoStatus(s.access_token)))).toEqual(Array(100).fill(401));
    });

    it('31. within the window a retry gets a sibling and the first successor stays valid, through its last second; then the reuse revokes the family', async () => {
      const first = await family(graceful);
      const a = await refresh(graceful, first.refresh_token);
      expect(jsonView(a)).toEqual(success());
      clock.advance(GRACE);
      const b = await refresh(graceful, first.refresh_token);
      expect(jsonView(b)).toEqual(success());
      const a2 = await refresh(graceful, a.json().refresh_token);
      expect(jsonView(a2)).toEqual(success());
      clock.advance(1);
      expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(USED);
      expect(jsonView(await refresh(graceful, a2.json().refresh_token))).toEqual(REVOKED);
      expect(jsonView(await refresh(graceful, b.json().refresh_token))).toEqual(REVOKED);
    });

    it('31. the window is counted from the first use: a sibling\'s own rotation does not extend it, and a sibling reused after its own window revokes the family', async () => {
      const first = await family(graceful);
      expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(success());
      clock.advance(GRACE - 2);
      const b = await refresh(graceful, first.refresh_token);
      expect(jsonView(b)).toEqual(success());
      const b2 = await refresh(graceful, b.json().refresh_token);
      expect(jsonView(b2)).toEqual(success());
      clock.advance(3);
      // first was used GRACE + 1 seconds ago
      expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(USED);
      expect(jsonView(await refresh(graceful, b2.json().refresh_token))).toEqual(REVOKED);

      const another = await family(graceful);
      const c = await refresh(graceful, another.refresh_token);
      expect(jsonView(c)).toEqual(success());
      expect(jsonView(await refresh(graceful, c.json().refresh_token))).toEqual(success());
      clock.advance(GRACE + 1);
      expect(jsonView(await refresh(graceful, c.json().refresh_token))).toEqual(USED);
    });

    it('31. the window does not revive a revoked family', async () => {
      const revoke = (token: string) =>
        t.app.inject({ method: 'POST', url: REVOKE, headers: { ...FORM_HEADERS, authorization: basic(graceful.id, graceful.secret) }, payload: form({ token }) });
      const first = await family(graceful);
      const a = await refresh(graceful, first.refresh_token);
      expect(jsonView(a)).toEqual(success());
      expect((await revoke(a.json().refresh_token)).statusCode).toBe(200);
      expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(REVOKED);
      // An unused token of a revoked family: still revoked, not a grace use.
      const unused = await family(graceful);
      expect((await revoke(unused.access_token)).statusCode).toBe(200);
      expect((await revoke(unused.refresh_token)).statusCode).toBe(200);
      expect(jsonView(await refresh(graceful, unused.refresh_token))).toEqual(REVOKED);
    });

    it('31. a grace use is still bound to its client', async () => {
      const first = await family(graceful);
      expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(success());
      expect(jsonView(await refresh(strict, first.refresh_token))).toEqual(invalidGrant('refresh token was issued to another client'));
      expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(success());
    });
  });

  describe('32', () => {
    it('32. a refresh token presented by another client fails, and stays usable by its own', async () => {
      const { refresh_token } = await family(strict);
      expect(jsonView(await refresh(other, refresh_token))).toEqual(invalidGrant('refresh token was issued to another client'));
      // Another client cannot see it at introspection either.
      expect(await active(other, refresh_token)).toBe(false);
      expect(jsonView(await refresh(strict, refresh_token))).toEqual(success());
    });
  });

  describe('33', () => {
    it('33. a refresh can\'t widen scope', async () => {
      const { refresh_token } = await family(strict, 'offline_access read:avatars');
      for (const scope of ['offline_access read:avatars write:avatars', 'openid', 'write:avatars', 'read:avatars admin']) {
        const missing = scope.split(' ').find((s) => !['offline_access', 'read:avatars'].includes(s));
        expect(jsonView(await refresh(strict, refresh_token, { scope }))).toEqual({
          status: 400, body: { error: 'invalid_scope', error_description: `scope ${missing} was not granted to this refresh token` },
        });
      }
      // A refused request does not spend the token; a narrower one is fine, and the next refresh still gets the whole grant.
      const narrowed = await refresh(strict, refresh_token, { scope: 'read:avatars' });
      expect(jsonView(narrowed)).toEqual(success('read:avatars'));
      expect(jsonView(await refresh(strict, narrowed.json().refresh_token))).toEqual(success('offline_access read:avatars'));
    });
  });
});

const REDIRECT = 'https://app.example/cb';

describe.each(BACKENDS)('SECURITY-CHECKLIST D: refresh tokens on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  let spa: TestClient;
  let holder: DpopKey;
  let attacker: DpopKey;
  let nonce: string;

  const proof = (key: DpopKey) => makeProof(key, { htm: 'POST', htu: `${PUBLIC_URL}${TOKEN}`, iat: Math.floor(clock.ms / 1000), nonce });
  const refresh = async (refreshToken: string, key: DpopKey | undefined) =>
    dpopTokenRequest(t.app, spa, { grant_type: 'refresh_token', refresh_token: refreshToken }, key && (await proof(key)), TOKEN);

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    const c = await createClient(t.deps, 'default', { name: 'Public SPA', public: true, redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'] }, 86400);
    spa = { id: c.client.clientId };
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
    [holder, attacker] = await Promise.all([dpopKey(), dpopKey()]);
    nonce = await fetchNonce(t.app, spa, holder, Math.floor(clock.ms / 1000));
  });
  afterAll(() => t?.close());

  describe('34', () => {
    it('34. sender-constrained (DPoP) refresh tokens reject a different key', async () => {
      const { code, verifier } = await authorizeCode(new InjectBrowser(t.app), spa.id, REDIRECT, 'offline_access');
      const issued = await dpopTokenRequest(t.app, spa, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, await proof(holder), TOKEN);
      expect({ status: issued.statusCode, type: issued.json().token_type }).toEqual({ status: 200, type: 'DPoP' });
      const stolen = issued.json().refresh_token;

      // Another key, or no key at all, is refused, and neither spends the token.
      expect(jsonView(await refresh(stolen, attacker))).toEqual(invalidGrant('the DPoP proof was made with another key than the refresh token is bound to'));
      expect(jsonView(await refresh(stolen, undefined))).toEqual(invalidGrant('the refresh token is bound to a DPoP key: send a DPoP proof made with it'));
      const own = await refresh(stolen, holder);
      expect({ status: own.statusCode, type: own.json().token_type }).toEqual({ status: 200, type: 'DPoP' });

      // The successor is bound to the same key.
      expect(jsonView(await refresh(own.json().refresh_token, attacker))).toEqual(invalidGrant('the DPoP proof was made with another key than the refresh token is bound to'));
      expect((await refresh(own.json().refresh_token, holder)).statusCode).toBe(200);
    });
  });
});
