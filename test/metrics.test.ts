/**
 * /metrics on both backends: the Prometheus exposition counts requests per route pattern,
 * tokens per grant and tenant, OAuth errors per code, and the PostgreSQL pool; it answers
 * loopback clients only, or whoever bears TESSERA_METRICS_TOKEN when that is set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createClient } from '../src/manage/clients.js';
import { DURATION_BUCKETS } from '../src/metrics/registry.js';
import { BACKENDS, basic, form, FORM_HEADERS, startTestApp, type TestApp } from './helpers.js';

const TOKEN = '/realms/default/protocol/openid-connect/token';
const TOKEN_ROUTE = '/realms/:tenant/protocol/openid-connect/token';
const METRICS_TOKEN = 'scrape-secret-0123456789';

/** The exposition as sample → value; also checks every line is a comment or a well-formed sample. */
function parse(text: string): Map<string, number> {
  expect(text.endsWith('\n')).toBe(true);
  const samples = new Map<string, number>();
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-z_:][a-z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    expect(m, line).not.toBeNull();
    samples.set(m![1], Number(m![2]));
  }
  return samples;
}

describe('TESSERA_METRICS_TOKEN', () => {
  it('is read from the environment, and refused when short enough to guess (without quoting it)', () => {
    expect(loadConfig({ TESSERA_METRICS_TOKEN: METRICS_TOKEN }).metricsToken).toBe(METRICS_TOKEN);
    expect(loadConfig({}).metricsToken).toBeUndefined();
    expect(() => loadConfig({ TESSERA_METRICS_TOKEN: 'short-secret' })).toThrow(/^invalid configuration: TESSERA_METRICS_TOKEN: must be at least 16 characters$/);
  });
});

describe.each(BACKENDS)('/metrics on %s', (backend) => {
  let t: TestApp;
  let guarded: TestApp;
  let proxied: TestApp;
  let cc: { id: string; secret: string };

  const tokenRequest = (secret: string) =>
    t.app.inject({ method: 'POST', url: TOKEN, payload: form({ grant_type: 'client_credentials' }), headers: { ...FORM_HEADERS, authorization: basic(cc.id, secret) } });

  beforeAll(async () => {
    t = await startTestApp(backend);
    guarded = await startTestApp(backend, { config: { metricsToken: METRICS_TOKEN } });
    proxied = await startTestApp(backend, { config: { trustedProxies: ['127.0.0.1'] } });
    const { client, secret } = await createClient(t.deps, 'default', { name: 'svc', grantTypes: ['client_credentials'] }, 86400);
    cc = { id: client.clientId, secret: secret! };
  });
  afterAll(async () => {
    await t?.close();
    await guarded?.close();
    await proxied?.close();
  });

  it('counts token requests, tokens issued, OAuth errors and unmatched paths, in the 0.0.4 text format', async () => {
    for (let i = 0; i < 3; i++) expect((await tokenRequest(cc.secret)).statusCode).toBe(200);
    for (let i = 0; i < 2; i++) expect((await tokenRequest('wrong')).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/no/such/path/123' })).statusCode).toBe(404);

    const res = await t.app.inject({ method: 'GET', url: '/metrics' });
    expect({ status: res.statusCode, type: res.headers['content-type'], cache: res.headers['cache-control'] }).toEqual({
      status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', cache: 'no-store',
    });
    const s = parse(res.body);
    expect(s.get(`tessera_http_requests_total{route="${TOKEN_ROUTE}",method="POST",status="200"}`)).toBe(3);
    expect(s.get(`tessera_http_requests_total{route="${TOKEN_ROUTE}",method="POST",status="401"}`)).toBe(2);
    expect(s.get('tessera_http_requests_total{route="unmatched",method="GET",status="404"}')).toBe(1);
    expect(s.get('tessera_tokens_issued_total{grant_type="client_credentials",tenant="default"}')).toBe(3);
    expect(s.get('tessera_oauth_errors_total{error="invalid_client"}')).toBe(2);
    // The histogram: cumulative buckets ending in +Inf, equal to the count; one series per route pattern.
    const labels = `route="${TOKEN_ROUTE}",method="POST"`;
    const buckets = [...DURATION_BUCKETS.map(String), '+Inf'].map((le) => s.get(`tessera_http_request_duration_seconds_bucket{${labels},le="${le}"}`)!);
    expect(buckets.every((n, i) => i === 0 || n >= buckets[i - 1])).toBe(true);
    expect({ inf: buckets.at(-1), count: s.get(`tessera_http_request_duration_seconds_count{${labels}}`) }).toEqual({ inf: 5, count: 5 });
    expect(s.get(`tessera_http_request_duration_seconds_sum{${labels}}`)).toBeGreaterThan(0);
    expect([...s.keys()].filter((k) => k.includes('/no/such'))).toEqual([]);
    // The pool exists on PostgreSQL only; the process gauges everywhere.
    const pool = [...s.keys()].filter((k) => k.startsWith('tessera_db_pool'));
    expect(pool).toEqual(backend === 'postgres' ? ['tessera_db_pool_connections{state="idle"}', 'tessera_db_pool_connections{state="in_use"}', 'tessera_db_pool_waiting'] : []);
    expect(s.get('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(s.get('process_start_time_seconds')).toBeGreaterThan(1_600_000_000);

    // The scrape itself is counted, after it was answered.
    const again = parse((await t.app.inject({ method: 'GET', url: '/metrics' })).body);
    expect(again.get('tessera_http_requests_total{route="/metrics",method="GET",status="200"}')).toBe(1);
  });

  it('refuses a client that is not loopback, including one behind a trusted proxy', async () => {
    const direct = await t.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.7' });
    expect({ status: direct.statusCode, body: direct.json() }).toEqual({
      status: 403, body: { error: 'access_denied', error_description: 'metrics are answered to loopback clients only, unless TESSERA_METRICS_TOKEN is set' },
    });
    // The proxy is on loopback, but the client it forwards for is not.
    const viaProxy = await proxied.app.inject({ method: 'GET', url: '/metrics', headers: { 'x-forwarded-for': '203.0.113.7' } });
    expect(viaProxy.statusCode).toBe(403);
    expect((await proxied.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
  });

  it('with TESSERA_METRICS_TOKEN, answers only the bearer of that token, from anywhere', async () => {
    for (const authorization of [undefined, 'Bearer wrong-token-0123456789', `Basic ${METRICS_TOKEN}`]) {
      const res = await guarded.app.inject({ method: 'GET', url: '/metrics', headers: authorization ? { authorization } : {} });
      expect({ status: res.statusCode, challenge: res.headers['www-authenticate'], body: res.json() }).toEqual({
        status: 401, challenge: 'Bearer realm="metrics"', body: { error: 'invalid_token', error_description: 'a valid metrics token is required (TESSERA_METRICS_TOKEN)' },
      });
    }
    const ok = await guarded.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.7', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect({ status: ok.statusCode, type: ok.headers['content-type'] }).toEqual({ status: 200, type: 'text/plain; version=0.0.4; charset=utf-8' });
    expect(parse(ok.body).get('tessera_http_requests_total{route="/metrics",method="GET",status="401"}')).toBe(3);
  });

  it('an https-only deployment answers a loopback scrape over plain http, but never a metrics token over plain http', async () => {
    const https = { publicUrl: 'https://auth.example.com', httpsOnly: true };
    const secure = await startTestApp(backend, { config: https });
    const secureGuarded = await startTestApp(backend, { config: { ...https, metricsToken: METRICS_TOKEN } });
    try {
      expect((await secure.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
      expect((await secure.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '203.0.113.7' })).statusCode).toBe(403);
      const clear = await secureGuarded.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect({ status: clear.statusCode, body: clear.json() }).toEqual({
        status: 403, body: { error: 'invalid_request', error_description: 'HTTPS is required: this server accepts requests over https only' },
      });
    } finally {
      await secure.close();
      await secureGuarded.close();
    }
  });
});
