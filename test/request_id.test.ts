/**
 * Request ids (issue 10): every answer carries `X-Request-Id`, and every log line a request
 * writes carries the same value as `reqId`. An incoming X-Request-Id (a proxy's, a client's
 * trace id) is kept when it is short printable ASCII; anything else is replaced, never echoed
 * or logged, since it would let a client forge log lines or flood them.
 */
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createLogger } from '../src/log.js';
import { openStorage, type Storage } from '../src/storage/index.js';
import { BACKENDS, createTestDatabase, testConfig, type TestDatabase } from './helpers.js';

/** Generated ids: a per-process random prefix and a counter (src/log.ts). */
const GENERATED = /^[0-9a-f]{8}-[0-9a-z]+$/;
const SERVER_ERROR = { error: 'server_error', error_description: 'the server could not complete the request' };

describe.each(BACKENDS)('request ids on %s', (backend) => {
  let db: TestDatabase;
  let storage: Storage;
  let app: FastifyInstance;
  const lines: Record<string, unknown>[] = [];
  const logged = (msg: string) => lines.filter((l) => l.msg === msg).map((l) => ({ reqId: l.reqId, level: l.level }));

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    storage = await openStorage(db.url);
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
        done();
      },
    });
    ({ app } = await buildApp({ config: testConfig(db.url), storage, logger: createLogger('info', sink) }));
    // A route that fails unexpectedly, to reach the error handler's 500 path.
    app.get('/test/fails', async () => {
      throw new Error('something broke');
    });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await storage?.close().catch(() => undefined);
    await db?.drop();
  });

  it('a request that logs nothing still names itself, and writes no log line', async () => {
    lines.length = 0;
    const res = await app.inject({ method: 'GET', url: '/health/live' });
    expect({ status: res.statusCode, id: res.headers['x-request-id'] }).toEqual({ status: 200, id: expect.stringMatching(GENERATED) });
    const again = await app.inject({ method: 'GET', url: '/health/live' });
    expect(again.headers['x-request-id']).not.toBe(res.headers['x-request-id']);
    expect(lines).toEqual([]);
  });

  it('a logged error carries the reqId the response shows, generated or taken from X-Request-Id', async () => {
    lines.length = 0;
    const generated = await app.inject({ method: 'GET', url: '/test/fails' });
    expect({ status: generated.statusCode, body: generated.json() }).toEqual({ status: 500, body: SERVER_ERROR });
    const id = generated.headers['x-request-id'];
    expect(id).toMatch(GENERATED);

    const traced = await app.inject({ method: 'GET', url: '/test/fails', headers: { 'x-request-id': 'trace-4bf92f3577b34da6a3ce929d0e0e4736' } });
    expect({ status: traced.statusCode, id: traced.headers['x-request-id'] }).toEqual({ status: 500, id: 'trace-4bf92f3577b34da6a3ce929d0e0e4736' });

    expect(logged('unhandled error')).toEqual([
      { reqId: id, level: 50 },
      { reqId: 'trace-4bf92f3577b34da6a3ce929d0e0e4736', level: 50 },
    ]);
  });

  it('a hostile X-Request-Id is neither echoed nor logged: an id is generated instead', async () => {
    lines.length = 0;
    const hostile = ['x'.repeat(129), 'forged\tline', 'with space', 'caf\u00e9', ''];
    for (const value of hostile) {
      const res = await app.inject({ method: 'GET', url: '/test/fails', headers: { 'x-request-id': value } });
      expect({ status: res.statusCode, id: res.headers['x-request-id'] }).toEqual({ status: 500, id: expect.stringMatching(GENERATED) });
    }
    // Two X-Request-Id headers: Node keeps both; neither is taken.
    const twice = await app.inject({ method: 'GET', url: '/test/fails', headers: { 'x-request-id': ['a', 'b'] as unknown as string } });
    expect(twice.headers['x-request-id']).toMatch(GENERATED);

    expect(logged('unhandled error')).toEqual(Array.from({ length: hostile.length + 1 }, () => ({ reqId: expect.stringMatching(GENERATED), level: 50 })));
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    for (const value of hostile.filter(Boolean)) expect(text).not.toContain(JSON.stringify(value).slice(1, -1));
  });

  it('the readiness warning of a database outage carries the reqId', async () => {
    lines.length = 0;
    await storage.close();
    const res = await app.inject({ method: 'GET', url: '/health/ready', headers: { 'x-request-id': 'probe-1' } });
    expect({ status: res.statusCode, id: res.headers['x-request-id'], body: res.json() }).toEqual({
      status: 503, id: 'probe-1', body: { status: 'unavailable', checks: { database: 'unreachable' } },
    });
    expect(logged('readiness check failed: the database is unreachable')).toEqual([{ reqId: 'probe-1', level: 40 }]);
  });
});
