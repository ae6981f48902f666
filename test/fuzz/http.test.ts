/**
 * Issue 9, fuzzing: malformed, oversized, wrongly-encoded and duplicated parameters, wrong
 * content types and methods, odd headers and path junk, thrown at every route of the route
 * tables (src/http/routes.ts, src/admin/routes.ts) through app.inject. Properties: never a 5xx;
 * JSON error bodies carry an `error` code of src/errors.ts; a refused request (4xx) changes no
 * stored state. The same generator drives `npm run fuzz` against a live server (scripts/fuzz.mjs).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as fc from 'fast-check';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_ROUTES } from '../../src/admin/routes.js';
import { ROUTES } from '../../src/http/routes.js';
import { createClient } from '../../src/manage/clients.js';
import { DCR_DEFAULTS } from '../../src/manage/dcr_policy.js';
import { updateTenant } from '../../src/manage/tenants.js';
import { createUser } from '../../src/manage/users.js';
import { openDatabase } from '../../src/storage/database.js';
import { errorCodesFrom, fuzzTargets, interactionFixtures, interactionUrl, problemWith, requestArb, type Fixtures, type FuzzRequest, type Target } from '../../scripts/fuzz/requests.mjs';
import { BACKENDS, basic, form, FORM_HEADERS, type TestApp } from '../helpers.js';
import { makeOperator, startAdminApp, tokenFor } from '../support/admin.js';

const ERROR_CODES = errorCodesFrom(readFileSync(new URL('../../src/errors.ts', import.meta.url), 'utf8'));
/** Per property; keeps this file under a minute on one core for both backends. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 250);
/**
 * Rows a refused request may add: the audit trail records refusals (failed client
 * authentication, sign-in failures), and throttles count them. That is their record, not a change.
 */
const RECORDS = /audit|throttle|rate_limit|attempt/;

/** A digest of every stored row except the records, table by table. */
async function stateDigest(db: Kysely<any>, backend: 'sqlite' | 'postgres'): Promise<Record<string, string>> {
  const tables = backend === 'sqlite'
    ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(db)).rows.map((r) => r.name)
    : (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(db)).rows.map((r) => r.name);
  const out: Record<string, string> = {};
  for (const table of tables.filter((n) => !RECORDS.test(n)).sort()) {
    const rows = (await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db)).rows.map((r) => JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
    out[table] = `${rows.length}:${createHash('sha256').update(rows.sort().join('\n')).digest('hex').slice(0, 16)}`;
  }
  return out;
}

describe.each(BACKENDS)('fuzzing every endpoint on %s', (backend) => {
  let t: TestApp;
  let db: Kysely<any>;
  let closeDb: () => Promise<void>;
  let fx: Fixtures;
  let targets: Target[];

  beforeAll(async () => {
    t = await startAdminApp(backend);
    const redirectUri = 'https://app.example/cb';
    const { client, secret } = await createClient(t.deps, 'default', {
      name: 'Fuzz', redirectUris: [redirectUri], scopes: ['read'],
      grantTypes: ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    }, 3600);
    const { client: pub } = await createClient(t.deps, 'default', { name: 'Fuzz SPA', public: true, redirectUris: ['http://127.0.0.1/cb'] }, 3600);
    const user = await createUser(t.deps, 'default', { username: 'fuzz', password: 'fuzz-password-1' });
    // Open registration, so the RFC 7591 endpoint gets past its first check.
    await updateTenant(t.deps, 'default', { dcr: { enabled: true, open: true, grantTypes: DCR_DEFAULTS.grantTypes, scopes: [], allow: [] } });
    const operator = await makeOperator(t, 'fuzz-root');
    t.services.cache.clear();
    fx = { tenant: 'default', clientId: client.clientId, clientSecret: secret!, publicClientId: pub.clientId, redirectUri, username: 'fuzz', userId: user.id, operatorToken: await tokenFor(t, operator) };
    // Live tokens of the user, so userinfo, introspection, revocation and logout get past their lookups.
    const issued = await t.app.inject({
      method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(fx.clientId, fx.clientSecret) },
      payload: form({ grant_type: 'password', username: 'fuzz', password: 'fuzz-password-1', scope: 'openid read' }),
    });
    expect(issued.statusCode).toBe(200);
    fx = { ...fx, accessToken: issued.json().access_token, idToken: issued.json().id_token };
    // A live sign-in, so the login actions see a real interaction, CSRF token and browser cookie.
    const page = await t.app.inject({ method: 'GET', url: interactionUrl(fx) });
    expect(page.statusCode).toBe(200);
    fx = { ...fx, ...interactionFixtures(page.body, page.headers['set-cookie']) };
    expect(fx.extraValues).toHaveLength(2);
    targets = fuzzTargets(ROUTES, ADMIN_ROUTES, fx);
    const opened = openDatabase(t.database.url);
    db = opened.kysely as Kysely<any>;
    closeDb = () => opened.close();
  });
  afterAll(async () => {
    await closeDb?.();
    await t?.close();
  });

  /** Sends one request; fails on a 5xx or a malformed answer, and on any stored change a refusal made. */
  async function check(r: FuzzRequest): Promise<void> {
    const before = await stateDigest(db, backend);
    const res = await t.app.inject({ method: r.method as 'GET', url: r.url, headers: r.headers, ...(r.body !== undefined && { payload: r.body }) });
    const problem = problemWith({ status: res.statusCode, headers: res.headers, body: res.body }, ERROR_CODES);
    if (problem) throw new Error(`${r.method} ${r.url.slice(0, 300)} → ${res.statusCode}: ${problem}\n${res.body.slice(0, 500)}`);
    if (res.statusCode >= 400) expect(await stateDigest(db, backend), `${r.method} ${r.url.slice(0, 300)} → ${res.statusCode} changed stored state`).toEqual(before);
  }

  const fuzz = (pick: (t: Target) => boolean, tweak: (r: FuzzRequest) => FuzzRequest = (r) => r) =>
    fc.assert(fc.asyncProperty(requestArb(fc, targets.filter(pick), fx).map(tweak), check), { numRuns: RUNS, endOnFailure: true });

  it('covers every route of the route tables and of the admin API', () => {
    const names = new Set(targets.map((x) => x.name));
    expect(ROUTES.filter((r) => !names.has(r.path))).toEqual([]);
    expect(ADMIN_ROUTES.filter((r) => !names.has(`admin ${r.method} ${r.path}`))).toEqual([]);
    // Besides the tables: the OpenAPI document and the console's pages.
    expect(targets.length).toBe(ROUTES.length + ADMIN_ROUTES.length + 2);
  });

  it('takes a digest of every stored table but the records, and it sees a change', async () => {
    const before = await stateDigest(db, backend);
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['tenants', 'clients', 'users', 'grants', 'artifacts', 'access_tokens', 'sessions', 'signing_keys']));
    expect(Object.keys(before).filter((n) => RECORDS.test(n))).toEqual([]);
    await createUser(t.deps, 'default', { username: 'fuzz-digest' });
    const after = await stateDigest(db, backend);
    expect(Object.keys(after).filter((n) => after[n] !== before[n])).toEqual(['users']);
  });

  it('answers junk at the protocol endpoints (token, PAR, DCR, userinfo…) with RFC errors, never a 5xx, and changes nothing when it refuses', async () => {
    await fuzz((x) => x.kind === 'api');
  }, 120_000);

  it('answers junk at the pages (authorize, login actions, device, account, logout) without a 5xx, and changes nothing when it refuses', async () => {
    await fuzz((x) => x.kind === 'browser');
  }, 120_000);

  it('answers junk at the admin API without a token with 401 (or a 4xx before it), never a 5xx', async () => {
    await fuzz((x) => x.kind === 'admin', (r) => {
      const headers = { ...r.headers };
      delete headers.authorization;
      return { ...r, headers };
    });
  }, 120_000);

  it('answers junk at the admin API with a valid operator token without a 5xx, and changes nothing when it refuses', async () => {
    const known = [fx.tenant, fx.clientId, fx.publicClientId, fx.userId!, 'admin'];
    await fuzz((x) => x.kind === 'admin', (r) => ({
      ...r,
      // A DELETE of a real tenant, client or user is a valid request; the rest of the run needs them.
      method: r.method === 'DELETE' && known.some((k) => r.url.includes(`/${k}`)) ? 'GET' : r.method,
      headers: { ...r.headers, authorization: `Bearer ${fx.operatorToken}` },
    }));
  }, 120_000);
});
