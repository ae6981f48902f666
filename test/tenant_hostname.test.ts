/**
 * Tenant hostnames (issue 6): a tenant given its own hostname has the issuer
 * `https://{hostname}/realms/{id}`, chosen by the Host header (X-Forwarded-Host only from a
 * trusted proxy). Reached through the main host, its metadata and pages answer 308 to the
 * canonical URL (one issuer per tenant); its API endpoints are served there with that issuer.
 */
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issuerOf } from '../src/http/context.js';
import { createClient } from '../src/manage/clients.js';
import { createTenant, updateTenant } from '../src/manage/tenants.js';
import { basic, BACKENDS, FORM_HEADERS, form, PUBLIC_URL, startTestApp, type TestApp } from './helpers.js';

const HOST = 'auth.acme.example';
const ACME = `https://${HOST}/realms/acme`;
const MAIN_HOST = new URL(PUBLIC_URL).host;
const DISCOVERY = '/.well-known/openid-configuration';

describe.each(BACKENDS)('tenant hostnames on %s', (backend) => {
  let t: TestApp;
  let cc: { id: string; secret: string };

  beforeAll(async () => {
    t = await startTestApp(backend, { config: { trustedProxies: ['10.0.0.0/8'] } });
    await createTenant(t.deps, { id: 'acme' });
    await createTenant(t.deps, { id: 'beta' });
    await updateTenant(t.deps, 'acme', { hostname: HOST });
    const { client, secret } = await createClient(t.deps, 'acme', { name: 'svc', grantTypes: ['client_credentials'], scopes: ['read:things'] }, 86400);
    cc = { id: client.clientId, secret: secret! };
  });
  afterAll(() => t?.close());

  const get = (url: string, host: string, headers: Record<string, string> = {}) => t.app.inject({ method: 'GET', url, headers: { host, ...headers } });
  /** Beta's discovery (no hostname) with its issuer swapped: the document a hostname tenant must serve. */
  const expectedDiscovery = async (issuer: string) => {
    const beta = await get(`/realms/beta${DISCOVERY}`, MAIN_HOST);
    expect(beta.statusCode).toBe(200);
    return JSON.parse(beta.body.replaceAll(`${PUBLIC_URL}/realms/beta`, issuer));
  };

  it('serves discovery on the hostname with the hostname issuer and endpoints', async () => {
    const r = await get(`/realms/acme${DISCOVERY}`, HOST);
    expect({ status: r.statusCode, body: r.json() }).toEqual({ status: 200, body: await expectedDiscovery(ACME) });
    expect(r.json()).toMatchObject({ issuer: ACME, token_endpoint: `${ACME}/protocol/openid-connect/token`, jwks_uri: `${ACME}/protocol/openid-connect/certs` });
    // The legacy prefix and RFC 8414 §3.1's placement hold on the hostname too.
    const legacy = await get(`/auth/realms/acme${DISCOVERY}`, HOST);
    expect({ status: legacy.statusCode, location: legacy.headers.location }).toEqual({ status: 308, location: `${ACME}${DISCOVERY}` });
    const rfc8414 = await get('/.well-known/oauth-authorization-server/realms/acme', HOST);
    expect({ status: rfc8414.statusCode, issuer: rfc8414.json().issuer }).toEqual({ status: 200, issuer: ACME });
  });

  it('issues tokens there whose iss is the hostname issuer, verifiable with the JWKS there', async () => {
    const r = await t.app.inject({
      method: 'POST', url: '/realms/acme/protocol/openid-connect/token', headers: { host: HOST, authorization: basic(cc.id, cc.secret), ...FORM_HEADERS },
      payload: form({ grant_type: 'client_credentials', scope: 'read:things' }),
    });
    expect({ status: r.statusCode, body: r.json() }).toEqual({
      status: 200, body: { access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600, scope: 'read:things', 'not-before-policy': 0 },
    });
    const jwks = await get('/realms/acme/protocol/openid-connect/certs', HOST);
    const { payload } = await jwtVerify(r.json().access_token, createLocalJWKSet(jwks.json()), { issuer: ACME });
    // With no API named, `aud` is the tenant's default audience, derived from its issuer.
    expect(payload).toMatchObject({ iss: ACME, aud: `${ACME}/api`, client_id: cc.id, scope: 'read:things' });
  });

  it('answers 308 to the canonical URL for metadata and pages reached through the main host, and serves API calls with the one issuer', async () => {
    const discovery = await get(`/realms/acme${DISCOVERY}`, MAIN_HOST);
    expect({ status: discovery.statusCode, location: discovery.headers.location }).toEqual({ status: 308, location: `${ACME}${DISCOVERY}` });
    const legacy = await get(`/auth/realms/acme${DISCOVERY}`, MAIN_HOST);
    expect({ status: legacy.statusCode, location: legacy.headers.location }).toEqual({ status: 308, location: `${ACME}${DISCOVERY}` });
    const rfc8414 = await get('/.well-known/oauth-authorization-server/realms/acme', MAIN_HOST);
    expect({ status: rfc8414.statusCode, location: rfc8414.headers.location }).toEqual({ status: 308, location: `${ACME}/.well-known/oauth-authorization-server` });
    const authorize = await get('/realms/acme/protocol/openid-connect/auth?client_id=x&response_type=code', MAIN_HOST);
    expect({ status: authorize.statusCode, location: authorize.headers.location }).toEqual({
      status: 308, location: `${ACME}/protocol/openid-connect/auth?client_id=x&response_type=code`,
    });
    const token = await t.app.inject({
      method: 'POST', url: '/realms/acme/protocol/openid-connect/token', headers: { host: MAIN_HOST, authorization: basic(cc.id, cc.secret), ...FORM_HEADERS },
      payload: form({ grant_type: 'client_credentials', scope: 'read:things' }),
    });
    expect(token.statusCode).toBe(200);
    const jwks = await get('/realms/acme/protocol/openid-connect/certs', HOST);
    expect((await jwtVerify(token.json().access_token, createLocalJWKSet(jwks.json()), { issuer: ACME })).payload.iss).toBe(ACME);
    // Tenants without a hostname are untouched.
    const beta = await get(`/realms/beta${DISCOVERY}`, MAIN_HOST);
    expect({ status: beta.statusCode, issuer: beta.json().issuer }).toEqual({ status: 200, issuer: `${PUBLIC_URL}/realms/beta` });
  });

  it("answers 404 for another tenant's paths on a tenant's hostname, aliases of default included", async () => {
    const notFound = (id: string) => ({ status: 404, body: { error: 'not_found', error_description: `tenant "${id}" does not exist` } });
    for (const url of [`/realms/beta${DISCOVERY}`, `/auth/realms/default${DISCOVERY}`, DISCOVERY, '/.well-known/jwks.json', '/realms/beta/protocol/openid-connect/certs']) {
      const r = await get(url, HOST);
      expect({ url, status: r.statusCode, body: r.json() }).toEqual({ url, ...notFound(url.includes('beta') ? 'beta' : 'default') });
    }
    const page = await get('/authorize?client_id=x', HOST);
    expect({ status: page.statusCode, type: page.headers['content-type'] }).toEqual({ status: 404, type: 'text/html; charset=utf-8' });
  });

  it('honours X-Forwarded-Host only from a trusted proxy', async () => {
    const viaProxy = await get(`/realms/acme${DISCOVERY}`, MAIN_HOST, { 'x-forwarded-host': HOST, 'x-forwarded-proto': 'https' });
    const trusted = await t.app.inject({ method: 'GET', url: `/realms/acme${DISCOVERY}`, remoteAddress: '10.1.2.3', headers: { host: MAIN_HOST, 'x-forwarded-host': HOST } });
    expect({ status: trusted.statusCode, body: trusted.json() }).toEqual({ status: 200, body: await expectedDiscovery(ACME) });
    const untrusted = await t.app.inject({ method: 'GET', url: `/realms/acme${DISCOVERY}`, remoteAddress: '203.0.113.9', headers: { host: MAIN_HOST, 'x-forwarded-host': HOST } });
    expect({ status: untrusted.statusCode, location: untrusted.headers.location }).toEqual({ status: 308, location: `${ACME}${DISCOVERY}` });
    // app.inject comes from 127.0.0.1, which is not among the trusted proxies here.
    expect(viaProxy.statusCode).toBe(308);
    const spoofed = await t.app.inject({ method: 'GET', url: `/realms/beta${DISCOVERY}`, remoteAddress: '203.0.113.9', headers: { host: MAIN_HOST, 'x-forwarded-host': HOST } });
    expect({ status: spoofed.statusCode, issuer: spoofed.json().issuer }).toEqual({ status: 200, issuer: `${PUBLIC_URL}/realms/beta` });
  });

  it('refuses invalid and taken hostnames, keeps one per tenant, and serves under the public URL again once cleared', async () => {
    const refusals = await Promise.all(
      ['Auth.Acme.Example', 'auth.acme.example:443', 'https://auth.acme.example', 'auth.acme.example/realms', 'localhost', '-bad.example', 'a..example', 'acme.example.'].map((h) =>
        updateTenant(t.deps, 'beta', { hostname: h }).then(() => 'accepted', (err: Error) => err.message)),
    );
    expect(new Set(refusals)).toEqual(new Set(['hostname must be a lowercase DNS name such as auth.example.com, without scheme, port or path']));
    await expect(updateTenant(t.deps, 'beta', { hostname: HOST })).rejects.toThrow(`hostname ${HOST} already exists`);
    await expect(updateTenant({ ...t.deps, publicUrl: PUBLIC_URL }, 'beta', { hostname: MAIN_HOST })).rejects.toThrow("hostname tessera.test is the public URL's host, which serves every tenant");
    await createTenant(t.deps, { id: 'admin' });
    await expect(updateTenant(t.deps, 'admin', { hostname: 'ops.acme.example' })).rejects.toThrow('the admin tenant cannot have its own hostname');

    await updateTenant(t.deps, 'beta', { hostname: 'beta.example.net' });
    const beta = await get(`/realms/beta${DISCOVERY}`, 'beta.example.net');
    expect(beta.json().issuer).toBe('https://beta.example.net/realms/beta');
    const cleared = await updateTenant(t.deps, 'beta', { hostname: '' });
    expect(cleared.hostname).toBeNull();
    const back = await get(`/realms/beta${DISCOVERY}`, MAIN_HOST);
    expect({ status: back.statusCode, issuer: back.json().issuer }).toEqual({ status: 200, issuer: `${PUBLIC_URL}/realms/beta` });
  });

  it('builds http issuers keeping the port only for plain-http loopback development', () => {
    const tenant = { id: 'acme', hostname: 'acme.localtest.me' };
    expect(issuerOf('http://localhost:9000', tenant)).toBe('http://acme.localtest.me:9000/realms/acme');
    expect(issuerOf('http://127.0.0.1', tenant)).toBe('http://acme.localtest.me/realms/acme');
    expect(issuerOf('https://auth.example.com:8443', tenant)).toBe('https://acme.localtest.me/realms/acme');
    expect(issuerOf('http://tessera.test', tenant)).toBe('https://acme.localtest.me/realms/acme');
    expect(issuerOf('http://localhost:9000', { id: 'acme', hostname: null })).toBe('http://localhost:9000/realms/acme');
  });
});
