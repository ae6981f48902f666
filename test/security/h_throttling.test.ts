/**
 * SECURITY-CHECKLIST items 25 and 52 — throttling, on every backend: failed client
 * authentication per client and per address at the token, device authorization, PAR,
 * introspection and revocation endpoints (429 `too_many_requests` with Retry-After), and
 * sign-in throttling that slows a guessing loop without locking the real user out. The
 * counts live in the shared store (the database, or Redis with REDIS_URL), so two apps on one
 * database act as two nodes. A hand-moved clock replaces sleeping.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import type { Services } from '../../src/http/context.js';
import { RedisThrottleStore } from '../../src/http/throttle_redis.js';
import type { ThrottleEntry, ThrottleStore } from '../../src/http/throttle.js';
import { createLogger } from '../../src/log.js';
import { clientView as clientViewOf, createClient, updateClient } from '../../src/manage/clients.js';
import { createUser } from '../../src/manage/users.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import { BACKENDS, basic, createTestDatabase, FakeClock, form, FORM_HEADERS, startTestApp, type TestApp, type TestDatabase } from '../helpers.js';
import { checkAgainstDocument, makeOperator, startAdminApp, tokenFor } from '../support/admin.js';
import { startServer, type TesseraServer } from '../support/server.js';
import { createUser as createBlackBoxUser } from '../support/users.js';
import { jsonView, PASSWORD, TOKEN } from './support.js';

const BASE = '/realms/default/protocol/openid-connect';
const ENDPOINTS = {
  token: { url: TOKEN, fields: { grant_type: 'client_credentials' } },
  'device authorization': { url: `${BASE}/auth/device`, fields: {} },
  PAR: { url: `${BASE}/ext/par/request`, fields: { response_type: 'code', redirect_uri: 'https://app.example/cb', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' } },
  introspection: { url: `${BASE}/token/introspect`, fields: { token: 'x' } },
  revocation: { url: `${BASE}/revoke`, fields: { token: 'x' } },
} as const;
const LIMITS = { perClient: 3, perIp: 5, windowSeconds: 60 };
const WINDOW = LIMITS.windowSeconds;

const invalidClient = { status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed' } };
const tooMany = (seconds: number) => ({
  status: 429, retryAfter: String(seconds),
  body: { error: 'too_many_requests', error_description: `too many failed client authentications; try again in ${seconds} seconds` },
});
const signInThrottled = (seconds: number) => ({
  status: 429, retryAfter: String(seconds),
  body: { error: 'invalid_grant', error_description: `too many failed sign-ins; try again in ${seconds} seconds` },
});
const view = (res: Awaited<ReturnType<FastifyInstance['inject']>>) => ({ ...jsonView(res), ...(res.statusCode === 429 && { retryAfter: res.headers['retry-after'] }) });

/** Adds one failure to `key` as the throttles do: a read-modify-write through `update`. */
const increment = (store: ThrottleStore, key: string, now: number) =>
  store.update(key, now, (e): ThrottleEntry => ({ failures: (e?.failures ?? 0) + 1, pending: 0, last: now, expires: e?.expires ?? now + 60 }));
const read = async (store: ThrottleStore, key: string, now: number) => {
  let seen: ThrottleEntry | undefined;
  await store.update(key, now, (e) => (seen = e));
  return seen;
};

describe.each(BACKENDS)('SECURITY-CHECKLIST H: throttling on %s', (backend) => {
  const clock = new FakeClock();
  let t: TestApp;
  /** A second node: its own app and its own connection to the same database. */
  let node2: { app: FastifyInstance; storage: Storage; services: Services };
  const clients: Record<string, { id: string; secret: string }> = {};
  const now = () => Math.floor(clock.now() / 1000);

  beforeAll(async () => {
    t = await startTestApp(backend, { clock, config: { clientAuthThrottle: LIMITS } });
    const storage = await openStorage(t.database.url, { migrate: false });
    const { app, services } = await buildApp({ config: t.config, storage, logger: createLogger('silent'), clock });
    node2 = { app, storage, services };
    for (const name of [...Object.keys(ENDPOINTS), 'spray target', 'two nodes', 'password']) {
      const c = await createClient(t.deps, 'default', {
        name, redirectUris: ['https://app.example/cb'], scopes: ['openid'],
        grantTypes: ['authorization_code', 'client_credentials', 'password', 'urn:ietf:params:oauth:grant-type:device_code'],
      }, 86400);
      clients[name] = { id: c.client.clientId, secret: c.secret! };
    }
    for (const username of ['alice', 'bob']) await createUser(t.deps, 'default', { username, password: PASSWORD });
  });
  afterAll(async () => {
    await node2?.app.close();
    await node2?.storage.close();
    await t?.close();
  });

  const post = (app: FastifyInstance, url: string, ip: string, fields: Record<string, string>, client?: { id: string; secret: string }) =>
    app.inject({ method: 'POST', url, remoteAddress: ip, headers: { ...FORM_HEADERS, ...(client && { authorization: basic(client.id, client.secret) }) }, payload: form(fields) });

  it('keeps every one of concurrent updates to a key, across two connections, and forgets an expired entry', async () => {
    const key = `test:${randomBytes(6).toString('hex')}`;
    const at = now();
    await Promise.all(Array.from({ length: 40 }, (_, i) => increment(i % 2 ? t.storage.throttle : node2.storage.throttle, key, at)));
    expect(await read(t.storage.throttle, key, at)).toEqual({ failures: 40, pending: 0, last: at, expires: at + 60 });
    expect(await read(node2.storage.throttle, key, at + 60)).toBeUndefined();
    await increment(t.storage.throttle, key, at + 60);
    expect(await read(t.storage.throttle, key, at + 60)).toEqual({ failures: 1, pending: 0, last: at + 60, expires: at + 120 });
    // Removing a key, and removing it again once it is absent.
    await t.storage.throttle.update(key, at + 60, () => undefined);
    expect(await read(t.storage.throttle, key, at + 60)).toBeUndefined();
    await t.storage.throttle.update(key, at + 60, () => undefined);
    expect(await read(node2.storage.throttle, key, at + 60)).toBeUndefined();
  });

  it('counts wrong device user codes in the shared store, apart from sign-ins: a user throttled on one node is throttled on the other', async () => {
    const user = { tenant: 'default', username: 'a-user-id' };
    const ip = '192.0.2.77';
    for (let i = 0; i < 5; i++) {
      expect(await t.services.deviceThrottle.check(user, ip, now())).toEqual({ allowed: true });
      await t.services.deviceThrottle.fail(user, ip, now());
    }
    expect(await node2.services.deviceThrottle.check(user, ip, now())).toEqual({ allowed: false, retryAfter: 1 });
    expect(await node2.services.throttle.check(user, ip, now())).toEqual({ allowed: true });
  });

  for (const [name, endpoint] of Object.entries(ENDPOINTS)) {
    it(`25. repeated failed client authentication is rate limited at the ${name} endpoint: 429 with Retry-After, the right secret included, until the window ends`, async () => {
      clock.advance(WINDOW);
      const client = clients[name];
      const wrong = { id: client.id, secret: 'wrong secret' };
      // Each failure from its own address: this is the per-client count, not the per-address one.
      for (let i = 0; i < LIMITS.perClient; i++) expect(jsonView(await post(t.app, endpoint.url, `192.0.2.${10 + i}`, endpoint.fields, wrong))).toEqual(invalidClient);
      clock.advance(10);
      expect(view(await post(t.app, endpoint.url, '192.0.2.20', endpoint.fields, wrong))).toEqual(tooMany(WINDOW - 10));
      expect(view(await post(t.app, endpoint.url, '192.0.2.21', endpoint.fields, client))).toEqual(tooMany(WINDOW - 10));
      // The credentials in the body count the same as in the header.
      expect(view(await post(t.app, endpoint.url, '192.0.2.22', { ...endpoint.fields, client_id: client.id, client_secret: 'wrong secret' }))).toEqual(tooMany(WINDOW - 10));
      // Each refusal is in the audit log, with the limit that was hit (never a credential).
      const { events } = await t.storage.audit.list('default', { type: 'throttle.refused', clientId: client.id, limit: 10 });
      expect(events.map((e) => [e.clientId, e.ip, e.detail])).toEqual(['192.0.2.22', '192.0.2.21', '192.0.2.20'].map((ip) => [
        client.id, ip, { reason: 'too_many_attempts', limit: 'client_auth', endpoint: expect.stringContaining(endpoint.url.replace('/realms/default', '')), retry_after: WINDOW - 10 },
      ]));
      clock.advance(WINDOW - 10);
      const ok = await post(t.app, endpoint.url, '192.0.2.23', name === 'PAR' ? { ...endpoint.fields, client_id: client.id } : endpoint.fields, client);
      expect(ok.statusCode, ok.body).toBeLessThan(300);
    });
  }

  it('25. counts failures per address across clients (unknown ids and missing credentials included) and spares other addresses', async () => {
    clock.advance(WINDOW);
    const ip = '198.51.100.1';
    const target = clients['spray target'];
    for (let i = 0; i < 3; i++) expect(jsonView(await post(t.app, TOKEN, ip, { grant_type: 'client_credentials' }, { id: `guess-${i}`, secret: 'x' }))).toEqual(invalidClient);
    expect(jsonView(await post(t.app, TOKEN, ip, { grant_type: 'client_credentials' }))).toEqual({ status: 401, body: { error: 'invalid_client', error_description: 'client authentication is required' } });
    expect(jsonView(await post(t.app, TOKEN, ip, { grant_type: 'client_credentials', client_id: 'guess-4', client_secret: 'x' }))).toEqual(invalidClient);
    expect(view(await post(t.app, TOKEN, ip, { grant_type: 'client_credentials' }, target))).toEqual(tooMany(WINDOW));
    expect(view(await post(t.app, `${BASE}/revoke`, ip, { token: 'x' }, target))).toEqual(tooMany(WINDOW));
    expect((await post(t.app, TOKEN, '198.51.100.2', { grant_type: 'client_credentials' }, target)).statusCode).toBe(200);
  });

  it('25. shares the counts between nodes: failures on one node block the client on the other', async () => {
    clock.advance(WINDOW);
    const client = clients['two nodes'];
    const wrong = { id: client.id, secret: 'wrong secret' };
    expect(jsonView(await post(t.app, TOKEN, '203.0.113.1', { grant_type: 'client_credentials' }, wrong))).toEqual(invalidClient);
    expect(jsonView(await post(node2.app, TOKEN, '203.0.113.2', { grant_type: 'client_credentials' }, wrong))).toEqual(invalidClient);
    expect(jsonView(await post(t.app, TOKEN, '203.0.113.3', { grant_type: 'client_credentials' }, wrong))).toEqual(invalidClient);
    // Node 2 has not seen the block yet: its next failure learns it from the shared count.
    expect(view(await post(node2.app, TOKEN, '203.0.113.4', { grant_type: 'client_credentials' }, wrong))).toEqual(tooMany(WINDOW));
    expect(view(await post(node2.app, TOKEN, '203.0.113.5', { grant_type: 'client_credentials' }, client))).toEqual(tooMany(WINDOW));
  });

  it('limits a client with a rate limit of its own to N successful requests per window on every node (429 with Retry-After); clients without one are not limited', async () => {
    clock.advance(WINDOW);
    const limited = await createClient(t.deps, 'default', { name: 'Limited', grantTypes: ['client_credentials'], rateLimit: '3/1m' }, 86400);
    expect(clientViewOf(limited.client).rate_limit).toBe('3/60');
    const creds = { id: limited.client.clientId, secret: limited.secret! };
    const token = (app: FastifyInstance) => post(app, TOKEN, '192.0.2.99', { grant_type: 'client_credentials' }, creds);
    expect((await token(t.app)).statusCode).toBe(200);
    expect((await token(node2.app)).statusCode).toBe(200);
    clock.advance(20);
    expect((await token(t.app)).statusCode).toBe(200);
    const refusal = { status: 429, retryAfter: '40', body: { error: 'too_many_requests', error_description: "the client's rate limit of 3 requests per 60 seconds is reached" } };
    expect(view(await token(node2.app))).toEqual(refusal);
    expect(view(await post(t.app, `${BASE}/revoke`, '192.0.2.99', { token: 'x' }, creds))).toEqual(refusal);
    // Another client, with no limit, goes on.
    for (let i = 0; i < 5; i++) expect((await post(t.app, TOKEN, '192.0.2.99', { grant_type: 'client_credentials' }, clients.token)).statusCode).toBe(200);
    clock.advance(40);
    expect((await token(node2.app)).statusCode).toBe(200);
    // Removed: no limit any more.
    await updateClient(t.deps, 'default', limited.client.clientId, { rateLimit: 'off' }, 86400);
    expect(clientViewOf((await t.storage.clients.get('default', limited.client.clientId))!).rate_limit).toBeUndefined();
  });

  it('refuses a malformed rate limit with a clear message', async () => {
    for (const rateLimit of ['10', '0/60', '10/0', '10/2d', 'ten/minute', '10/fortnight']) {
      await expect(createClient(t.deps, 'default', { name: 'Bad', rateLimit }, 86400)).rejects.toThrow(
        `rate limit must be N/WINDOW with N ≥ 1 and a window of 1 s to 1 day, such as 100/60, 600/1m or 5000/hour (or off); got ${JSON.stringify(rateLimit)}`,
      );
    }
  });

  /** A password-grant sign-in from `ip`. */
  const signIn = (app: FastifyInstance, username: string, password: string, ip: string) =>
    post(app, TOKEN, ip, { grant_type: 'password', username, password }, clients.password);

  it('52. login brute force is throttled per account and per IP without letting an attacker lock the user out', async () => {
    clock.advance(3600);
    const attacker = '192.0.2.66';
    // The user signed in before from home: that address is known for the account.
    expect((await signIn(t.app, 'alice', PASSWORD, '198.51.100.77')).statusCode).toBe(200);
    // A guessing loop from one address for an hour, each guess as soon as it is allowed.
    const start = now();
    let guesses = 0;
    let refusals = 0;
    while (now() < start + 3600) {
      const res = await signIn(t.app, 'alice', `guess ${guesses}`, attacker);
      if (res.statusCode === 429) {
        refusals++;
        const wait = Number(res.headers['retry-after']);
        expect(wait).toBeGreaterThanOrEqual(1);
        expect(wait).toBeLessThanOrEqual(300);
        clock.advance(wait);
        continue;
      }
      expect(jsonView(res)).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'invalid username or password' } });
      guesses++;
      // Meanwhile the real user signs in from a new address (a phone, a café): never refused.
      if (guesses % 8 === 0) expect((await signIn(t.app, 'alice', PASSWORD, `203.0.113.${100 + guesses / 8}`)).statusCode).toBe(200);
    }
    // The configured rate: 5 free, then waits of 1, 2, 4 … 256 s (511 s in all), then one guess
    // per 5 minutes: at 811 s, 1111 s … 3511 s.
    expect(guesses).toBe(5 + 9 + 10);
    // Every guess past the free ones came after one refusal, and the hour ended on one.
    expect(refusals).toBe(guesses - 5 + 1);
    // Spread over many addresses, the account-wide count (100 free) throttles new addresses…
    clock.advance(900);
    expect((await signIn(t.app, 'bob', PASSWORD, '198.51.100.88')).statusCode).toBe(200);
    for (let i = 0; i < 100; i++) {
      if (i % 10 === 0) clock.advance(1);
      expect((await signIn(i % 2 ? t.app : node2.app, 'bob', `guess ${i}`, `10.0.${i}.1`)).statusCode).toBe(400);
    }
    expect(view(await signIn(t.app, 'bob', PASSWORD, '10.9.9.9'))).toEqual(signInThrottled(1));
    // …on both nodes, while an address the user signed in from before still gets in.
    expect(view(await signIn(node2.app, 'bob', PASSWORD, '10.9.9.8'))).toEqual(signInThrottled(1));
    expect((await signIn(node2.app, 'bob', PASSWORD, '198.51.100.88')).statusCode).toBe(200);
  });
});

describe('SECURITY-CHECKLIST H: throttling with REDIS_URL (127.0.0.1:6379)', () => {
  const REDIS_URL = 'redis://127.0.0.1:6379';
  const prefix = `tessera-test-${randomBytes(6).toString('hex')}:`;
  const clock = new FakeClock();
  let t: TestApp;
  let node2: { app: FastifyInstance; storage: Storage };
  const stores: RedisThrottleStore[] = [];
  const now = () => Math.floor(clock.now() / 1000);

  beforeAll(async () => {
    const config = { redisUrl: REDIS_URL, redisKeyPrefix: prefix, clientAuthThrottle: LIMITS };
    t = await startTestApp('sqlite', { clock, config });
    // The second node has a database of its own: only Redis can carry the count across.
    const other = await startTestApp('sqlite', { clock, config });
    node2 = { app: other.app, storage: other.storage };
    afterAll(() => other.close());
    stores.push(RedisThrottleStore.connect(REDIS_URL, `${prefix}store:`), RedisThrottleStore.connect(REDIS_URL, `${prefix}store:`));
  });
  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await t?.close();
  });

  it('keeps every one of concurrent updates to a key, across two connections, and forgets an expired entry', async () => {
    const at = now();
    await Promise.all(Array.from({ length: 40 }, (_, i) => increment(stores[i % 2], 'k', at)));
    expect(await read(stores[0], 'k', at)).toEqual({ failures: 40, pending: 0, last: at, expires: at + 60 });
    expect(await read(stores[1], 'k', at + 60)).toBeUndefined();
    await stores[0].update('k', at + 60, () => undefined);
    expect(await read(stores[0], 'k', at)).toBeUndefined();
  });

  it('25. counts failed client authentication in Redis: failures on one node block the client on another', async () => {
    const c = await createClient(t.deps, 'default', { name: 'Redis', grantTypes: ['client_credentials'] }, 86400);
    // The same client id on the second node (its own database), so its failures count against the same key.
    const wrong = { id: c.client.clientId, secret: 'wrong secret' };
    const token = (app: FastifyInstance, ip: string, client: { id: string; secret: string }) =>
      app.inject({ method: 'POST', url: TOKEN, remoteAddress: ip, headers: { ...FORM_HEADERS, authorization: basic(client.id, client.secret) }, payload: form({ grant_type: 'client_credentials' }) });
    for (let i = 0; i < LIMITS.perClient; i++) expect(jsonView(await token(node2.app, `192.0.2.${i}`, wrong))).toEqual(invalidClient);
    expect(view(await token(t.app, '192.0.2.9', wrong))).toEqual(tooMany(WINDOW));
    expect(view(await token(t.app, '192.0.2.10', { id: c.client.clientId, secret: c.secret! }))).toEqual(tooMany(WINDOW));
    clock.advance(WINDOW);
    expect((await token(t.app, '192.0.2.11', { id: c.client.clientId, secret: c.secret! })).statusCode).toBe(200);
    // Nothing went to the database store.
    expect(await read(t.storage.throttle, `client:c:7:default:${c.client.clientId}`, now() - WINDOW)).toBeUndefined();
  });
});

describe.each(BACKENDS)('SECURITY-CHECKLIST H: throttling across two server processes on %s', (backend) => {
  let first: TesseraServer;
  let second: TesseraServer;
  let database: TestDatabase;
  let client: { client_id: string; client_secret: string };
  const env = { TESSERA_CLIENT_AUTH_FAILURES_PER_CLIENT: '3', TESSERA_CLIENT_AUTH_FAILURES_PER_IP: '100', TESSERA_CLIENT_AUTH_FAILURE_WINDOW: '600' };

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    first = await startServer({ database, env });
    second = await startServer({ database, env });
    client = await first.cli('client', 'create', '--tenant', 'default', '--name', 'Two Processes', '--grant-types', 'client_credentials,password');
    await createBlackBoxUser(first, { username: 'carol', password: PASSWORD });
  }, 60_000);

  it('sets a client rate limit with tessera client create --rate-limit and removes it with update --rate-limit off', async () => {
    const created = await first.cli('client', 'create', '--tenant', 'default', '--name', 'Metered', '--grant-types', 'client_credentials', '--rate-limit', '600/1m');
    expect(created.rate_limit).toBe('600/60');
    const updated = await first.cli('client', 'update', '--tenant', 'default', '--rate-limit', 'off', '--', created.client_id);
    expect(updated).not.toHaveProperty('rate_limit');
  });
  afterAll(async () => {
    await first?.stop();
    await second?.stop();
    await database?.drop();
  });

  const request = async (server: TesseraServer, fields: Record<string, string>, secret = client.client_secret) => {
    const res = await fetch(`${server.issuer}/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { ...FORM_HEADERS, authorization: basic(client.client_id, secret) },
      body: form(fields),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as Record<string, unknown> };
  };

  it('25. failed client authentications on one process block the client on the other', async () => {
    for (const server of [first, second, first]) {
      expect(await request(server, { grant_type: 'client_credentials' }, 'wrong secret')).toEqual({ status: 401, retryAfter: null, body: invalidClient.body });
    }
    const refused = await request(second, { grant_type: 'client_credentials' }, 'wrong secret');
    expect(refused).toEqual({ status: 429, retryAfter: expect.stringMatching(/^\d+$/), body: { error: 'too_many_requests', error_description: `too many failed client authentications; try again in ${refused.retryAfter} seconds` } });
    expect(Number(refused.retryAfter)).toBeGreaterThan(500);
    expect((await request(second, { grant_type: 'client_credentials' })).status).toBe(429);
  });

  it('52. failed sign-ins on one process throttle the account on the other', async () => {
    // A fresh client: the one above is blocked for this window.
    client = await first.cli('client', 'create', '--tenant', 'default', '--name', 'Sign-in', '--grant-types', 'password');
    for (let i = 0; i < 5; i++) {
      // The throttle counts whole seconds (the servers' clock): a 1 s wait that starts late in a
      // second ends at its boundary. The last failure and the check go at the start of a fresh one.
      if (i === 4) await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
      const res = await request(i % 2 ? second : first, { grant_type: 'password', username: 'carol', password: `guess ${i}` });
      expect(res).toEqual({ status: 400, retryAfter: null, body: { error: 'invalid_grant', error_description: 'invalid username or password' } });
    }
    const res = await request(second, { grant_type: 'password', username: 'carol', password: PASSWORD });
    expect(res).toEqual({ status: 429, retryAfter: '1', body: { error: 'invalid_grant', error_description: 'too many failed sign-ins; try again in 1 seconds' } });
  });
});

describe.each(BACKENDS)('client rate limits in the admin API on %s', (backend) => {
  let t: TestApp;
  let token: string;
  beforeAll(async () => {
    t = await startAdminApp(backend);
    token = await tokenFor(t, await makeOperator(t, 'root'));
  });
  afterAll(() => t?.close());

  const call = async (method: 'POST' | 'PATCH', url: string, payload: object) => {
    const res = await t.app.inject({ method, url: `/admin/api/v1${url}`, headers: { authorization: `Bearer ${token}` }, payload });
    const body = res.json();
    if (res.statusCode < 300) checkAgainstDocument(method, url, res.statusCode, body);
    return { status: res.statusCode, body };
  };

  it('sets a client rate limit (rate_limit), shows it canonically, removes it with null, and refuses a malformed one with 400', async () => {
    const created = await call('POST', '/tenants/default/clients', { client_name: 'Metered', grant_types: ['client_credentials'], rate_limit: '5000/hour' });
    expect(created).toMatchObject({ status: 201, body: { client_name: 'Metered', rate_limit: '5000/3600' } });
    const path = `/tenants/default/clients/${created.body.client_id}`;
    const cleared = await call('PATCH', path, { rate_limit: null });
    expect(cleared.status).toBe(200);
    expect(cleared.body).not.toHaveProperty('rate_limit');
    expect(await call('PATCH', path, { rate_limit: 'lots' })).toEqual({
      status: 400,
      body: { error: 'invalid_request', error_description: 'rate limit must be N/WINDOW with N ≥ 1 and a window of 1 s to 1 day, such as 100/60, 600/1m or 5000/hour (or off); got "lots"' },
    });
  });
});
