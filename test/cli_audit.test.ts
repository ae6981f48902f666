/**
 * Black-box tests of `tessera audit list` and `tessera revoke-before`: each case spawns
 * `node bin/tessera.js …` (the compiled dist/) against a fresh database.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from './helpers.js';
import { runTessera } from './support/server.js';

const nowSeconds = () => Math.floor(Date.now() / 1000);
const recent = () => expect.toSatisfy((v: unknown) => Number.isInteger(v) && Math.abs((v as number) - nowSeconds()) < 120, 'a time in seconds close to now');
const EVENT_ID = expect.stringMatching(/^[0-9a-z]{24}$/);

const run = (databaseUrl: string, args: string[], stdin = '') =>
  runTessera({ PATH: process.env.PATH, DATABASE_URL: databaseUrl, TESSERA_PUBLIC_URL: 'http://tessera.test' }, args, stdin);

describe.each(BACKENDS)('tessera audit list and revoke-before on %s', (backend) => {
  let database: TestDatabase;
  const ok = async (...args: string[]) => {
    const r = await run(database.url, [...args, '--json'], 'a long enough password\n');
    expect(r, `tessera ${args.join(' ')}`).toEqual({ code: 0, stdout: expect.stringMatching(/^\{.*\}\n$/), stderr: '' });
    return JSON.parse(r.stdout);
  };
  const fails = (...args: string[]) => run(database.url, [...args, '--json']);

  beforeAll(async () => {
    database = await createTestDatabase(backend);
  });
  afterAll(() => database?.drop());

  it('revoke-before sets a tenant or a client policy, lifts it with 0, and refuses an unknown client or a bad time', async () => {
    const { client_id: clientId } = await ok('client', 'create', '--tenant', 'default', '--name', 'Svc', '--grant-types', 'client_credentials');
    const tenant = await ok('revoke-before', '--tenant', 'default');
    expect(tenant).toEqual({ tenant: 'default', not_before: recent() });
    expect(await ok('revoke-before', '--tenant', 'default', '--client', clientId, '--time', '1700000000')).toEqual({ tenant: 'default', client_id: clientId, not_before: 1700000000 });
    expect(await run(database.url, ['revoke-before', '--tenant', 'default', '--time', '0'])).toEqual({ code: 0, stdout: 'not-before policy of tenant default lifted\n', stderr: '' });

    expect(await fails('revoke-before', '--tenant', 'default', '--client', 'nope')).toEqual({ code: 1, stdout: '', stderr: 'tessera revoke-before: tenant default has no client nope\n' });
    expect(await fails('revoke-before', '--tenant', 'default', '--time', 'soon')).toEqual({
      code: 1, stdout: '', stderr: 'tessera revoke-before: --time must be now or whole seconds since the epoch, not "soon"\n',
    });
    expect(await fails('revoke-before', '--time', 'now')).toEqual({
      code: 2, stdout: '', stderr: 'tessera revoke-before: --tenant is required\nusage: tessera revoke-before --tenant T [--client C] [--time now|EPOCH]\n',
    });
  });

  it('audit list shows what operators did, newest first, by type or family, a page at a time', async () => {
    await ok('tenant', 'create', 'acme');
    const { client_id: clientId } = await ok('client', 'create', '--tenant', 'acme', '--name', 'Acme App', '--redirect-uri', 'https://app.example/cb');
    const { id: userId } = await ok('user', 'create', '--tenant', 'acme', '--username', 'alice', '--password-stdin');
    await ok('client', 'update', '--tenant', 'acme', '--name', 'Acme App 2', '--', clientId);
    const { not_before: notBefore } = await ok('revoke-before', '--tenant', 'acme', '--client', clientId);

    const event = (type: string, extra: object) => ({ id: EVENT_ID, type, at: recent(), actor: 'operator', client_id: null, user_id: null, ip: null, detail: {}, ...extra });
    const all = await ok('audit', 'list', '--tenant', 'acme');
    expect(all).toEqual({
      events: [
        event('token.revoked', { client_id: clientId, detail: { reason: 'not_before_policy', not_before: notBefore } }),
        event('client.updated', { client_id: clientId, detail: { fields: ['name'] } }),
        event('user.created', { user_id: userId, detail: { username: 'alice' } }),
        event('client.created', { client_id: clientId, detail: { name: 'Acme App' } }),
      ],
    });

    const first = await ok('audit', 'list', '--tenant', 'acme', '--type', 'client', '--limit', '1');
    expect(first).toEqual({ events: [all.events[1]], next_cursor: expect.any(String) });
    expect(await ok('audit', 'list', '--tenant', 'acme', '--type', 'client', '--limit', '1', '--cursor', first.next_cursor)).toEqual({ events: [all.events[3]] });
    expect(await ok('audit', 'list', '--tenant', 'acme', '--type', 'user.created')).toEqual({ events: [all.events[2]] });

    const text = await run(database.url, ['audit', 'list', '--tenant', 'acme', '--type', 'user']);
    expect(text).toEqual({ code: 0, stdout: expect.stringMatching(/^at {2,}type {2,}actor {2,}client_id {2,}user_id {2,}ip {2,}detail\n\d{4}-\d\d-\d\dT[\d:.]+Z {2}user\.created {2}operator {2,}/), stderr: '' });
    expect(await fails('audit', 'list', '--tenant', 'acme', '--type', 'login')).toEqual({
      code: 1, stdout: '', stderr: expect.stringMatching(/^tessera audit list: --type must be one of sign_in\.success, .*, or a family \(sign_in, consent, token, user, client, logout, tenant, api, key, session, grant, (mfa, )?operator, dcr_token, security, throttle\)\n$/),
    });
    expect(await fails('audit', 'list', '--tenant', 'nowhere')).toEqual({ code: 1, stdout: '', stderr: 'tessera audit list: tenant nowhere does not exist\n' });
  });

  it('audit list filters by client, user (id or username), actor and a time window; each CLI run writes its events before it exits', async () => {
    await ok('tenant', 'create', 'filtered');
    const { client_id: a } = await ok('client', 'create', '--tenant', 'filtered', '--name', 'A');
    const { client_id: b } = await ok('client', 'create', '--tenant', 'filtered', '--name', 'B');
    const { id: userId } = await ok('user', 'create', '--tenant', 'filtered', '--username', 'erin', '--password-stdin');
    await ok('client', 'rotate-secret', '--tenant', 'filtered', a);
    const types = (r: { events: { type: string }[] }) => r.events.map((e) => e.type);
    expect(types(await ok('audit', 'list', '--tenant', 'filtered', '--client', a))).toEqual(['client.secret_rotated', 'client.created']);
    expect(types(await ok('audit', 'list', '--tenant', 'filtered', '--client', b))).toEqual(['client.created']);
    expect(types(await ok('audit', 'list', '--tenant', 'filtered', '--user', 'erin'))).toEqual(['user.created']);
    expect(types(await ok('audit', 'list', '--tenant', 'filtered', '--user', userId))).toEqual(['user.created']);
    expect((await ok('audit', 'list', '--tenant', 'filtered', '--actor', 'operator')).events).toHaveLength(4);
    expect(await ok('audit', 'list', '--tenant', 'filtered', '--actor', 'someone-else')).toEqual({ events: [] });
    expect(await ok('audit', 'list', '--tenant', 'filtered', '--until', '2020-01-01')).toEqual({ events: [] });
    expect((await ok('audit', 'list', '--tenant', 'filtered', '--since', '2020-01-01T00:00:00Z', '--until', String(nowSeconds() + 60))).events).toHaveLength(4);
    expect(await fails('audit', 'list', '--tenant', 'filtered', '--since', 'yesterday')).toEqual({
      code: 1, stdout: '', stderr: 'tessera audit list: --since must be seconds since the epoch or an ISO 8601 time such as 2026-01-31T12:00:00Z, not "yesterday"\n',
    });
  }, 120_000); // 14 CLI processes
});
