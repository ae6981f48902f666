/**
 * Issue 11, races: 100 concurrent redemptions of one authorization code, one refresh token (no
 * grace window), one approved device code and one PAR request_uri give exactly one success on
 * every backend — over app.inject and over real loopback sockets (app.listen + fetch) — and the
 * database shows what was issued: one grant, one child, never two. The single-use artifacts
 * are consumed by one conditional UPDATE (DESIGN.md §2). Fired as they come, most losers on
 * SQLite see the row used before they try (one process, one connection); so each race also
 * runs with every request holding its read of the unused row until all N have read it, and
 * counts the requests that reached the conditional UPDATE: the worst interleaving, every time.
 * Smaller races of each kind: security/b_codes_pkce (22), security/d_refresh_tokens (31),
 * device.test.ts, par.test.ts.
 */
import { decodeJwt } from 'jose';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/manage/clients.js';
import { openDatabase } from '../src/storage/database.js';
import type { Database } from '../src/storage/schema.js';
import type { ArtifactKind } from '../src/storage/types.js';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS, basic, form, FORM_HEADERS } from './helpers.js';
import { authUrl, CODE, drive, errorPage, InjectBrowser, pageView, redirectView, SESSION_STATE, type TestClient } from './security/support.js';
import { DEVICE_GRANT, deviceWorld, ISSUER, jsonView, oauthError, TOKEN, type DeviceWorld } from './support/device.js';
import { httpRequest, type Received, type Sent } from './support/load.js';

const N = 100;
const REG = 'https://app.example/cb';
const PAR = '/realms/default/protocol/openid-connect/ext/par/request';
const INTROSPECT = '/realms/default/protocol/openid-connect/token/introspect';
const SCOPE = 'offline_access read:avatars';
const CODE_USED = oauthError('invalid_grant', 'authorization code was already used');
const REFRESH_USED = oauthError('invalid_grant', 'refresh token was already used');
const REFRESH_REVOKED = oauthError('invalid_grant', 'refresh token was revoked');
const DEVICE_USED = oauthError('invalid_grant', 'device code was already used');
const PAR_USED = errorPage('request_uri was already used; push the authorization request again');
const tokens = (scope = SCOPE) => ({
  status: 200, cacheControl: 'no-store',
  body: { access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600, refresh_token: expect.any(String), scope, 'not-before-policy': 0 },
});

describe.each(BACKENDS)('100 concurrent redemptions on %s', (backend) => {
  let w: DeviceWorld;
  let db: Kysely<Database>;
  let base: string;
  /** Confidential, consent skipped, opaque access tokens (their rows show what a grant holds), no grace window. */
  let web: Required<TestClient>;
  /** Alice, signed in once; consent is skipped, so an authorization request answers a code at once. */
  let browser: InjectBrowser;
  /** Calls of the atomic consume per artifact kind, counted from the storage the app uses. */
  const consumed = new Map<ArtifactKind, number>();
  /** While set, the first N reads of `kind` each wait, after reading, until all N have read (at most 20 s). */
  let barrier: { kind: ArtifactKind; arrived: number; release: () => void; all: Promise<void> } | undefined;

  beforeAll(async () => {
    w = await deviceWorld(backend);
    const c = await createClient(w.t.deps, 'default', {
      name: 'Race App', redirectUris: [REG], grantTypes: ['authorization_code', 'refresh_token'], scopes: ['read:avatars'], accessTokenFormat: 'opaque', consent: 'skip',
    }, 86400);
    web = { id: c.client.clientId, secret: c.secret! };
    base = await w.t.app.listen({ port: 0, host: '127.0.0.1' });
    db = openDatabase(w.t.database.url).kysely;
    const artifacts = w.t.storage.artifacts;
    const consume = artifacts.consume.bind(artifacts);
    artifacts.consume = (kind, digest, now) => {
      consumed.set(kind, (consumed.get(kind) ?? 0) + 1);
      return consume(kind, digest, now);
    };
    const find = artifacts.find.bind(artifacts);
    artifacts.find = async (kind, digest) => {
      const found = await find(kind, digest);
      const b = barrier;
      if (b?.kind === kind && b.arrived < N) {
        if (++b.arrived === N) b.release();
        await b.all;
      }
      return found;
    };
    browser = new InjectBrowser(w.t.app);
    const { res } = await drive(browser, authUrl({ client_id: web.id, response_type: 'code', redirect_uri: REG, scope: SCOPE }));
    expect(res.statusCode).toBe(303);
  });
  afterAll(async () => {
    await db?.destroy();
    await w?.t.close();
  });

  const count = async (table: 'grants' | 'access_tokens' | 'artifacts', where: { grant?: string; client?: string; kind?: ArtifactKind }) => {
    let q = db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
    if (where.grant !== undefined) q = q.where('grant_id' as never, '=', where.grant as never);
    if (where.client !== undefined) q = q.where('client_id' as never, '=', where.client as never);
    if (where.kind !== undefined) q = q.where('kind' as never, '=', where.kind as never);
    return Number((await q.executeTakeFirstOrThrow()).n);
  };
  const grantOf = async (kind: ArtifactKind, value: string) =>
    (await db.selectFrom('artifacts').select('grant_id').where('digest', '=', storageKey(value)).where('kind', '=', kind).executeTakeFirstOrThrow()).grant_id!;
  const revokedAt = async (grantId: string) => (await db.selectFrom('grants').select('revoked_at').where('id', '=', grantId).executeTakeFirstOrThrow()).revoked_at;
  const tokenPost = (client: TestClient & { secret?: string }, fields: Record<string, string>, url = TOKEN): Sent => ({
    method: 'POST', url, headers: { ...FORM_HEADERS, ...(client.secret !== undefined ? { authorization: basic(client.id, client.secret) } : {}) }, payload: form(fields),
  });

  describe.each([
    ['inject', 'as they come'],
    ['loopback', 'as they come'],
    ['inject', 'all read first'],
    ['loopback', 'all read first'],
  ] as const)('over %s, %s', (transport, order) => {
    const send = (req: Sent): Promise<Received> =>
      transport === 'inject' ? (w.t.app.inject({ method: req.method ?? 'GET', url: req.url, headers: req.headers, payload: req.payload }) as Promise<never>) : httpRequest(base, req);
    /** Fires `req` N times at once; answers the responses and how many reached the atomic consume of `kind`. */
    async function race(kind: ArtifactKind, req: Sent) {
      consumed.set(kind, 0);
      if (order === 'all read first') {
        let release!: () => void;
        const all = new Promise<void>((r) => (release = r));
        const timer = setTimeout(release, 20_000);
        barrier = { kind, arrived: 0, release, all: all.then(() => clearTimeout(timer)) };
      }
      try {
        const results = await Promise.all(Array.from({ length: N }, () => send(req)));
        return { results, contenders: consumed.get(kind)! };
      } finally {
        barrier?.release();
        barrier = undefined;
      }
    }
    /** With every read held until all have read, all N meet at the conditional UPDATE; `atLeast` where a loser may stop before it. */
    const expectContenders = (contenders: number, atLeast = N) => {
      if (order === 'all read first') expect(contenders).toBeGreaterThanOrEqual(atLeast);
    };
    const view = (r: Received) => jsonView(r as never);
    const introspect = async (client: Required<TestClient>, token: string) => (await send(tokenPost(client, { token }, INTROSPECT))).json().active as boolean;
    const codeFor = async () => {
      const res = await browser.get(authUrl({ client_id: web.id, response_type: 'code', redirect_uri: REG, scope: SCOPE }));
      expect(res.statusCode).toBe(302);
      return redirectView(res).query.code;
    };

    it('one authorization code: exactly one success; every loser is a reuse and revokes the grant, so even the winner\'s tokens are dead (RFC 6749 §4.1.2)', async () => {
      const code = await codeFor();
      const grantId = await grantOf('authorization_code', code);
      const grantsBefore = await count('grants', { client: web.id });
      const { results, contenders } = await race('authorization_code', tokenPost(web, { grant_type: 'authorization_code', code, redirect_uri: REG }));
      const views = results.map(view);
      const won = views.filter((v) => v.status === 200);
      expect(won).toEqual([tokens()]);
      expect(views.filter((v) => v.status !== 200)).toEqual(Array(N - 1).fill(CODE_USED));
      expectContenders(contenders);

      // The code's grant and no other, one access token and one refresh token issued under it — and the grant revoked.
      expect(await count('grants', { client: web.id })).toBe(grantsBefore);
      expect(await count('access_tokens', { grant: grantId })).toBe(1);
      expect(await count('artifacts', { grant: grantId, kind: 'refresh_token' })).toBe(1);
      expect(await revokedAt(grantId)).not.toBeNull();
      expect(await introspect(web, won[0].body.access_token)).toBe(false);
      expect(view(await send(tokenPost(web, { grant_type: 'refresh_token', refresh_token: won[0].body.refresh_token })))).toEqual(REFRESH_REVOKED);
    });

    it('one refresh token without a grace window: exactly one success and one child; the losers are reuse and revoke the family (RFC 9700 §4.14.2)', async () => {
      const first = view(await send(tokenPost(web, { grant_type: 'authorization_code', code: await codeFor(), redirect_uri: REG })));
      expect(first).toEqual(tokens());
      const grantId = await grantOf('refresh_token', decodeJwt(first.body.refresh_token).jti!);
      const { results, contenders } = await race('refresh_token', tokenPost(web, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token }));
      const views = results.map(view);
      const won = views.filter((v) => v.status === 200);
      expect(won).toEqual([tokens()]);
      // A loser that read the token before the winner consumed it is a reuse; one that read the
      // grant after a reuse revoked it is told so. Both are refusals; at least one is a reuse.
      const lost = views.filter((v) => v.status !== 200);
      expect(lost).toEqual(lost.map((v) => (v.body.error_description === REFRESH_REVOKED.body.error_description ? REFRESH_REVOKED : REFRESH_USED)));
      expect(lost).toContainEqual(REFRESH_USED);
      // A loser may find the grant already revoked by another loser's reuse and stop before the UPDATE.
      expectContenders(contenders, 2);

      // The family: the first refresh token and exactly one child; two access tokens (the code's, the winner's).
      expect(await count('artifacts', { grant: grantId, kind: 'refresh_token' })).toBe(2);
      expect(await count('access_tokens', { grant: grantId })).toBe(2);
      expect(await revokedAt(grantId)).not.toBeNull();
      expect(view(await send(tokenPost(web, { grant_type: 'refresh_token', refresh_token: won[0].body.refresh_token })))).toEqual(REFRESH_REVOKED);
      expect(await introspect(web, won[0].body.access_token)).toBe(false);
    });

    it('one approved device code: exactly one success and one new grant, which stays live (a used device code names no grant to revoke)', async () => {
      const { device_code, user_code } = await w.codes(w.clients.tv, SCOPE);
      await w.approve(user_code);
      w.clock.advance(5);
      const grantsBefore = await count('grants', { client: w.clients.tv.id });
      const { results, contenders } = await race('device_code', tokenPost(w.clients.tv, { grant_type: DEVICE_GRANT, device_code }));
      const views = results.map(view);
      const won = views.filter((v) => v.status === 200);
      expect(won).toEqual([tokens()]);
      expect(views.filter((v) => v.status !== 200)).toEqual(Array(N - 1).fill(DEVICE_USED));
      expectContenders(contenders);

      expect(await count('grants', { client: w.clients.tv.id })).toBe(grantsBefore + 1);
      const grantId = await grantOf('refresh_token', decodeJwt(won[0].body.refresh_token).jti!);
      expect(await count('artifacts', { grant: grantId, kind: 'refresh_token' })).toBe(1);
      expect(await revokedAt(grantId)).toBeNull();
      expect(await introspect(w.clients.tv as Required<TestClient>, won[0].body.access_token)).toBe(true);
      expect(view(await send(tokenPost(w.clients.tv, { grant_type: 'refresh_token', refresh_token: won[0].body.refresh_token })))).toEqual(tokens());
    });

    it('one PAR request_uri: exactly one authorization response with one code under one new grant; the others get the page (RFC 9126 §4)', async () => {
      const pushed = await send(tokenPost(web, { client_id: web.id, response_type: 'code', redirect_uri: REG, scope: SCOPE, state: 'race' }, PAR));
      expect(pushed.statusCode).toBe(201);
      const requestUri = pushed.json().request_uri as string;
      const [grantsBefore, codesBefore] = [await count('grants', { client: web.id }), await count('artifacts', { client: web.id, kind: 'authorization_code' })];
      const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
      const { results, contenders } = await race('par_request', { url: authUrl({ client_id: web.id, request_uri: requestUri }), headers: { cookie } });
      const won = results.filter((r) => r.statusCode === 302);
      expect(won.map((r) => redirectView(r as never))).toEqual([
        { status: 302, target: REG, query: { code: CODE, state: 'race', iss: ISSUER, session_state: SESSION_STATE }, fragment: {} },
      ]);
      expect(results.filter((r) => r.statusCode !== 302).map((r) => pageView(r as never))).toEqual(Array(N - 1).fill(PAR_USED));
      expectContenders(contenders);

      // Only the winner wrote a grant and a code: a refused use once went on to write its own,
      // which nobody received (the refusal's reply, a thenable, was awaited to undefined).
      expect(await count('grants', { client: web.id })).toBe(grantsBefore + 1);
      expect(await count('artifacts', { client: web.id, kind: 'authorization_code' })).toBe(codesBefore + 1);
      const code = redirectView(won[0] as never).query.code;
      expect(view(await send(tokenPost(web, { grant_type: 'authorization_code', code, redirect_uri: REG })))).toEqual(tokens());
    });
  });
});
