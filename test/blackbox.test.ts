/**
 * Black-box tests: `tessera start` as a child process, clients made with the CLI, and the
 * server driven by libraries users already have (openid-client, oauth4webapi, jose) and by
 * plain fetch (DESIGN.md §1 "Client libraries that must work unchanged", URL layout, aliases).
 * Needs the compiled dist/ (`npm test` builds it first).
 */
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';
import { startServer, within, type TesseraServer } from './support/server.js';

const ID = expect.stringMatching(/^[A-Za-z0-9_-]{22}$/);
const OPAQUE = /^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/; // a millisecond time prefix, then 256 bits in base64url
const nowSeconds = () => Math.floor(Date.now() / 1000);
const recent = () => expect.toSatisfy((v: unknown) => Number.isInteger(v) && Math.abs((v as number) - nowSeconds()) < 60, 'a time in seconds close to now');

interface Created {
  client_id: string;
  client_secret: string;
}

describe.each(BACKENDS)('black box on %s', (backend) => {
  let server: TesseraServer | undefined;
  let base: string;
  let issuer: string;
  let svc: Created;
  let opaque: Created;
  const cli = (...args: string[]) => server!.cli(...args);

  const tokenRequest = (path: string, id: string, secret: string, params: Record<string, string>) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', ...params }),
    });

  beforeAll(async () => {
    server = await startServer({ backend, publicUrl: (port) => `http://127.0.0.1:${port}` });
    base = server.baseUrl;
    issuer = server.issuer;
    try {
      [svc, opaque] = await Promise.all([
        cli('client', 'create', '--tenant', 'default', '--name', 'svc', '--grant-types', 'client_credentials', '--scopes', 'read:avatars write:avatars'),
        cli('client', 'create', '--tenant', 'default', '--name', 'opaque', '--grant-types', 'client_credentials', '--scopes', 'read:avatars', '--access-token-format', 'opaque'),
      ]);
    } catch (err) {
      await server.stop();
      throw err;
    }
  });

  afterAll(async () => {
    await server?.stop();
  });

  /** Verifies an access token as an API would (RFC 9068), with the tenant's published keys. */
  async function verifyAccessToken(token: string, tenantIssuer: string, audience: string) {
    const jwks = createRemoteJWKSet(new URL(`${tenantIssuer}/protocol/openid-connect/certs`));
    return jwtVerify(token, jwks, { issuer: tenantIssuer, audience, typ: 'at+jwt', algorithms: ['ES256', 'EdDSA', 'RS256'] });
  }

  it('serves openid-client: discovery, client credentials, and a JWT access token that verifies with jose', async () => {
    const config = await client.discovery(new URL(issuer), svc.client_id, svc.client_secret, undefined, { execute: [client.allowInsecureRequests] });
    expect(config.serverMetadata()).toMatchObject({
      issuer,
      token_endpoint: `${issuer}/protocol/openid-connect/token`,
      jwks_uri: `${issuer}/protocol/openid-connect/certs`,
      grant_types_supported: expect.arrayContaining(['client_credentials']),
    });

    const tokens = await client.clientCredentialsGrant(config, { scope: 'read:avatars' });
    expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: 3600, scope: 'read:avatars' });
    expect(tokens.refresh_token).toBeUndefined();
    expect(tokens.id_token).toBeUndefined();

    const { payload, protectedHeader } = await verifyAccessToken(tokens.access_token, issuer, `${issuer}/api`);
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: expect.any(String) });
    expect(payload).toEqual({
      iss: issuer,
      sub: svc.client_id,
      aud: `${issuer}/api`,
      client_id: svc.client_id,
      scope: 'read:avatars',
      iat: recent(),
      exp: payload.iat! + 3600,
      jti: ID,
    });
  });

  it('serves oauth4webapi: RFC 8414 discovery at the path-inserted well-known URL, client credentials', async () => {
    const issuerUrl = new URL(issuer);
    const response = await oauth.discoveryRequest(issuerUrl, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true });
    expect(response.status).toBe(200);
    expect(response.url).toBe(`${base}/.well-known/oauth-authorization-server/realms/default`);
    const as = await oauth.processDiscoveryResponse(issuerUrl, response);
    expect(as).toMatchObject({ issuer, token_endpoint: `${issuer}/protocol/openid-connect/token`, jwks_uri: `${issuer}/protocol/openid-connect/certs` });

    const c: oauth.Client = { client_id: svc.client_id };
    const tokenResponse = await oauth.clientCredentialsGrantRequest(as, c, oauth.ClientSecretBasic(svc.client_secret), new URLSearchParams({ scope: 'write:avatars' }), {
      [oauth.allowInsecureRequests]: true,
    });
    const tokens = await oauth.processClientCredentialsResponse(as, c, tokenResponse);
    expect(tokens).toEqual({ access_token: expect.any(String), token_type: 'bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'write:avatars' });

    const { payload } = await verifyAccessToken(tokens.access_token, as.issuer, `${issuer}/api`);
    expect(payload).toEqual({
      iss: issuer, sub: svc.client_id, aud: `${issuer}/api`, client_id: svc.client_id, scope: 'write:avatars', iat: recent(), exp: payload.iat! + 3600, jti: ID,
    });
  });

  it('gives a client registered for opaque tokens a 256-bit opaque value, not a JWT', async () => {
    const config = await client.discovery(new URL(issuer), opaque.client_id, opaque.client_secret, undefined, { execute: [client.allowInsecureRequests] });
    const tokens = await client.clientCredentialsGrant(config, { scope: 'read:avatars' });
    expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: 3600, scope: 'read:avatars' });
    expect(tokens.access_token).toMatch(OPAQUE);
    expect(() => decodeJwt(tokens.access_token)).toThrow();

    // Without a scope the client gets its registered ones.
    const r = await tokenRequest('/realms/default/protocol/openid-connect/token', opaque.client_id, opaque.client_secret, {});
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('pragma')).toBe('no-cache');
    expect(await r.json()).toEqual({ access_token: expect.stringMatching(OPAQUE), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'read:avatars' });
  });

  it('answers on the /oauth/token and /oauth2/token aliases with the same issuer; commas split scopes only on /oauth2/', async () => {
    const oauthAlias = await tokenRequest('/oauth/token', svc.client_id, svc.client_secret, { scope: 'read:avatars write:avatars' });
    expect(oauthAlias.status).toBe(200);
    const viaOauth = await oauthAlias.json();
    expect(viaOauth).toEqual({ access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'read:avatars write:avatars' });
    expect((await verifyAccessToken(viaOauth.access_token, issuer, `${issuer}/api`)).payload).toMatchObject({ iss: issuer, scope: 'read:avatars write:avatars' });

    // Pulsoid's documentation separates scopes with commas: accepted on its /oauth2/ aliases.
    const pulsoid = await tokenRequest('/oauth2/token', svc.client_id, svc.client_secret, { scope: 'read:avatars,write:avatars' });
    expect(pulsoid.status).toBe(200);
    const viaOauth2 = await pulsoid.json();
    expect(viaOauth2).toEqual({ access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'read:avatars write:avatars' });
    expect((await verifyAccessToken(viaOauth2.access_token, issuer, `${issuer}/api`)).payload).toMatchObject({ iss: issuer, scope: 'read:avatars write:avatars' });

    // Elsewhere a comma is a scope character (RFC 6749 §3.3): "read:avatars,write:avatars" is one scope the client does not have.
    for (const path of ['/oauth/token', '/realms/default/protocol/openid-connect/token', '/auth/realms/default/protocol/openid-connect/token']) {
      const r = await tokenRequest(path, svc.client_id, svc.client_secret, { scope: 'read:avatars,write:avatars' });
      expect({ path, status: r.status, body: await r.json() }).toEqual({
        path, status: 400, body: { error: 'invalid_scope', error_description: 'the client may not request scope read:avatars,write:avatars' },
      });
    }
  });

  it('redirects Keycloak-style legacy discovery (/auth/realms/…) with 308 to the one canonical URL', async () => {
    for (const doc of ['openid-configuration', 'oauth-authorization-server']) {
      const r = await fetch(`${base}/auth/realms/default/.well-known/${doc}`, { redirect: 'manual' });
      expect({ doc, status: r.status, location: r.headers.get('location') }).toEqual({ doc, status: 308, location: `${issuer}/.well-known/${doc}` });
    }
    // A client following the redirect sees the canonical issuer.
    const followed = await fetch(`${base}/auth/realms/default/.well-known/openid-configuration`);
    expect(followed.status).toBe(200);
    expect(followed.url).toBe(`${issuer}/.well-known/openid-configuration`);
    expect(await followed.json()).toMatchObject({ issuer });

    const unknown = await fetch(`${base}/auth/realms/nope/.well-known/openid-configuration`, { redirect: 'manual' });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: 'not_found', error_description: 'tenant "nope" does not exist' });
  });

  it('serves a tenant created with the CLI while running, with its own issuer, keys and clients', async () => {
    const acmeIssuer = `${base}/realms/acme`;
    const before = await fetch(`${acmeIssuer}/.well-known/openid-configuration`);
    expect(before.status).toBe(404);
    expect(await before.json()).toEqual({ error: 'not_found', error_description: 'tenant "acme" does not exist' });

    await cli('tenant', 'create', 'acme', '--display-name', 'Acme', '--default-audience', 'https://api.acme.example/');
    const acmeSvc: Created = await cli('client', 'create', '--tenant', 'acme', '--name', 'acme-svc', '--grant-types', 'client_credentials', '--scopes', 'read:avatars');

    const discovered = await within(2000, async () => {
      const r = await fetch(`${acmeIssuer}/.well-known/openid-configuration`);
      return r.status === 200 ? r.json() : undefined;
    });
    expect(discovered).toMatchObject({ issuer: acmeIssuer, token_endpoint: `${acmeIssuer}/protocol/openid-connect/token`, jwks_uri: `${acmeIssuer}/protocol/openid-connect/certs` });

    const config = await client.discovery(new URL(acmeIssuer), acmeSvc.client_id, acmeSvc.client_secret, undefined, { execute: [client.allowInsecureRequests] });
    expect(config.serverMetadata().issuer).toBe(acmeIssuer);
    const tokens = await client.clientCredentialsGrant(config, { scope: 'read:avatars' });
    // A scope of no API: aud is the tenant's default audience.
    const { payload } = await verifyAccessToken(tokens.access_token, acmeIssuer, 'https://api.acme.example/');
    expect(payload).toEqual({
      iss: acmeIssuer, sub: acmeSvc.client_id, aud: 'https://api.acme.example/', client_id: acmeSvc.client_id, scope: 'read:avatars',
      iat: recent(), exp: payload.iat! + 3600, jti: ID,
    });

    // Each tenant signs with its own keys: an acme token does not verify with default's JWKS.
    const [acmeJwks, defaultJwks] = await Promise.all([
      fetch(`${acmeIssuer}/protocol/openid-connect/certs`).then((r) => r.json()),
      fetch(`${issuer}/protocol/openid-connect/certs`).then((r) => r.json()),
    ]);
    const acmeKids = acmeJwks.keys.map((k: { kid: string }) => k.kid);
    expect(acmeKids).toContain(decodeProtectedHeader(tokens.access_token).kid);
    expect(defaultJwks.keys.map((k: { kid: string }) => k.kid).filter((kid: string) => acmeKids.includes(kid))).toEqual([]);
    await expect(jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${issuer}/protocol/openid-connect/certs`)))).rejects.toThrow();

    // A client exists in its own tenant only: another tenant's token endpoint does not know it.
    const cases = [
      { path: '/realms/default/protocol/openid-connect/token', who: acmeSvc, realm: 'default' },
      { path: '/oauth/token', who: acmeSvc, realm: 'default' },
      { path: '/realms/acme/protocol/openid-connect/token', who: svc, realm: 'acme' },
    ];
    for (const { path, who, realm } of cases) {
      const r = await tokenRequest(path, who.client_id, who.client_secret, { scope: 'read:avatars' });
      expect({ path, status: r.status, challenge: r.headers.get('www-authenticate'), body: await r.json() }).toEqual({
        path, status: 401, challenge: `Basic realm="${realm}", charset="UTF-8"`, body: { error: 'invalid_client', error_description: 'client authentication failed' },
      });
    }
  });

  it('signs with a key rotated in with the CLI (--now) within about 2 s, and drops a revoked key from the JWKS', async () => {
    const acmeIssuer = `${base}/realms/acme`;
    const certs = () => fetch(`${acmeIssuer}/protocol/openid-connect/certs`).then(async (r) => (await r.json()).keys.map((k: { kid: string }) => k.kid) as string[]);
    const acmeSvc: Created = await cli('client', 'create', '--tenant', 'acme', '--name', 'rotation', '--grant-types', 'client_credentials');
    const kidOfNewToken = async () => {
      const r = await tokenRequest('/realms/acme/protocol/openid-connect/token', acmeSvc.client_id, acmeSvc.client_secret, {});
      expect(r.status).toBe(200);
      return decodeProtectedHeader((await r.json()).access_token).kid!;
    };
    const oldKid = await kidOfNewToken();
    const { added } = await cli('keys', 'rotate', '--tenant', 'acme', '--now', '--purpose', 'access');
    expect(added).toEqual([expect.objectContaining({ purpose: 'access', status: 'active' })]);
    const newKid = added[0].kid;

    expect(await within(2500, async () => ((await kidOfNewToken()) === newKid ? true : undefined))).toBe(true);
    expect(await certs()).toEqual(expect.arrayContaining([oldKid, newKid]));

    await cli('keys', 'revoke', '--tenant', 'acme', '--', oldKid);
    expect(await within(2500, async () => ((await certs()).includes(oldKid) ? undefined : true))).toBe(true);
    expect(await certs()).toContain(newKid);
  });

  it('stops gracefully on SIGTERM with exit code 0, having logged no error', async () => {
    expect(await server!.stop()).toBe(0);
    // pino writes JSON lines; level 50 and above are errors.
    const errors = server!.output().split('\n').filter((line) => /"level":\s*(50|60)/.test(line));
    expect(errors).toEqual([]);
  });
});
