/**
 * DPoP (RFC 9449) as oauth4webapi drives it against `tessera start`: its `DPoP()` handle makes
 * the proofs, it learns the server's nonce from a `use_dpop_nonce` answer and the client
 * retries (`isDPoPNonceError`), as its documentation says. A public client runs the code flow
 * with `dpop_jkt`, refreshes and calls userinfo and /validate; a confidential client registered
 * with `--dpop-bound` gets a client_credentials token and introspects it. Needs the compiled
 * dist/ (`npm test` builds it first).
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';
import { formOf } from './support/inject_browser.js';
import { startServer, type TesseraServer, waitForScope } from './support/server.js';
import { createUser, type CreatedUser } from './support/users.js';

const API = 'https://api.loomai.com/';
const REDIRECT = 'https://rp.example.test/cb';
const ALICE = { username: 'alice', password: 'correct horse battery' };
const insecure = { [oauth.allowInsecureRequests]: true };

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
  const consent = formOf(await (await post(new URL(login.action, url).href, { ...login.fields, ...ALICE })).text());
  const done = await post(new URL(consent.action, url).href, { ...consent.fields, decision: 'allow' });
  expect(done.status).toBe(303);
  return done.headers.get('location')!;
}

describe.each(BACKENDS)('oauth4webapi: DPoP with nonce retry on %s', (backend) => {
  let server: TesseraServer;
  let alice: CreatedUser;
  let spa: { client_id: string };
  let svc: { client_id: string; client_secret: string };
  let as: oauth.AuthorizationServer;
  /** How often a request had to be retried after use_dpop_nonce. */
  let retries = 0;

  /** oauth4webapi's documented pattern: the handle caches the nonce of a use_dpop_nonce answer; retry once. */
  async function withNonceRetry<T>(send: () => Promise<Response>, process: (res: Response) => Promise<T>): Promise<T> {
    try {
      return await process(await send());
    } catch (err) {
      if (!oauth.isDPoPNonceError(err)) throw err;
      retries++;
      return process(await send());
    }
  }

  beforeAll(async () => {
    server = await startServer({ backend, publicUrl: (port) => `http://127.0.0.1:${port}` });
    try {
      await server.cli('api', 'create', '--tenant', 'default', '--audience', API, '--scope', 'read:avatars=Read your avatars');
      [spa, svc, alice] = await Promise.all([
        server.cli('client', 'create', '--tenant', 'default', '--name', 'DPoP SPA', '--public', '--redirect-uri', REDIRECT, '--grant-types', 'authorization_code,refresh_token', '--scopes', 'read:avatars'),
        server.cli('client', 'create', '--tenant', 'default', '--name', 'DPoP Service', '--grant-types', 'client_credentials', '--scopes', 'read:avatars', '--dpop-bound'),
        createUser(server, ALICE),
      ]);
      await waitForScope(server.issuer, 'read:avatars');
      const issuer = new URL(server.issuer);
      as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
    } catch (err) {
      await server.stop();
      throw err;
    }
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('runs the code flow with dpop_jkt, refreshes and calls userinfo and validate, retrying once for the nonce', async () => {
    expect(as.dpop_signing_alg_values_supported).toContain('ES256');
    const client: oauth.Client = { client_id: spa.client_id };
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const jkt = await DPoP.calculateThumbprint();
    const verifier = oauth.generateRandomCodeVerifier();
    const url = new URL(as.authorization_endpoint!);
    for (const [k, v] of Object.entries({
      client_id: client.client_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid offline_access read:avatars',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', dpop_jkt: jkt,
    })) url.searchParams.set(k, v);
    const callback = oauth.validateAuthResponse(as, client, new URL(await authorize(url.href)));

    retries = 0;
    const tokens = await withNonceRetry(
      () => oauth.authorizationCodeGrantRequest(as, client, oauth.None(), callback, REDIRECT, verifier, { DPoP, ...insecure }),
      (res) => oauth.processAuthorizationCodeResponse(as, client, res),
    );
    expect({ retries, token_type: tokens.token_type, refresh: typeof tokens.refresh_token }).toEqual({ retries: 1, token_type: 'dpop', refresh: 'string' });
    expect(oauth.getValidatedIdTokenClaims(tokens)?.sub).toBe(alice.id);

    // The handle holds the nonce now: the refresh needs no retry.
    const refreshed = await withNonceRetry(
      () => oauth.refreshTokenGrantRequest(as, client, oauth.None(), tokens.refresh_token!, { DPoP, ...insecure }),
      (res) => oauth.processRefreshTokenResponse(as, client, res),
    );
    expect({ retries, token_type: refreshed.token_type, scope: refreshed.scope }).toEqual({ retries: 1, token_type: 'dpop', scope: 'openid offline_access read:avatars' });

    const userinfo = await oauth.processUserInfoResponse(as, client, alice.id, await oauth.userInfoRequest(as, client, refreshed.access_token, { DPoP, ...insecure }));
    expect(userinfo).toEqual({ sub: alice.id });
    const validate = await oauth.protectedResourceRequest(refreshed.access_token, 'GET', new URL(`${server.issuer}/protocol/openid-connect/validate`), undefined, undefined, { DPoP, ...insecure });
    const body = await validate.json();
    // Real time passes on a real server: the token may be a second older than its issue.
    expect({ status: validate.status, body: { ...body, expires_in: body.expires_in >= 3598 && body.expires_in <= 3600 } }).toEqual({
      status: 200, body: { client_id: spa.client_id, sub: alice.id, scopes: ['openid', 'offline_access', 'read:avatars'], expires_in: true },
    });

    // Without the key the token is worthless: as a bearer token it is refused.
    const bearer = await fetch(`${server.issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
    expect({ status: bearer.status, body: await bearer.json() }).toEqual({
      status: 401, body: { error: 'invalid_token', error_description: 'the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof' },
    });
  });

  it('gets a client_credentials token for a --dpop-bound client after the nonce retry, and introspects it as DPoP-bound', async () => {
    const client: oauth.Client = { client_id: svc.client_id };
    const auth = oauth.ClientSecretBasic(svc.client_secret);
    const noProof = oauth.processClientCredentialsResponse(as, client, await oauth.clientCredentialsGrantRequest(as, client, auth, { scope: 'read:avatars' }, insecure));
    await expect(noProof).rejects.toMatchObject({ error: 'invalid_dpop_proof', status: 400 });

    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('EdDSA'));
    retries = 0;
    const tokens = await withNonceRetry(
      () => oauth.clientCredentialsGrantRequest(as, client, auth, { scope: 'read:avatars' }, { DPoP, ...insecure }),
      (res) => oauth.processClientCredentialsResponse(as, client, res),
    );
    expect({ retries, token_type: tokens.token_type, scope: tokens.scope }).toEqual({ retries: 1, token_type: 'dpop', scope: 'read:avatars' });
    const introspected = await oauth.processIntrospectionResponse(as, client, await oauth.introspectionRequest(as, client, auth, tokens.access_token, insecure));
    expect(introspected).toEqual({
      active: true, scope: 'read:avatars', client_id: svc.client_id, sub: svc.client_id, aud: API, exp: expect.any(Number), iat: expect.any(Number),
      iss: server.issuer, token_type: 'DPoP', jti: expect.any(String), cnf: { jkt: await DPoP.calculateThumbprint() },
    });
  });
});
