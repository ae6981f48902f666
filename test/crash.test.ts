/**
 * Issue 11, crash safety: a real `tessera start` under sustained load (client credentials,
 * authorization-code flows with a session, refresh rotations) is killed with SIGKILL mid-run
 * and started again on the same database. Every token whose 200 response was received whole
 * must still work; the database as the crash left it must be consistent (no row pointing at a
 * missing grant, no grant without its code, no refresh token rotated into two children,
 * nothing issued twice, nothing revoked) and, on SQLite, pass `PRAGMA integrity_check`.
 * The refresh chains belong to a client with a grace window: the refresh in flight at the kill
 * may have been committed with its response lost, and retrying within the window is how a
 * client recovers from that (without one it is reuse, RFC 9700 §4.14.2 — see races.test.ts).
 */
import Database from 'libsql';
import { decodeJwt } from 'jose';
import { sql, type RawBuilder } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { isUniqueViolation, openDatabase } from '../src/storage/database.js';
import type { Artifact, Grant } from '../src/storage/types.js';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS, basic, createTestDatabase, form, FORM_HEADERS, startTestApp, type TestDatabase } from './helpers.js';
import { formOf, pathOf } from './support/inject_browser.js';
import { httpRequest, mapLimit, runWorkers, type Sent } from './support/load.js';
import { runTessera, sleep, startServer, type TesseraServer } from './support/server.js';

/** Loopback, so plain http is allowed; the port is the listen port's business, not the issuer's. */
const PUBLIC = 'http://localhost';
const AUTH = '/realms/default/protocol/openid-connect/auth';
const TOKEN = '/realms/default/protocol/openid-connect/token';
const INTROSPECT = `${TOKEN}/introspect`;
const REG = 'https://app.example/cb';
const PASSWORD = 'correct horse battery';
/** How long the load runs before the kill; workers of each kind. */
const LOAD_MS = 3000;
const WORKERS = { cc: 3, code: 3, chain: 2 };

interface Client {
  client_id: string;
  client_secret: string;
}
type Kind = keyof typeof WORKERS;

describe.each(BACKENDS)('crash safety: SIGKILL under load on %s', (backend) => {
  let database: TestDatabase | undefined;
  const servers: TesseraServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
    await database?.drop();
  });

  it('keeps every token whose response was received, leaves no half-written grant, issues nothing twice, and keeps the SQLite file intact', async () => {
    database = await createTestDatabase(backend);
    // One public URL for both runs: refresh tokens name their issuer, and the port changes.
    const start = async () => {
      const s = await startServer({ database, publicUrl: () => PUBLIC });
      servers.push(s);
      return { server: s, base: `http://127.0.0.1:${s.port}` };
    };
    let { server, base } = await start();
    const cli = (...args: string[]) => server.cli(...args);
    const webClient = ['--redirect-uri', REG, '--grant-types', 'authorization_code,refresh_token', '--access-token-format', 'opaque', '--consent', 'skip'];
    const [svc, app, chainClient, user] = await Promise.all([
      cli('client', 'create', '--tenant', 'default', '--name', 'svc', '--grant-types', 'client_credentials', '--access-token-format', 'opaque') as Promise<Client>,
      cli('client', 'create', '--tenant', 'default', '--name', 'app', ...webClient) as Promise<Client>,
      cli('client', 'create', '--tenant', 'default', '--name', 'chain', ...webClient, '--refresh-grace-seconds', '60') as Promise<Client>,
      runTessera(server.cliEnv, ['user', 'create', '--tenant', 'default', '--username', 'alice', '--password-stdin'], `${PASSWORD}\n`),
    ]);
    expect(user.code, user.stderr).toBe(0);

    const send = (req: Sent) => httpRequest(base, req);
    const token = (c: Client, fields: Record<string, string>, url = TOKEN) =>
      send({ method: 'POST', url, headers: { ...FORM_HEADERS, authorization: basic(c.client_id, c.client_secret) }, payload: form(fields) });
    const authUrl = (c: Client) => `${AUTH}?${new URLSearchParams({ client_id: c.client_id, response_type: 'code', redirect_uri: REG, scope: 'offline_access' })}`;
    const codeIn = (location: string | undefined) => new URL(location ?? 'about:blank').searchParams.get('code');

    // Alice signs in once; her session cookie then gets a code from every authorization request.
    const page = await send({ url: authUrl(app) });
    const login = formOf(page.body);
    const signedIn = await send({
      method: 'POST', url: pathOf(login.action), headers: { ...FORM_HEADERS, cookie: page.cookies.join('; ') }, payload: form({ ...login.fields, username: 'alice', password: PASSWORD }),
    });
    expect({ status: signedIn.statusCode, code: codeIn(signedIn.headers.location) !== null }).toEqual({ status: 303, code: true });
    const cookie = new Map([...page.cookies, ...signedIn.cookies].map((c) => [c.slice(0, c.indexOf('=')), c] as const));
    const session = [...cookie.values()].join('; ');

    /** What the load received whole: tokens by the client they belong to, and anything but 200. */
    const issued: { kind: Kind; client: Client; access: string; refresh?: string }[] = [];
    const unexpected: string[] = [];
    const received = (kind: Kind, client: Client, res: Awaited<ReturnType<typeof send>>) => {
      if (res.statusCode !== 200) {
        unexpected.push(`${kind}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        throw new Error('unexpected answer');
      }
      const body = res.json() as { access_token: string; refresh_token?: string };
      issued.push({ kind, client, access: body.access_token, ...(body.refresh_token !== undefined && { refresh: body.refresh_token }) });
      return body;
    };
    async function codeFlow(kind: Kind, client: Client) {
      const res = await send({ url: authUrl(client), headers: { cookie: session } });
      const code = codeIn(res.headers.location);
      if (res.statusCode !== 302 || code === null) {
        unexpected.push(`${kind} authorize: ${res.statusCode} ${res.headers.location}`);
        throw new Error('unexpected answer');
      }
      return received(kind, client, await token(client, { grant_type: 'authorization_code', code, redirect_uri: REG }));
    }
    /** Each chain's latest refresh token received, and how many rotations of it were received. */
    const chains = await Promise.all(Array.from({ length: WORKERS.chain }, async () => ({ latest: (await codeFlow('chain', chainClient)).refresh_token!, rotations: 0 })));

    const stop = new AbortController();
    const load = runWorkers(WORKERS.cc + WORKERS.code + WORKERS.chain, stop.signal, async (worker) => {
      if (worker < WORKERS.cc) {
        received('cc', svc, await token(svc, { grant_type: 'client_credentials' }));
      } else if (worker < WORKERS.cc + WORKERS.code) {
        await codeFlow('code', app);
      } else {
        const chain = chains[worker - WORKERS.cc - WORKERS.code];
        chain.latest = received('chain', chainClient, await token(chainClient, { grant_type: 'refresh_token', refresh_token: chain.latest })).refresh_token!;
        chain.rotations++;
      }
    });
    await sleep(LOAD_MS);
    expect(await server.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    stop.abort();
    const run = await load;
    // Every worker ended on the dead socket, none on a refusal; and the load was load.
    expect({ unexpected, stopped: run.errors.length > 0 }).toEqual({ unexpected: [], stopped: true });
    const codeFlows = issued.filter((i) => i.kind === 'code').length;
    expect(Math.min(issued.filter((i) => i.kind === 'cc').length, codeFlows, ...chains.map((c) => c.rotations))).toBeGreaterThan(0);

    // Nothing issued twice: every value received, and every refresh token's jti, is distinct.
    const values = issued.flatMap((i) => [i.access, ...(i.refresh ? [i.refresh] : [])]);
    const jtis = issued.flatMap((i) => (i.refresh ? [decodeJwt(i.refresh).jti] : []));
    expect({ values: new Set(values).size, jtis: new Set(jtis).size }).toEqual({ values: values.length, jtis: jtis.length });

    // The database as the crash left it.
    if (backend === 'sqlite') expect(integrityCheck(database.url)).toEqual(INTACT);
    const { kysely: db, close } = openDatabase(database.url);
    try {
      const rows = async <T,>(query: RawBuilder<T>) => (await query.execute(db)).rows;
      // No row points at a grant that is not there (the foreign keys say so too; this asks the data).
      expect(await rows(sql`select t.digest from access_tokens t left join grants g on g.id = t.grant_id where g.id is null`)).toEqual([]);
      expect(await rows(sql`select a.digest from artifacts a left join grants g on g.id = a.grant_id where a.grant_id is not null and g.id is null`)).toEqual([]);
      // Per user grant: its one code; no more tokens than consumed codes and refresh tokens (one
      // issuance per consumption); at most one unused refresh token (one chain head); nothing revoked.
      const grants = await rows<{ id: string; codes: number; consumed: number; refreshes: number; heads: number; accesses: number; revoked: number | null }>(sql`
        select g.id, g.revoked_at as revoked,
          (select count(*) from artifacts a where a.grant_id = g.id and a.kind = 'authorization_code') as codes,
          (select count(*) from artifacts a where a.grant_id = g.id and a.kind in ('authorization_code', 'refresh_token') and a.used_at is not null) as consumed,
          (select count(*) from artifacts a where a.grant_id = g.id and a.kind = 'refresh_token') as refreshes,
          (select count(*) from artifacts a where a.grant_id = g.id and a.kind = 'refresh_token' and a.used_at is null) as heads,
          (select count(*) from access_tokens t where t.grant_id = g.id) as accesses
        from grants g where g.subject is not null`);
      const broken = grants
        .map((g) => ({ id: g.id, codes: Number(g.codes), consumed: Number(g.consumed), refreshes: Number(g.refreshes), heads: Number(g.heads), accesses: Number(g.accesses), revoked: g.revoked }))
        .filter((g) => g.codes !== 1 || g.refreshes > g.consumed || g.accesses > g.consumed || g.heads > 1 || g.revoked !== null);
      expect(broken).toEqual([]);
      // A grant for each code flow received, each chain, and the sign-in.
      expect(grants.length).toBeGreaterThanOrEqual(codeFlows + WORKERS.chain + 1);
      // Every token received is stored: what a 200 carried was durable before it was sent.
      const accessKeys = new Set((await db.selectFrom('access_tokens').select('digest').execute()).map((r) => r.digest));
      const refreshKeys = new Set((await db.selectFrom('artifacts').select('digest').where('kind', '=', 'refresh_token').execute()).map((r) => r.digest));
      expect(issued.filter((i) => !accessKeys.has(storageKey(i.access))).map((i) => i.access)).toEqual([]);
      expect(issued.filter((i) => i.refresh !== undefined && !refreshKeys.has(storageKey(decodeJwt(i.refresh).jti!))).map((i) => i.refresh)).toEqual([]);
    } finally {
      await close();
    }

    // Started again on the same database: everything received works.
    ({ server, base } = await start());
    const active = async (client: Client, value: string) => (await token(client, { token: value }, INTROSPECT)).json().active as boolean;
    const dead = await mapLimit(issued, 16, async (i) => ((await active(i.client, i.access)) ? [] : [i.access]));
    expect(dead.flat()).toEqual([]);
    // The code flows' refresh tokens (never used) are active, and one of them rotates.
    const codeRefreshes = issued.filter((i) => i.kind === 'code').map((i) => i.refresh!);
    expect((await mapLimit(codeRefreshes, 16, (r) => active(app, r))).filter((a) => !a).length).toBe(0);
    expect((await token(app, { grant_type: 'refresh_token', refresh_token: codeRefreshes[0] })).statusCode).toBe(200);
    // Each chain goes on from the latest refresh token it received, twice over.
    for (const chain of chains) {
      const next = await token(chainClient, { grant_type: 'refresh_token', refresh_token: chain.latest });
      expect(next.statusCode, next.body).toBe(200);
      const after = await token(chainClient, { grant_type: 'refresh_token', refresh_token: next.json().refresh_token });
      expect(after.statusCode, after.body).toBe(200);
    }
    // Alice's session survived, and new work is served.
    expect(codeIn((await send({ url: authUrl(app), headers: { cookie: session } })).headers.location)).not.toBeNull();
    expect((await token(svc, { grant_type: 'client_credentials' })).statusCode).toBe(200);

    expect(await server.stop()).toBe(0);
    if (backend === 'sqlite') expect(integrityCheck(database.url)).toEqual(INTACT);
  }, 120_000);
});

// What makes "no grant without its code" hold at any instant of a crash, shown without one.
describe.each(BACKENDS)('a new grant and its authorization code on %s', (backend) => {
  it('are written in one transaction: when the code cannot be stored, neither is the grant', async () => {
    const t = await startTestApp(backend);
    try {
      const grant = (id: string): Grant => ({ id, tenantId: 'default', clientId: 'app', subject: 'alice', scope: 'offline_access', createdAt: 0, expiresAt: 3600, revokedAt: null });
      const code = (grantId: string): Artifact => ({
        digest: 'one-digest', tenantId: 'default', kind: 'authorization_code', grantId, clientId: 'app', data: {}, createdAt: 0, expiresAt: 60, usedAt: null,
      });
      await t.storage.grants.ensure(grant('g1'), [code('g1')]);
      // A second code under the same digest fails on the primary key, taking its grant with it.
      await expect(t.storage.grants.ensure(grant('g2'), [code('g2')])).rejects.toSatisfy(isUniqueViolation);
      expect({ g1: await t.storage.grants.get('g1'), g2: await t.storage.grants.get('g2'), code: (await t.storage.artifacts.find('authorization_code', 'one-digest'))?.grantId })
        .toEqual({ g1: grant('g1'), g2: undefined, code: 'g1' });
    } finally {
      await t.close();
    }
  });
});

const INTACT = { integrity: [{ integrity_check: 'ok' }], foreignKeys: [] };

/** `PRAGMA integrity_check` and `foreign_key_check` of a SQLite database, opened read-only. */
function integrityCheck(url: string) {
  const db = new Database(url.slice('sqlite:'.length), { readonly: true });
  try {
    return { integrity: db.prepare('pragma integrity_check').all(), foreignKeys: db.prepare('pragma foreign_key_check').all() };
  } finally {
    db.close();
  }
}
