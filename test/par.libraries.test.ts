/**
 * Pushed authorization requests (RFC 9126) as the Node libraries users already have drive
 * them against `tessera start` (DESIGN.md §1 "Client libraries that must work unchanged"):
 * oauth4webapi pushes (`pushedAuthorizationRequest`, `processPushedAuthorizationResponse`)
 * and completes code + PKCE, for a confidential and a public client, and reads PAR errors;
 * openid-client's `buildAuthorizationUrlWithPAR` serves a client created with
 * `--require-par`. The person in the middle is plain fetch with a cookie jar.
 * Needs the compiled dist/ (`npm test` builds it first).
 */
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';
import { formOf } from './support/inject_browser.js';
import { startServer, type TesseraServer, waitForScope } from './support/server.js';
import { createUser, type CreatedUser } from './support/users.js';

const API = 'https://api.loomai.com/';
const RP = 'https://rp.example.test';
const ALICE = { username: 'alice', password: 'correct horse battery', name: 'Alice Liddell' };
const insecure = { [oauth.allowInsecureRequests]: true } as const;

/** A browser over fetch: keeps cookies, never follows redirects. */
function browser() {
  const cookies = new Map<string, string>();
  const request = async (url: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (cookies.size) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    return res;
  };
  const post = (url: string, fields: Record<string, string>) =>
    request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
  return {
    request,
    /** Signs alice in, allows the consent page if one is shown, and returns where Tessera redirects. */
    async authorize(url: string): Promise<string> {
      const login = await request(url);
      const loginHtml = await login.text();
      expect(login.status, loginHtml).toBe(200);
      const loginForm = formOf(loginHtml);
      let res = await post(new URL(loginForm.action, url).href, { ...loginForm.fields, username: ALICE.username, password: ALICE.password });
      if (res.status === 200) {
        const consent = formOf(await res.text());
        res = await post(new URL(consent.action, url).href, { ...consent.fields, decision: 'allow' });
      }
      expect(res.status, await res.clone().text()).toBe(303);
      return res.headers.get('location')!;
    },
  };
}

describe.each(BACKENDS)('pushed authorization requests with oauth4webapi and openid-client on %s', (backend) => {
  let server: TesseraServer;
  let alice: CreatedUser;
  let web: { client_id: string; client_secret: string };
  let spa: { client_id: string };
  let strict: { client_id: string; client_secret: string };
  let as: oauth.AuthorizationServer;

  beforeAll(async () => {
    server = await startServer({ backend, publicUrl: (port) => `http://127.0.0.1:${port}` });
    try {
      await server.cli('api', 'create', '--tenant', 'default', '--audience', API, '--scope', 'read:avatars=Read your avatars');
      [web, spa, strict, alice] = await Promise.all([
        server.cli('client', 'create', '--tenant', 'default', '--name', 'Relying Party', '--redirect-uri', `${RP}/cb`, '--scopes', 'read:avatars'),
        server.cli('client', 'create', '--tenant', 'default', '--name', 'Public App', '--public', '--redirect-uri', `${RP}/spa`, '--scopes', 'read:avatars'),
        server.cli('client', 'create', '--tenant', 'default', '--name', 'Strict App', '--require-par', '--redirect-uri', `${RP}/strict`, '--scopes', 'read:avatars'),
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

  /** oauth4webapi's PAR, then the authorization URL it leads to: client_id and request_uri only. */
  async function pushed(c: oauth.Client, auth: oauth.ClientAuth, parameters: Record<string, string>) {
    const response = await oauth.pushedAuthorizationRequest(as, c, auth, new URLSearchParams(parameters), insecure);
    const result = await oauth.processPushedAuthorizationResponse(as, c, response);
    const url = new URL(as.authorization_endpoint!);
    url.searchParams.set('client_id', c.client_id);
    url.searchParams.set('request_uri', result.request_uri);
    return { result, url };
  }

  it('pushes with oauth4webapi (client_secret_basic), then completes code + PKCE; the request_uri works once', async () => {
    expect(as.pushed_authorization_request_endpoint).toBe(`${server.issuer}/protocol/openid-connect/ext/par/request`);
    const c: oauth.Client = { client_id: web.client_id };
    const auth = oauth.ClientSecretBasic(web.client_secret);
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const { result, url } = await pushed(c, auth, {
      response_type: 'code', redirect_uri: `${RP}/cb`, scope: 'read:avatars', state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    expect(result).toEqual({ request_uri: expect.stringMatching(/^urn:ietf:params:oauth:request_uri:[0-9a-f]{12}[A-Za-z0-9_-]{43}$/), expires_in: 60 });

    const b = browser();
    const location = new URL(await b.authorize(url.href));
    const params = oauth.validateAuthResponse(as, c, location, state);
    const response = await oauth.authorizationCodeGrantRequest(as, c, auth, params, `${RP}/cb`, verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, c, response);
    expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: 3600, scope: 'read:avatars', access_token: expect.any(String) });

    // RFC 9126 §4: one-time use — the same browser, already signed in, gets a page, not a code.
    const again = await b.request(url.href);
    expect({ status: again.status, location: again.headers.get('location') }).toEqual({ status: 400, location: null });
    expect(await again.text()).toContain('request_uri was already used; push the authorization request again');
  });

  it('pushes for a public client with oauth4webapi (None, PKCE) and redeems the code', async () => {
    const c: oauth.Client = { client_id: spa.client_id, token_endpoint_auth_method: 'none' };
    const verifier = oauth.generateRandomCodeVerifier();
    const { url } = await pushed(c, oauth.None(), {
      response_type: 'code', redirect_uri: `${RP}/spa`, scope: 'read:avatars',
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const params = oauth.validateAuthResponse(as, c, new URL(await browser().authorize(url.href)), oauth.expectNoState);
    const tokens = await oauth.processAuthorizationCodeResponse(as, c, await oauth.authorizationCodeGrantRequest(as, c, oauth.None(), params, `${RP}/spa`, verifier, insecure));
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read:avatars' });
  });

  it('gives oauth4webapi PAR errors it understands: invalid_client (a challenge), invalid_request, request_not_supported', async () => {
    const c: oauth.Client = { client_id: web.client_id };
    const base = { response_type: 'code', redirect_uri: `${RP}/cb`, scope: 'read:avatars' };
    const attempt = async (auth: oauth.ClientAuth, parameters: Record<string, string>) =>
      oauth.processPushedAuthorizationResponse(as, c, await oauth.pushedAuthorizationRequest(as, c, auth, new URLSearchParams(parameters), insecure));

    await expect(attempt(oauth.ClientSecretBasic('wrong'), base)).rejects.toMatchObject({
      code: 'OAUTH_WWW_AUTHENTICATE_CHALLENGE', cause: [{ scheme: 'basic', parameters: { realm: 'default', charset: 'UTF-8' } }],
    });
    const good = oauth.ClientSecretBasic(web.client_secret);
    await expect(attempt(good, { ...base, request_uri: 'urn:ietf:params:oauth:request_uri:x' })).rejects.toMatchObject({
      code: 'OAUTH_RESPONSE_BODY_ERROR', status: 400, error: 'invalid_request', error_description: 'request_uri must not be sent to the pushed authorization request endpoint',
    });
    await expect(attempt(good, { ...base, redirect_uri: 'https://evil.example/cb' })).rejects.toMatchObject({
      code: 'OAUTH_RESPONSE_BODY_ERROR', status: 400, error: 'invalid_request', error_description: 'redirect_uri is not registered for this client',
    });
    await expect(attempt(good, { ...base, request: 'eyJhbGciOiJub25lIn0.e30.' })).rejects.toMatchObject({
      code: 'OAUTH_RESPONSE_BODY_ERROR', status: 400, error: 'request_not_supported', error_description: 'request objects are not supported',
    });
  });

  it('serves a --require-par client through openid-client buildAuthorizationUrlWithPAR; its plain authorization URL is refused', async () => {
    const config = await client.discovery(new URL(server.issuer), strict.client_id, strict.client_secret, undefined, { execute: [client.allowInsecureRequests] });
    const plain = client.buildAuthorizationUrl(config, { redirect_uri: `${RP}/strict`, scope: 'read:avatars', state: 'plain' });
    const refused = await fetch(plain, { redirect: 'manual' });
    expect({ status: refused.status, location: refused.headers.get('location') }).toEqual({
      status: 302,
      location: `${RP}/strict?${new URLSearchParams({ error: 'invalid_request', error_description: 'this client must use pushed authorization requests', state: 'plain', iss: server.issuer })}`,
    });

    const pkceCodeVerifier = client.randomPKCECodeVerifier();
    const expectedState = client.randomState();
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: `${RP}/strict`, scope: 'read:avatars', state: expectedState,
      code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier), code_challenge_method: 'S256',
    });
    expect([...url.searchParams.keys()].sort()).toEqual(['client_id', 'request_uri']);
    const tokens = await client.authorizationCodeGrant(config, new URL(await browser().authorize(url.href)), { pkceCodeVerifier, expectedState });
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read:avatars' });
    const info = await client.tokenIntrospection(config, tokens.access_token);
    expect(info).toMatchObject({ active: true, client_id: strict.client_id, sub: alice.id, aud: API });
  });
});
