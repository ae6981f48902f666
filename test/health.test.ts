/**
 * /health/live and /health/ready on both backends: live answers while the process does;
 * ready checks the database and answers 503 when it cannot reach it; both answer over plain
 * http on an https-only deployment (probes reach a node directly), which nothing else does.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { createLogger } from '../src/log.js';
import { openStorage, type Storage } from '../src/storage/index.js';
import { BACKENDS, createTestDatabase, startTestApp, type TestApp } from './helpers.js';

const view = (res: { statusCode: number; headers: Record<string, unknown>; body: string }) => ({
  status: res.statusCode,
  cacheControl: res.headers['cache-control'],
  retryAfter: res.headers['retry-after'],
  body: JSON.parse(res.body),
});

describe.each(BACKENDS)('health endpoints on %s', (backend) => {
  let t: TestApp;
  let secure: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend);
    secure = await startTestApp(backend, { config: { publicUrl: 'https://auth.example.com', httpsOnly: true } });
  });
  afterAll(async () => {
    await t?.close();
    await secure?.close();
  });

  it('/health/live and /health/ready answer 200 while the database answers', async () => {
    expect(view(await t.app.inject({ method: 'GET', url: '/health/live' }))).toEqual({ status: 200, cacheControl: 'no-store', retryAfter: undefined, body: { status: 'ok' } });
    expect(view(await t.app.inject({ method: 'GET', url: '/health/ready' }))).toEqual({
      status: 200, cacheControl: 'no-store', retryAfter: undefined, body: { status: 'ok', checks: { database: 'ok' } },
    });
  });

  it('/health/ready answers 503 when the database cannot be reached, while /health/live still answers 200', async () => {
    // The same storage, its database closed under it: every query now fails as in an outage.
    const db = await createTestDatabase(backend);
    const storage: Storage = await openStorage(db.url);
    let app: FastifyInstance | undefined;
    try {
      ({ app } = await buildApp({ config: t.config, storage, logger: createLogger('silent') }));
      await app.ready();
      expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
      await storage.close();
      expect(view(await app.inject({ method: 'GET', url: '/health/ready' }))).toEqual({
        status: 503, cacheControl: 'no-store', retryAfter: '5', body: { status: 'unavailable', checks: { database: 'unreachable' } },
      });
      expect(view(await app.inject({ method: 'GET', url: '/health/live' }))).toEqual({ status: 200, cacheControl: 'no-store', retryAfter: undefined, body: { status: 'ok' } });
    } finally {
      await app?.close().catch(() => undefined);
      await db.drop();
    }
  });

  it('an https-only deployment answers probes over plain http, and refuses an OAuth endpoint there', async () => {
    expect((await secure.app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
    expect((await secure.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const token = await secure.app.inject({ method: 'POST', url: '/realms/default/protocol/openid-connect/token', payload: 'grant_type=client_credentials', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect({ status: token.statusCode, body: token.json() }).toEqual({
      status: 403, body: { error: 'invalid_request', error_description: 'HTTPS is required: this server accepts requests over https only' },
    });
  });
});
