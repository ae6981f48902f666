/**
 * Large stores (issue 10): token issuance, introspection and sign-in cost about the same on a
 * store of many users and tokens as on an empty one, because every hot query finds its rows
 * through an index — asserted from the database's own plan (EXPLAIN), which does not depend on
 * how busy the machine is. LARGE_STORE_N (default 50,000 in CI) users and tokens are seeded with
 * scripts/seed/rows.mjs, the rows `npm run seed:large` writes (docs/performance.md).
 */
import { performance } from 'node:perf_hooks';
import { type CompiledQuery, Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/manage/clients.js';
import { createTenant, ensureDefaultTenant } from '../src/manage/tenants.js';
import { createUser } from '../src/manage/users.js';
import { openDatabase, type Db } from '../src/storage/database.js';
import { createPostgresDialect } from '../src/storage/postgres/dialect.js';
import type { Database } from '../src/storage/schema.js';
import { accessTokenStore } from '../src/storage/sql/access_tokens.js';
import { artifactStore } from '../src/storage/sql/artifacts.js';
import { clientStore } from '../src/storage/sql/clients.js';
import { consentStore } from '../src/storage/sql/consents.js';
import { grantStore } from '../src/storage/sql/grants.js';
import { mfaStore } from '../src/storage/sql/mfa.js';
import { personalTokenStore } from '../src/storage/sql/personal_tokens.js';
import { revocationStore } from '../src/storage/sql/revocations.js';
import { sessionStore } from '../src/storage/sql/sessions.js';
import { sqlThrottleStore } from '../src/storage/sql/throttle.js';
import { userStore } from '../src/storage/sql/users.js';
import { createSqliteDialect } from '../src/storage/sqlite/dialect.js';
import { storageKey } from '../src/tokens/opaque.js';
import { seedRows, seededEmail, seededUsername, setUpTenants, type SeedResult } from '../scripts/seed/rows.mjs';
import { basic, BACKENDS, form, FORM_HEADERS, startTestApp, type TestApp } from './helpers.js';
import { PASSWORD, TOKEN } from './security/support.js';

const N = Number(process.env.LARGE_STORE_N ?? 50_000);
const INTROSPECT = `${TOKEN}/introspect`;
/**
 * Tables the seeding fills. PostgreSQL rightly scans a table of a page or two (the empty
 * mfa_factors, personal_tokens) rather than its index, so only these are checked there;
 * SQLite's plan does not depend on table sizes, and every table is checked on it.
 */
const BIG_TABLES = ['users', 'grants', 'access_tokens', 'artifacts', 'sessions', 'consents'];
const ROUNDS = { token: 200, introspect: 200, signIn: 40 };

type Auth = { id: string; secret: string };
type Side = { t: TestApp; server: Auth; app: Auth; token: string; username: string };

/**
 * The same setup on a fresh app: a server client (client_credentials, opaque tokens), the
 * seeding tenants and clients, and alice. Returns what the seeding needs.
 */
async function setUp(backend: 'sqlite' | 'postgres') {
  const t = await startTestApp(backend);
  const cc = await createClient(t.deps, 'default', { name: 'Server', grantTypes: ['client_credentials'], accessTokenFormat: 'opaque' }, 86400);
  const plan = await setUpTenants(t.deps, { ensureDefaultTenant, createTenant, createClient }, { tenants: 10, users: N, tokens: N });
  const alice = await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
  return { t, plan, passwordHash: alice.passwordHash!, server: { id: cc.client.clientId, secret: cc.secret! }, app: { id: plan[0].clientId, secret: plan[0].clientSecret } };
}

const post = (t: TestApp, url: string, auth: Auth, fields: Record<string, string>) =>
  t.app.inject({ method: 'POST', url, headers: { ...FORM_HEADERS, authorization: basic(auth.id, auth.secret) }, payload: form(fields) });

/** The three requests the issue names, each failing loudly if it does not succeed. */
const requests = {
  async token(s: Side) {
    const res = await post(s.t, TOKEN, s.server, { grant_type: 'client_credentials' });
    if (res.statusCode !== 200) throw new Error(`token: ${res.statusCode} ${res.body}`);
  },
  async introspect(s: Side) {
    const res = await post(s.t, INTROSPECT, s.app, { token: s.token });
    if (res.json().active !== true) throw new Error(`introspect: ${res.body}`);
  },
  async signIn(s: Side) {
    const res = await post(s.t, TOKEN, s.app, { grant_type: 'password', username: s.username, password: PASSWORD });
    if (res.statusCode !== 200) throw new Error(`sign-in: ${res.statusCode} ${res.body}`);
  },
};

/**
 * Median latency in ms of each request on each side. The two sides take turns, request by
 * request, so a burst of load from the rest of the machine lands on both alike instead of on
 * whichever was measured second.
 */
async function measure(sides: Side[]): Promise<Record<keyof typeof requests, number>[]> {
  const medians = sides.map(() => ({}) as Record<keyof typeof requests, number>);
  for (const k of Object.keys(requests) as (keyof typeof requests)[]) {
    const times = sides.map((): number[] => []);
    for (let i = 0; i < ROUNDS[k] + 10; i++) {
      for (const [j, side] of sides.entries()) {
        const start = performance.now();
        await requests[k](side);
        // The first 10 warm up statement caches and the JIT.
        if (i >= 10) times[j].push(performance.now() - start);
      }
    }
    times.forEach((ts, j) => (medians[j][k] = ts.sort((a, b) => a - b)[Math.floor(ts.length / 2)]));
  }
  return medians;
}

describe.each(BACKENDS)('a large store on %s', (backend) => {
  let t: TestApp;
  let fresh: TestApp;
  let db: Db;
  let app: Auth;
  let seeded: SeedResult;
  let sides: Side[];

  beforeAll(async () => {
    const a = await setUp(backend);
    const b = await setUp(backend);
    [t, fresh, app] = [a.t, b.t, a.app];
    // A second connection of its own writes the rows, as `npm run seed:large` does.
    db = openDatabase(t.database.url);
    seeded = await seedRows(db.kysely, db.backend, { tenants: a.plan, passwordHash: a.passwordHash });
    // PostgreSQL plans from statistics: after a bulk load they still describe empty tables.
    // VACUUM also spares the measurement an autovacuum of the new rows running beside it.
    if (backend === 'postgres') await sql`vacuum analyze`.execute(db.kysely);
    const own = await post(fresh, TOKEN, b.app, { grant_type: 'password', username: 'alice', password: PASSWORD });
    // Empty: alice signs in and her own token is introspected. Seeded: a seeded user from the
    // middle, and a seeded token.
    sides = [
      { t: fresh, server: b.server, app: b.app, token: own.json().access_token, username: 'alice' },
      { t, server: a.server, app: a.app, token: seeded.samples[8].value, username: seededUsername('default', Math.floor(N / 2)) },
    ];
  }, Math.max(600_000, N * 3));
  afterAll(async () => {
    await db?.close();
    await t?.close();
    await fresh?.close();
  });

  it('seeds the users and tokens asked for, in the default tenant and nine others', () => {
    const share = Math.ceil(N / 10 / 9);
    const rows = N + 9 * share;
    // Every fifth user of each tenant (0, 5, 10, …) has a session and a consent.
    const fifths = Math.ceil(N / 5) + 9 * Math.ceil(share / 5);
    expect(seeded.written).toEqual({ users: rows, grants: rows, access_tokens: rows, artifacts: rows, sessions: fifths, consents: fifths });
  });

  it('signs a seeded user in by email too, and introspects a seeded token in full', async () => {
    const res = await post(t, TOKEN, app, { grant_type: 'password', username: seededEmail('default', N - 1), password: PASSWORD });
    expect({ status: res.statusCode, body: res.json() }).toEqual({
      status: 200, body: { access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600 },
    });
    const sample = seeded.samples[3];
    const view = await post(t, INTROSPECT, app, { token: sample.value });
    expect(view.json()).toEqual({
      active: true, scope: 'openid offline_access', client_id: app.id, sub: sample.userId, aud: 'https://api.seed.example/default',
      exp: expect.any(Number), iat: expect.any(Number), iss: 'http://tessera.test/realms/default', token_type: 'Bearer',
    });
  });

  it('keeps token issuance, introspection and sign-in within 20 % of the empty store', async () => {
    const [empty, large] = await measure(sides);
    console.log(`${backend}, ${N} users + ${N} tokens seeded in ${seeded.seconds.toFixed(1)} s; median ms empty ${JSON.stringify(empty)}, seeded ${JSON.stringify(large)}`);
    // The slack is for a shared 2-core CI machine, where a median of in-process requests moves
    // by a millisecond or two between the two sides for nothing (GC, other jobs). On PostgreSQL
    // token issuance waits for a commit, whose fsync queues behind every other process's disk
    // writes. Sign-in is an argon2id verification on the thread pool: ~15 ms on an idle core,
    // measured at 75–105 ms on a loaded CI machine. A missing index is not left to these
    // margins: the EXPLAIN test below fails on it whatever the timings.
    const slack = backend === 'postgres' ? { token: 6, introspect: 4, signIn: 25 } : { token: 2, introspect: 2, signIn: 25 };
    for (const k of ['token', 'introspect', 'signIn'] as const) {
      expect({ [k]: large[k] <= empty[k] * 1.2 + slack[k] }, `${k}: seeded ${large[k].toFixed(2)} ms, empty ${empty[k].toFixed(2)} ms`).toEqual({ [k]: true });
    }
  }, 600_000);

  it('runs every hot query through an index (EXPLAIN)', async () => {
    const queries = await hotQueries(t.database.url, backend, { tenantId: 'default', clientId: app.id, samples: seeded.samples, username: seededUsername('default', 7) });
    expect(queries.length).toBeGreaterThan(20);
    const fullScans: string[] = [];
    for (const { label, query } of queries) {
      const plan = await explain(query);
      if (process.env.LARGE_STORE_PLANS) console.log(`${label}\n  ${query.sql}\n    ${plan.join('\n    ')}`);
      const scans = backend === 'sqlite' ? plan.filter((l) => /^SCAN /.test(l)) : plan.filter((l) => BIG_TABLES.some((tb) => new RegExp(`Seq Scan on ${tb}\\b`).test(l)));
      if (scans.length > 0) fullScans.push(`${label}: ${query.sql}\n  ${plan.join('\n  ')}`);
    }
    expect(fullScans).toEqual([]);
  });

  /** The plan's lines: SQLite's EXPLAIN QUERY PLAN details, PostgreSQL's EXPLAIN text. */
  async function explain(query: CompiledQuery): Promise<string[]> {
    const k = db.kysely as Kysely<any>;
    const prefix = backend === 'sqlite' ? 'explain query plan ' : 'explain ';
    const { rows } = await k.executeQuery<Record<string, string>>({ ...query, sql: prefix + query.sql });
    return rows.map((r) => (backend === 'sqlite' ? r.detail : r['QUERY PLAN']).trim());
  }
});

type Sample = SeedResult['samples'][number];

/**
 * The SELECTs, UPDATEs and DELETEs the request paths run, captured from the stores themselves
 * (kysely's `log`) on a connection of their own, called as the endpoints call them (read from
 * src/endpoints, src/grants, src/http/session.ts): so a query changed in a store is the query
 * explained here. Inserts are left out: they find no rows. Some calls revoke seeded rows.
 */
async function hotQueries(url: string, backend: 'sqlite' | 'postgres', v: { tenantId: string; clientId: string; samples: Sample[]; username: string }) {
  const captured: CompiledQuery[] = [];
  const dialect = backend === 'sqlite' ? createSqliteDialect(url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '')) : createPostgresDialect(url).dialect;
  const k = new Kysely<Database>({ dialect, log: (e) => void (e.level === 'query' && captured.push(e.query)) });
  const out: { label: string; query: CompiledQuery }[] = [];
  const run = async (label: string, fn: () => Promise<unknown>) => {
    captured.length = 0;
    await fn();
    for (const query of captured) if (/^\s*(select|update|delete)/i.test(query.sql)) out.push({ label, query });
  };
  try {
    const { tenantId, clientId } = v;
    const [live, toRevoke, toRefresh] = v.samples;
    const now = Math.floor(Date.now() / 1000);
    const session = await k.selectFrom('sessions').select(['key', 'id', 'user_id']).where('tenant_id', '=', tenantId).limit(1).executeTakeFirstOrThrow();
    const refresh = await k.selectFrom('artifacts').select('digest').where('grant_id', '=', toRefresh.grantId).executeTakeFirstOrThrow();
    const [users, sessions, consents, grants, tokens, artifacts] = [userStore(k), sessionStore(k), consentStore(k), grantStore(k), accessTokenStore(k), artifactStore(k)];
    await run('token: client', () => clientStore(k).get(tenantId, clientId));
    await run('token: throttle counter', () => sqlThrottleStore(k).update(`client:${clientId}`, now, () => undefined));
    await run('introspect, validate, userinfo: token and grant', () => tokens.lookup(storageKey(live.value)));
    await run('userinfo: user', () => users.get(tenantId, live.userId));
    await run('validate: revoked JWT id', () => revocationStore(k).isJtiRevoked(tenantId, 'jti'));
    await run('login: user by username', () => users.findByUsername(tenantId, v.username));
    await run('login: user by email', () => users.findByEmail(tenantId, `${v.username}@seed.example`));
    await run('login: second factors', () => mfaStore(k).list(tenantId, live.userId));
    await run('authorize: session', () => sessions.get(session.key));
    await run('authorize: session touch', () => sessions.touch(session.key, now + 1800));
    await run('authorize: consent', () => consents.get(tenantId, session.user_id, clientId));
    await run('end_session: session by sid', () => sessions.getById(tenantId, session.id));
    await run('refresh: refresh token', () => artifacts.find('refresh_token', refresh.digest));
    await run('refresh: consume', () => artifacts.consume('refresh_token', refresh.digest, now));
    await run('refresh: grant', () => grants.get(toRefresh.grantId));
    await run('revoke: access token', () => tokens.find(storageKey(toRevoke.value)));
    await run('revoke: access token update', () => tokens.revoke(storageKey(toRevoke.value), now));
    await run('revoke: grant, its tokens and artifacts', () => grants.revoke(toRevoke.grantId, now));
    await run('account: live grants', () => grants.listLive(tenantId, live.userId, now));
    await run('account: sessions', () => sessions.listLive(tenantId, session.user_id, now));
    await run('account: personal tokens', () => personalTokenStore(k).listLive(tenantId, live.userId, now));
    await run('account: consents', () => consents.listForUser(tenantId, session.user_id));
    await run('logout: sessions of the user', () => sessions.revokeAllForUser(tenantId, session.user_id, now));
    return out;
  } finally {
    await k.destroy();
  }
}
