/**
 * Refresh rotation under concurrency, with and without a client's grace window
 * (SECURITY-CHECKLIST 31; ORY Hydra's graceful rotation) — on every backend, with a
 * hand-moved clock. Tokens come from the password grant, the shortest way to a fresh family.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../src/manage/apis.js';
import { clientView, createClient, updateClient } from '../src/manage/clients.js';
import { createUser } from '../src/manage/users.js';
import { InputError } from '../src/errors.js';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS, FakeClock, startTestApp, type TestApp } from './helpers.js';
import { invalidGrant, jsonView, PASSWORD, tokenRequest, USERINFO, type TestClient } from './security/support.js';

const AVATARS = 'https://api.loomai.com/';
const GRACE = 10;
const SCOPE = 'openid offline_access read:avatars';

describe.each(BACKENDS)('refresh grace window on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  /** No grace window (the default); opaque access tokens, so a revoked family shows at userinfo. */
  let strict: TestClient;
  /** A 10-second grace window. */
  let graceful: TestClient;

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    await createApi(t.deps, 'default', { audience: AVATARS, scopes: ['read:avatars'] }, 86400);
    const mk = async (input: Parameters<typeof createClient>[2]) => {
      const c = await createClient(t.deps, 'default', { grantTypes: ['password', 'refresh_token'], scopes: ['read:avatars'], accessTokenFormat: 'opaque', ...input }, 86400);
      return { id: c.client.clientId, secret: c.secret };
    };
    strict = await mk({ name: 'Strict App' });
    graceful = await mk({ name: 'Tabs App', refreshGraceSeconds: GRACE });
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
  });
  afterAll(() => t?.close());

  async function family(client: TestClient) {
    const res = await tokenRequest(t.app, client, { grant_type: 'password', username: 'alice', password: PASSWORD, scope: SCOPE });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { access_token: string; refresh_token: string };
  }
  const refresh = (client: TestClient, refreshToken: string) => tokenRequest(t.app, client, { grant_type: 'refresh_token', refresh_token: refreshToken });
  const success = { status: 200, body: { access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, refresh_token: expect.any(String), scope: SCOPE, id_token: expect.any(String) } };
  const grantOf = async (refreshToken: string) => (await t.storage.artifacts.find('refresh_token', storageKey(decodeJwt(refreshToken).jti!)))!.grantId!;
  const userinfoStatus = async (accessToken: string) => (await t.app.inject({ url: USERINFO, headers: { authorization: `Bearer ${accessToken}` } })).statusCode;
  const now = () => Math.floor(clock.now() / 1000);

  it('is off by default, set per client from 0 to 60 seconds, and shown as refresh_token_grace_seconds', async () => {
    const plain = await createClient(t.deps, 'default', { name: 'Plain' }, 86400);
    expect(plain.client.refreshGraceSeconds).toBe(0);
    expect(clientView(plain.client)).toMatchObject({ refresh_token_grace_seconds: 0 });
    const updated = await updateClient(t.deps, 'default', plain.client.clientId, { refreshGraceSeconds: 60 }, 86400);
    expect(clientView(updated)).toMatchObject({ refresh_token_grace_seconds: 60 });
    expect((await t.storage.clients.get('default', plain.client.clientId))?.refreshGraceSeconds).toBe(60);
    for (const bad of [61, -1, 1.5]) {
      await expect(updateClient(t.deps, 'default', plain.client.clientId, { refreshGraceSeconds: bad }, 86400)).rejects.toEqual(
        new InputError('refresh grace seconds must be a whole number from 0 to 60'),
      );
    }
  });

  it('31. 50 concurrent refreshes with one token and no grace window → exactly one success; the losers revoke the family', async () => {
    const { refresh_token } = await family(strict);
    const results = (await Promise.all(Array.from({ length: 50 }, () => refresh(strict, refresh_token)))).map(jsonView);
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toEqual([success]);
    // Each loser is a reuse (and revokes the family), or finds the family already revoked by another.
    for (const r of results.filter((x) => x.status !== 200)) {
      expect([invalidGrant('refresh token was already used'), invalidGrant('refresh token was revoked')]).toContainEqual(r);
    }
    expect(results.filter((r) => r.body.error_description === 'refresh token was already used').length).toBeGreaterThan(0);
    expect(jsonView(await refresh(strict, winners[0].body.refresh_token))).toEqual(invalidGrant('refresh token was revoked'));
    expect(await userinfoStatus(winners[0].body.access_token)).toBe(401);
  });

  it('31. 50 concurrent refreshes with one token within a grace window → every success stays in one family, every new refresh token works, and a use after the window revokes the family', async () => {
    const first = await family(graceful);
    const grantId = await grantOf(first.refresh_token);
    const results = await Promise.all(Array.from({ length: 50 }, () => refresh(graceful, first.refresh_token)));
    expect(results.map(jsonView)).toEqual(Array(50).fill(success));
    const siblings = results.map((r) => r.json() as { access_token: string; refresh_token: string });
    expect(new Set(siblings.map((s) => s.refresh_token)).size).toBe(50);
    expect(new Set(await Promise.all(siblings.map((s) => grantOf(s.refresh_token))))).toEqual(new Set([grantId]));
    expect(decodeJwt(siblings[0].refresh_token)).toMatchObject({ exp: decodeJwt(first.refresh_token).exp, scope: SCOPE });

    // Every sibling is a live refresh token of its own (used once each, concurrently).
    const next = await Promise.all(siblings.map((s) => refresh(graceful, s.refresh_token)));
    expect(next.map(jsonView)).toEqual(Array(50).fill(success));
    const live = next.map((r) => r.json() as { access_token: string; refresh_token: string });
    expect(await userinfoStatus(live[0].access_token)).toBe(200);

    clock.advance(GRACE + 1);
    expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(invalidGrant('refresh token was already used'));
    expect((await t.storage.grants.get(grantId))?.revokedAt).toBe(now());
    for (const s of live) expect(jsonView(await refresh(graceful, s.refresh_token))).toEqual(invalidGrant('refresh token was revoked'));
    expect(await Promise.all([...siblings, ...live].map((s) => userinfoStatus(s.access_token)))).toEqual(Array(100).fill(401));
  });

  it('31. within the window a retry gets a sibling and the first successor stays valid; through its last second, then the reuse revokes the family', async () => {
    const first = await family(graceful);
    const a = await refresh(graceful, first.refresh_token);
    expect(jsonView(a)).toEqual(success);
    clock.advance(GRACE);
    const b = await refresh(graceful, first.refresh_token);
    expect(jsonView(b)).toEqual(success);
    expect(await grantOf(b.json().refresh_token)).toBe(await grantOf(a.json().refresh_token));
    const a2 = await refresh(graceful, a.json().refresh_token);
    expect(jsonView(a2)).toEqual(success);
    clock.advance(1);
    expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(invalidGrant('refresh token was already used'));
    expect(jsonView(await refresh(graceful, a2.json().refresh_token))).toEqual(invalidGrant('refresh token was revoked'));
    expect(jsonView(await refresh(graceful, b.json().refresh_token))).toEqual(invalidGrant('refresh token was revoked'));
  });

  it('31. the window is counted from the first use: a sibling\'s own rotation does not extend it, and a sibling reused after its own window revokes the family', async () => {
    const first = await family(graceful);
    expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(success);
    clock.advance(GRACE - 2);
    const b = await refresh(graceful, first.refresh_token);
    expect(jsonView(b)).toEqual(success);
    const b2 = await refresh(graceful, b.json().refresh_token);
    expect(jsonView(b2)).toEqual(success);
    clock.advance(3);
    // first was used GRACE + 1 seconds ago
    expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(invalidGrant('refresh token was already used'));
    expect(jsonView(await refresh(graceful, b2.json().refresh_token))).toEqual(invalidGrant('refresh token was revoked'));

    const other = await family(graceful);
    const c = await refresh(graceful, other.refresh_token);
    expect(jsonView(c)).toEqual(success);
    expect(jsonView(await refresh(graceful, c.json().refresh_token))).toEqual(success);
    clock.advance(GRACE + 1);
    expect(jsonView(await refresh(graceful, c.json().refresh_token))).toEqual(invalidGrant('refresh token was already used'));
  });

  it('31. the window does not revive a revoked family', async () => {
    const first = await family(graceful);
    expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(success);
    await t.storage.grants.revoke(await grantOf(first.refresh_token), now());
    expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(invalidGrant('refresh token was revoked'));
    // An unused token of a revoked family is marked used by the revocation, at that moment: still revoked, not a grace use.
    const unused = await family(graceful);
    await t.storage.grants.revoke(await grantOf(unused.refresh_token), now());
    expect(jsonView(await refresh(graceful, unused.refresh_token))).toEqual(invalidGrant('refresh token was revoked'));
  });

  it('31. a grace use is still bound to its client', async () => {
    const first = await family(graceful);
    expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(success);
    expect(jsonView(await refresh(strict, first.refresh_token))).toEqual(invalidGrant('refresh token was issued to another client'));
    expect(jsonView(await refresh(graceful, first.refresh_token))).toEqual(success);
  });
});
