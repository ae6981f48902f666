/**
 * A PostgreSQL outage mid-run (issue 11): a TCP proxy stands between Tessera and PostgreSQL,
 * and cutting it is the database going away. While it is cut, endpoints answer 503 with
 * Retry-After (token: RFC 6749 §5.2 `server_error`; authorization endpoint: a page, since the
 * redirect_uri cannot be validated), /health/ready fails and /health/live answers; once it is
 * back, service resumes without a restart and nothing written before is lost.
 * PostgreSQL only: SQLite has no connection to cut.
 */
import { createServer, type AddressInfo, type Server, type Socket, connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createLogger } from '../src/log.js';
import { createApi } from '../src/manage/apis.js';
import { createClient } from '../src/manage/clients.js';
import { ensureDefaultTenant } from '../src/manage/tenants.js';
import { MemoryMailer } from '../src/mail/memory.js';
import { openStorage, type Storage } from '../src/storage/index.js';
import { isStorageUnavailable } from '../src/storage/unavailable.js';
import { basic, createTestDatabase, form, FORM_HEADERS, testConfig, type TestDatabase } from './helpers.js';
import { startServer, within, type TesseraServer } from './support/server.js';

const TOKEN = '/realms/default/protocol/openid-connect/token';
const INTROSPECT = '/realms/default/protocol/openid-connect/token/introspect';
const AUTH = '/realms/default/protocol/openid-connect/auth';
const UNAVAILABLE = { error: 'server_error', error_description: 'the service is temporarily unavailable; try again' };

/** A TCP proxy to PostgreSQL that can be cut (every connection destroyed, port closed) and restored on the same port. */
class DatabaseProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;
  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => this.sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** The database's URL with host and port replaced by the proxy's. */
  url(direct: string): string {
    const u = new URL(direct);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }
}

/** An error as a driver raises it: a message and, usually, a code. */
const driverError = (message: string, code?: string, cause?: unknown) => Object.assign(new Error(message, { cause }), code === undefined ? {} : { code });

// Runs on every backend: which errors are an outage (503) and which are bugs (500) or input errors.
describe('isStorageUnavailable', () => {
  it.each([
    ['a refused connection', driverError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['a reset connection', driverError('read ECONNRESET', 'ECONNRESET')],
    ['a connection dropped mid-query', driverError('Connection terminated unexpectedly')],
    ['the pool connect timeout', driverError('timeout exceeded when trying to connect')],
    ['SQLSTATE 08006 connection_failure', driverError('connection failure', '08006')],
    ['SQLSTATE 57P01 admin_shutdown', driverError('terminating connection due to administrator command', '57P01')],
    ['SQLSTATE 57P03 cannot_connect_now', driverError('the database system is starting up', '57P03')],
    ['SQLITE_BUSY past busy_timeout', driverError('database is locked', 'SQLITE_BUSY')],
    ['an SQLite I/O error', driverError('disk I/O error', 'SQLITE_IOERR_WRITE')],
    ['an SQLite file that cannot be opened', driverError('unable to open database file', 'SQLITE_CANTOPEN')],
    ['a refused connection wrapped as a cause', new Error('query failed', { cause: driverError('connect ECONNREFUSED', 'ECONNREFUSED') })],
  ])('is true for %s', (_name, err) => {
    expect(isStorageUnavailable(err)).toBe(true);
  });

  it.each([
    ['a unique violation', driverError('duplicate key value', '23505')],
    ['an SQLite constraint', driverError('UNIQUE constraint failed', 'SQLITE_CONSTRAINT_UNIQUE')],
    ['an undefined column (a bug)', driverError('column "x" does not exist', '42703')],
    ['a plain error', new Error('boom')],
    ['a non-error', 'ECONNREFUSED'],
    ['undefined', undefined],
  ])('is false for %s', (_name, err) => {
    expect(isStorageUnavailable(err)).toBe(false);
  });
});

const admin = process.env.TEST_DATABASE_URL;
const target = admin ? { host: new URL(admin).hostname || '127.0.0.1', port: Number(new URL(admin).port || 5432) } : undefined;

// PostgreSQL only (TEST_DATABASE_URL), like the other PostgreSQL-only tests: no skipped tests on a SQLite-only run.
if (target) {
  describe('database outage on postgres, in process', () => {
    const proxy = new DatabaseProxy(target);
    let database: TestDatabase;
    let storage: Storage;
    let app: Awaited<ReturnType<typeof buildApp>>['app'];
    let svc: { id: string; secret: string };
    let webId: string;

    const tokenRequest = () =>
      app.inject({ method: 'POST', url: TOKEN, payload: form({ grant_type: 'client_credentials', scope: 'read:reports' }), headers: { ...FORM_HEADERS, authorization: basic(svc.id, svc.secret) } });
    const authorizeRequest = () =>
      app.inject({ method: 'GET', url: `${AUTH}?${form({ client_id: webId, redirect_uri: 'https://app.example/cb', response_type: 'code', scope: 'openid', state: 's1' })}` });

    beforeAll(async () => {
      database = await createTestDatabase('postgres');
      await proxy.start();
      storage = await openStorage(proxy.url(database.url));
      const deps = { storage, clock: { now: () => Date.now() }, random: (n: number) => randomBytes(n) };
      await ensureDefaultTenant(deps);
      await createApi(deps, 'default', { audience: 'https://reports.example/', scopes: ['read:reports'] }, 86400);
      const made = await createClient(deps, 'default', { name: 'svc', grantTypes: ['client_credentials'], scopes: ['read:reports'], accessTokenFormat: 'opaque' }, 86400);
      svc = { id: made.client.clientId, secret: made.secret! };
      webId = (await createClient(deps, 'default', { name: 'web', redirectUris: ['https://app.example/cb'] }, 86400)).client.clientId;
      ({ app } = await buildApp({ config: testConfig(proxy.url(database.url)), storage, logger: createLogger('silent'), clock: deps.clock, mailer: new MemoryMailer() }));
      await app.ready();
    });
    afterAll(async () => {
      await app?.close();
      await storage?.close();
      await proxy.cut();
      await database?.drop();
    });

    it('answers 503 while the database is unreachable and resumes, with its data, once it is back', async () => {
      const before = await tokenRequest();
      expect(before.statusCode).toBe(200);
      const issued = before.json().access_token as string;
      expect((await authorizeRequest()).statusCode).toBe(200);

      await proxy.cut();

      const token = await tokenRequest();
      expect({ status: token.statusCode, retryAfter: token.headers['retry-after'], cacheControl: token.headers['cache-control'], body: token.json() }).toEqual({
        status: 503, retryAfter: '5', cacheControl: 'no-store', body: UNAVAILABLE,
      });
      // The redirect_uri cannot be checked without the database: a page, never a redirect.
      const page = await authorizeRequest();
      expect({ status: page.statusCode, retryAfter: page.headers['retry-after'], location: page.headers.location, type: page.headers['content-type'] }).toEqual({
        status: 503, retryAfter: '5', location: undefined, type: 'text/html; charset=utf-8',
      });
      expect(page.body).toContain('the service is temporarily unavailable; try again in a moment');
      const introspect = await app.inject({ method: 'POST', url: INTROSPECT, payload: form({ token: issued }), headers: { ...FORM_HEADERS, authorization: basic(svc.id, svc.secret) } });
      expect({ status: introspect.statusCode, body: introspect.json() }).toEqual({ status: 503, body: UNAVAILABLE });
      expect((await app.inject({ url: '/health/ready' })).statusCode).toBe(503);
      expect((await app.inject({ url: '/health/live' })).json()).toEqual({ status: 'ok' });

      await proxy.start();

      const again = await tokenRequest();
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual(expect.objectContaining({ token_type: 'Bearer', scope: 'read:reports' }));
      expect((await authorizeRequest()).statusCode).toBe(200);
      expect((await app.inject({ url: '/health/ready' })).statusCode).toBe(200);
      // No lost data: the token issued before the outage is still active.
      const active = await app.inject({ method: 'POST', url: INTROSPECT, payload: form({ token: issued }), headers: { ...FORM_HEADERS, authorization: basic(svc.id, svc.secret) } });
      expect(active.json()).toEqual(expect.objectContaining({ active: true, client_id: svc.id, scope: 'read:reports' }));
    });
  });

  describe('database outage on postgres, tessera start', () => {
    const proxy = new DatabaseProxy(target);
    let database: TestDatabase;
    let server: TesseraServer;

    beforeAll(async () => {
      database = await createTestDatabase('postgres');
      await proxy.start();
      server = await startServer({ database: { ...database, url: proxy.url(database.url) } });
    }, 30_000);
    afterAll(async () => {
      await server?.stop();
      await proxy.cut();
      await database?.drop();
    });

    it('survives its idle connections being cut and serves again once the database is back', async () => {
      const base = `http://127.0.0.1:${server.port}`;
      // The pool now holds idle connections; cutting them raises the pool's 'error' event.
      expect((await fetch(`${base}/health/ready`)).status).toBe(200);
      // Queries in flight when the connection drops: their clients are checked out, where
      // pg-pool's idle listener does not catch the client's 'error' event (postgres/dialect.ts).
      const inFlight = Array.from({ length: 20 }, () => fetch(`${base}/health/ready`).then((r) => r.status));
      await new Promise((r) => setTimeout(r, 20));
      await proxy.cut();
      expect(new Set(await Promise.all(inFlight))).toSatisfy((statuses: Set<number>) => [...statuses].every((s) => s === 200 || s === 503));
      await new Promise((r) => setTimeout(r, 300));
      expect((await fetch(`${base}/health/ready`)).status).toBe(503);
      expect((await fetch(`${base}/health/live`)).status).toBe(200);
      await proxy.start();
      expect(await within(10_000, async () => ((await fetch(`${base}/health/ready`)).status === 200 ? true : undefined))).toBe(true);
      expect(server.output()).not.toMatch(/uncaught|unhandled/i);
    }, 30_000);
  });
}
