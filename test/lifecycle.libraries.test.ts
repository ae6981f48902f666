/**
 * A token's life as openid-client v6 drives it against `tessera start` (DESIGN.md §1 "Client
 * libraries that must work unchanged"): refresh (`refreshTokenGrant`), introspection
 * (`tokenIntrospection`, by the client and by an API with the credentials `tessera api create`
 * printed) and revocation (`tokenRevocation`), all found through discovery.
 * Needs the compiled dist/ (`npm test` builds it first).
 */
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';
import { formOf } from './support/inject_browser.js';
import { startServer, type TesseraServer, waitForScope } from './support/server.js';
import { createUser, type CreatedUser } from './support/users.js';

const API = 'https://api.loomai.com/';
const RP = 'https://rp.example.test';
const ALICE = { username: 'alice', password: 'correct horse battery', name: 'Alice Liddell' };

/** Signs alice in and allows the consent over fetch, cookies kept; returns where Tessera redirects. */
async function authorize(url: string): Promise<string> {
  const cookies = new Map<string, string>();
  const request = async (target: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (cookies.size) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    return res;
  };
  const post = (target: string, fields: Record<string, string>) =>
    request(target, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
  const login = formOf(await (await request(url)).text());
  const consentPage = await post(new URL(login.action, url).href, { ...login.fields, username: ALICE.username, password: ALICE.password });
  const consent = formOf(await consentPage.text());
  const done = await post(new URL(consent.action, url).href, { ...consent.fields, decision: 'allow' });
  expect(done.status).toBe(303);
  return done.headers.get('location')!;
}

describe.each(BACKENDS)('openid-client: refresh, introspection and revocation on %s', (backend) => {
  let server: TesseraServer;
  let alice: CreatedUser;
  let rp: { client_id: string; client_secret: string };
  let api: { client_id: string; client_secret: string; audience: string };

  beforeAll(async () => {
    server = await startServer({ backend, publicUrl: (port) => `http://127.0.0.1:${port}` });
    try {
      api = await server.cli('api', 'create', '--tenant', 'default', '--audience', API, '--scope', 'read:avatars=Read your avatars');
      [rp, alice] = await Promise.all([
        server.cli('client', 'create', '--tenant', 'default', '--name', 'Relying Party', '--redirect-uri', `${RP}/cb`, '--grant-types', 'authorization_code,refresh_token', '--scopes', 'read:avatars'),
        createUser(server, ALICE),
      ]);
      await waitForScope(server.issuer, 'read:avatars');
    } catch (err) {
      await server.stop();
      throw err;
    }
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('refreshes, introspects (as the client and as the API) and revokes with openid-client', async () => {
    const config = await client.discovery(new URL(server.issuer), rp.client_id, rp.client_secret, undefined, { execute: [client.allowInsecureRequests] });
    expect(config.serverMetadata()).toMatchObject({
      revocation_endpoint: `${server.issuer}/protocol/openid-connect/revoke`,
      introspection_endpoint: `${server.issuer}/protocol/openid-connect/token/introspect`,
    });
    const pkceCodeVerifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: `${RP}/cb`, scope: 'offline_access read:avatars',
      code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier), code_challenge_method: 'S256',
    });
    const first = await client.authorizationCodeGrant(config, new URL(await authorize(url.href)), { pkceCodeVerifier, idTokenExpected: false });
    expect(first.refresh_token).toEqual(expect.any(String));

    const refreshed = await client.refreshTokenGrant(config, first.refresh_token!);
    expect(refreshed).toMatchObject({ token_type: 'bearer', expires_in: 3600, scope: 'offline_access read:avatars', refresh_token: expect.any(String) });
    expect(refreshed.refresh_token).not.toBe(first.refresh_token);

    const asClient = await client.tokenIntrospection(config, refreshed.access_token);
    expect(asClient).toMatchObject({ active: true, client_id: rp.client_id, sub: alice.id, aud: API, scope: 'offline_access read:avatars', token_type: 'Bearer', iss: server.issuer });
    const apiConfig = await client.discovery(new URL(server.issuer), api.client_id, api.client_secret, undefined, { execute: [client.allowInsecureRequests] });
    expect(await client.tokenIntrospection(apiConfig, refreshed.access_token)).toEqual(asClient);
    expect(await client.tokenIntrospection(config, refreshed.refresh_token!, { token_type_hint: 'refresh_token' })).toMatchObject({ active: true, client_id: rp.client_id, sub: alice.id });

    // Revoking the refresh token ends the grant: its access tokens and the whole family.
    await client.tokenRevocation(config, refreshed.refresh_token!, { token_type_hint: 'refresh_token' });
    expect(await client.tokenIntrospection(config, refreshed.access_token)).toEqual({ active: false });
    expect(await client.tokenIntrospection(apiConfig, first.access_token)).toEqual({ active: false });
    await expect(client.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ code: 'OAUTH_RESPONSE_BODY_ERROR', error: 'invalid_grant' });
    const validate = await fetch(`${server.issuer}/protocol/openid-connect/validate`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
    expect(validate.status).toBe(401);
    // An unknown token is no error (RFC 7009 §2.2).
    await client.tokenRevocation(config, 'not-a-token');
  });
});
