import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../src/manage/apis.js';
import { createTenant } from '../src/manage/tenants.js';
import { BACKENDS, PUBLIC_URL, startTestApp, type TestApp } from './helpers.js';

const ISSUER = `${PUBLIC_URL}/realms/default`;
/** RFC 7523 client assertions: asymmetric algorithms only (no none, no HS*). */
const ASSERTION_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

describe.each(BACKENDS)('discovery and JWKS on %s', (backend) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(backend);
    await createApi(t.deps, 'default', { audience: 'https://api.loomai.com/', scopes: ['read:avatars', 'write:avatars'] }, 86400);
    await createTenant(t.deps, { id: 'acme' });
  });
  afterAll(() => t?.close());

  const expectedMetadata = (issuer: string, scopes: string[]) => ({
    issuer,
    authorization_endpoint: `${issuer}/protocol/openid-connect/auth`,
    token_endpoint: `${issuer}/protocol/openid-connect/token`,
    userinfo_endpoint: `${issuer}/protocol/openid-connect/userinfo`,
    revocation_endpoint: `${issuer}/protocol/openid-connect/revoke`,
    introspection_endpoint: `${issuer}/protocol/openid-connect/token/introspect`,
    end_session_endpoint: `${issuer}/protocol/openid-connect/logout`,
    device_authorization_endpoint: `${issuer}/protocol/openid-connect/auth/device`,
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
    jwks_uri: `${issuer}/protocol/openid-connect/certs`,
    grant_types_supported: [
      'authorization_code', 'client_credentials', 'refresh_token', 'password', 'urn:ietf:params:oauth:grant-type:device_code',
      'urn:ietf:params:oauth:grant-type:token-exchange', 'implicit',
    ],
    response_types_supported: ['code', 'token', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token'],
    response_modes_supported: ['query', 'fragment', 'form_post', 'web_page'],
    code_challenge_methods_supported: ['S256'],
    dpop_signing_alg_values_supported: ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    token_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    revocation_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    introspection_endpoint_auth_signing_alg_values_supported: ASSERTION_ALGS,
    scopes_supported: ['openid', 'profile', 'email', 'offline_access', ...scopes],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256', 'ES256', 'EdDSA'],
    prompt_values_supported: ['none', 'login', 'consent'],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'azp', 'sid', 'at_hash', 'c_hash', 'amr', 'acr', 'preferred_username', 'name', 'email', 'email_verified', 'updated_at'],
    acr_values_supported: ['1', '2', 'http://schemas.openid.net/pape/policies/2007/06/multi-factor'],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
    pushed_authorization_request_endpoint: `${issuer}/protocol/openid-connect/ext/par/request`,
    require_pushed_authorization_requests: false,
    authorization_response_iss_parameter_supported: true,
  });


  it('serves OpenID and RFC 8414 metadata under the issuer, listing the tenant API scopes', async () => {
    for (const path of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
      const res = await t.app.inject({ url: `/realms/default${path}` });
      expect(res.statusCode).toBe(200);
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      expect(res.json()).toEqual(expectedMetadata(ISSUER, ['read:avatars', 'write:avatars']));
    }
  });

  it('serves RFC 8414 metadata at the path-inserted well-known URL (§3.1)', async () => {
    const res = await t.app.inject({ url: '/.well-known/oauth-authorization-server/realms/acme' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(expectedMetadata(`${PUBLIC_URL}/realms/acme`, []));
  });

  it('answers discovery under an alias with 308 to the canonical URL (one issuer per tenant)', async () => {
    const cases: [string, string][] = [
      ['/auth/realms/default/.well-known/openid-configuration', `${ISSUER}/.well-known/openid-configuration`],
      ['/auth/realms/acme/.well-known/oauth-authorization-server', `${PUBLIC_URL}/realms/acme/.well-known/oauth-authorization-server`],
      ['/.well-known/openid-configuration', `${ISSUER}/.well-known/openid-configuration`],
      ['/.well-known/oauth-authorization-server', `${ISSUER}/.well-known/oauth-authorization-server`],
    ];
    for (const [from, to] of cases) {
      const res = await t.app.inject({ url: from });
      expect({ from, status: res.statusCode, location: res.headers.location }).toEqual({ from, status: 308, location: to });
    }
  });

  it('answers 404 JSON for an unknown tenant, on canonical paths and aliases', async () => {
    for (const url of ['/realms/nope/.well-known/openid-configuration', '/auth/realms/nope/.well-known/openid-configuration', '/realms/nope/protocol/openid-connect/certs']) {
      const res = await t.app.inject({ url });
      expect({ url, status: res.statusCode, body: res.json() }).toEqual({ url, status: 404, body: { error: 'not_found', error_description: 'tenant "nope" does not exist' } });
    }
  });

  it('publishes public keys only, with unique kids, ES256 for access and RS256 for ID tokens', async () => {
    const res = await t.app.inject({ url: '/realms/default/protocol/openid-connect/certs' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('public, max-age=300');
    expect(res.headers['access-control-allow-origin']).toBe('*');
    const { keys } = res.json();
    expect(keys.map((k: { alg: string }) => k.alg)).toEqual(['ES256', 'RS256']);
    expect(new Set(keys.map((k: { kid: string }) => k.kid)).size).toBe(keys.length);
    for (const k of keys) {
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) expect(k[member]).toBeUndefined();
      expect(k.use).toBe('sig');
    }
    const aliases = await t.app.inject({ url: '/.well-known/jwks.json' });
    expect(aliases.json()).toEqual(res.json());
  });

  it("does not show one tenant's keys in another's JWKS", async () => {
    const a = (await t.app.inject({ url: '/realms/default/protocol/openid-connect/certs' })).json().keys.map((k: { kid: string }) => k.kid);
    const b = (await t.app.inject({ url: '/realms/acme/protocol/openid-connect/certs' })).json().keys.map((k: { kid: string }) => k.kid);
    expect(b).toHaveLength(2);
    expect(a.filter((kid: string) => b.includes(kid))).toEqual([]);
  });

  it('answers 405 with Allow for a POST to discovery', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/realms/default/.well-known/openid-configuration' });
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET');
    expect(res.json()).toEqual({ error: 'method_not_allowed', error_description: 'use GET for this endpoint' });
  });
});
