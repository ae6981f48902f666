/**
 * The sign-in flows as the Node libraries users already have see them, with every check the
 * libraries make on their own (DESIGN.md §1 "Client libraries that must work unchanged"):
 * openid-client v6 completes code + PKCE (state, nonce, RFC 9207 `iss`, ID token), and
 * oauth4webapi validates a hybrid `code id_token` response (signature, nonce, `c_hash`)
 * before the code exchange. The person in the middle is plain fetch: the authorization URL,
 * the login form, the consent form, with cookies kept and redirects not followed.
 * Needs the compiled dist/ (`npm test` builds it first).
 */
import * as oauth from 'oauth4webapi';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';
import { formOf } from './support/inject_browser.js';
import { startServer, type TesseraServer } from './support/server.js';
import { createUser, type CreatedUser } from './support/users.js';

const API = 'https://api.loomai.com/';
const RP = 'https://rp.example.test';
const ALICE = { username: 'alice', password: 'correct horse battery', email: 'alice@example.test', name: 'Alice Liddell' };
const nowSeconds = () => Math.floor(Date.now() / 1000);
const recent = () => expect.toSatisfy((v: unknown) => Number.isInteger(v) && Math.abs((v as number) - nowSeconds()) < 60, 'a time in seconds close to now');

/** A user agent over fetch: keeps cookies per name, never follows redirects (the test reads Location). */
class UserAgent {
  private readonly cookies = new Map<string, string>();

  async request(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  }

  post(url: string, fields: Record<string, string>): Promise<Response> {
    return this.request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
  }

  /**
   * The person's part of an authorization: sign in, allow if asked, and hand back where
   * Tessera redirects to. `consent: 'remembered'` expects no consent page (approved before).
   */
  async authorize(url: string, user: { username: string; password: string }, clientName: string, consent: 'asked' | 'remembered' = 'asked'): Promise<string> {
    const login = await this.request(url);
    const loginHtml = await login.text();
    expect(login.status, loginHtml).toBe(200);
    expect(loginHtml).toMatch(/<input[^>]+name="username"/);
    const loginForm = formOf(loginHtml);
    const signedIn = await this.post(new URL(loginForm.action, url).href, { ...loginForm.fields, username: user.username, password: user.password });
    if (consent === 'remembered') {
      expect(signedIn.status, await signedIn.clone().text()).toBe(303);
      return signedIn.headers.get('location')!;
    }
    const consentHtml = await signedIn.text();
    expect(signedIn.status, consentHtml).toBe(200);
    expect(consentHtml).toContain(clientName);
    expect(consentHtml).toMatch(/<button[^>]+name="decision"[^>]+value="allow"/);
    const consentForm = formOf(consentHtml);
    const done = await this.post(new URL(consentForm.action, url).href, { ...consentForm.fields, decision: 'allow' });
    expect(done.status, await done.clone().text()).toBe(303);
    return done.headers.get('location')!;
  }
}

describe.each(BACKENDS)('Node OIDC libraries through the sign-in pages on %s', (backend) => {
  let server: TesseraServer;
  let issuer: string;
  let alice: CreatedUser;
  let rp: { client_id: string; client_secret: string };
  let hybrid: { client_id: string; client_secret: string };

  beforeAll(async () => {
    server = await startServer({ backend, publicUrl: (port) => `http://127.0.0.1:${port}` });
    issuer = server.issuer;
    try {
      await server.cli('api', 'create', '--tenant', 'default', '--audience', API, '--scope', 'read:avatars=Read your avatars');
      [rp, hybrid, alice] = await Promise.all([
        server.cli('client', 'create', '--tenant', 'default', '--name', 'Relying Party', '--redirect-uri', `${RP}/cb`, '--grant-types', 'authorization_code', '--scopes', 'read:avatars'),
        server.cli('client', 'create', '--tenant', 'default', '--name', 'Hybrid App', '--redirect-uri', `${RP}/hybrid`, '--grant-types', 'authorization_code,implicit', '--scopes', 'read:avatars'),
        createUser(server, ALICE),
      ]);
    } catch (err) {
      await server.stop();
      throw err;
    }
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('completes code + PKCE with openid-client: its state, nonce, iss and ID token checks pass, then userinfo', async () => {
    const config = await client.discovery(new URL(issuer), rp.client_id, rp.client_secret, undefined, { execute: [client.allowInsecureRequests] });
    const pkceCodeVerifier = client.randomPKCECodeVerifier();
    const expectedState = client.randomState();
    const expectedNonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: `${RP}/cb`, scope: 'openid profile email read:avatars', state: expectedState, nonce: expectedNonce,
      code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier), code_challenge_method: 'S256',
    });
    expect(url.href.startsWith(`${issuer}/protocol/openid-connect/auth?`)).toBe(true);

    const location = await new UserAgent().authorize(url.href, ALICE, 'Relying Party');
    const callback = new URL(location);
    expect(`${callback.origin}${callback.pathname}`).toBe(`${RP}/cb`);
    expect(Object.fromEntries(callback.searchParams)).toEqual({ code: expect.any(String), state: expectedState, iss: issuer, session_state: expect.any(String) });

    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier, expectedState, expectedNonce, idTokenExpected: true });
    expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: 3600, scope: 'openid profile email read:avatars' });
    expect(tokens.refresh_token).toBeUndefined();
    const claims = tokens.claims()!;
    expect(claims).toMatchObject({
      iss: issuer, sub: alice.id, aud: rp.client_id, azp: rp.client_id, nonce: expectedNonce, iat: recent(), auth_time: recent(),
      at_hash: expect.any(String), sid: expect.any(String), preferred_username: 'alice', name: 'Alice Liddell', email: ALICE.email, email_verified: true,
    });

    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    expect(info).toEqual({ sub: alice.id, preferred_username: 'alice', name: 'Alice Liddell', updated_at: expect.any(Number), email: ALICE.email, email_verified: true });
  });

  it('gives openid-client an iss it insists on: a response without it, or from another issuer, is refused before any token request', async () => {
    const config = await client.discovery(new URL(issuer), rp.client_id, rp.client_secret, undefined, { execute: [client.allowInsecureRequests] });
    // Discovery says so (RFC 9207 §3), so the library requires the parameter.
    expect(config.serverMetadata().authorization_response_iss_parameter_supported).toBe(true);
    const pkceCodeVerifier = client.randomPKCECodeVerifier();
    const expectedState = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: `${RP}/cb`, scope: 'read:avatars', state: expectedState,
      code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier), code_challenge_method: 'S256',
    });
    // A confidential client with an https redirect URI: the consent given in the test before is remembered.
    const callback = new URL(await new UserAgent().authorize(url.href, ALICE, 'Relying Party', 'remembered'));

    const withoutIss = new URL(callback);
    withoutIss.searchParams.delete('iss');
    // openid-client wraps oauth4webapi's error: the cause names the parameter.
    await expect(client.authorizationCodeGrant(config, withoutIss, { pkceCodeVerifier, expectedState })).rejects.toMatchObject({
      code: 'OAUTH_INVALID_RESPONSE', cause: { message: expect.stringMatching(/"iss"/) },
    });
    const otherIss = new URL(callback);
    otherIss.searchParams.set('iss', 'http://127.0.0.1:1/realms/default');
    await expect(client.authorizationCodeGrant(config, otherIss, { pkceCodeVerifier, expectedState })).rejects.toMatchObject({
      cause: { message: expect.stringMatching(/"iss"/) },
    });

    // The code was not spent by the refused attempts: the genuine response still redeems it.
    const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier, expectedState });
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read:avatars' });
    expect(tokens.id_token).toBeUndefined();
  });

  it('validates a hybrid code id_token response with oauth4webapi (signature, nonce, c_hash), then exchanges the code', async () => {
    const issuerUrl = new URL(issuer);
    const as = await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, { [oauth.allowInsecureRequests]: true }));
    const c: oauth.Client = { client_id: hybrid.client_id };
    const redirectUri = `${RP}/hybrid`;
    const codeVerifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: c.client_id, redirect_uri: redirectUri, response_type: 'code id_token', scope: 'openid read:avatars', state, nonce,
      code_challenge: await oauth.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256',
    }).toString();

    const location = new URL(await new UserAgent().authorize(url.href, ALICE, 'Hybrid App'));
    // OIDC Core §3.3.2.5: the default response mode of a hybrid response is the fragment; nothing in the query.
    expect(`${location.origin}${location.pathname}${location.search}`).toBe(redirectUri);
    const fragment = new URLSearchParams(location.hash.slice(1));
    expect(Object.fromEntries(fragment)).toEqual({ code: expect.any(String), id_token: expect.any(String), state, iss: issuer, session_state: expect.any(String) });

    const options = { [oauth.allowInsecureRequests]: true };
    // c_hash binds the ID token to this code: another code in the same response is refused.
    const swapped = new URLSearchParams(fragment);
    swapped.set('code', `${fragment.get('code')!.slice(0, -4)}AAAA`);
    await expect(oauth.validateCodeIdTokenResponse(as, c, swapped, nonce, state, undefined, options)).rejects.toThrow(/c_hash/);
    await expect(oauth.validateCodeIdTokenResponse(as, c, fragment, 'another nonce', state, undefined, options)).rejects.toThrow(/nonce/);

    const params = await oauth.validateCodeIdTokenResponse(as, c, location, nonce, state, undefined, options);
    expect(params.get('code')).toBe(fragment.get('code'));
    const front = JSON.parse(Buffer.from(fragment.get('id_token')!.split('.')[1], 'base64url').toString());
    expect(front).toMatchObject({ iss: issuer, sub: alice.id, aud: hybrid.client_id, nonce, c_hash: expect.any(String) });
    expect(front.at_hash).toBeUndefined();

    const response = await oauth.authorizationCodeGrantRequest(as, c, oauth.ClientSecretBasic(hybrid.client_secret), params, redirectUri, codeVerifier, options);
    const result = await oauth.processAuthorizationCodeResponse(as, c, response, { expectedNonce: nonce, requireIdToken: true });
    expect(result).toMatchObject({ token_type: 'bearer', expires_in: 3600, scope: 'openid read:avatars' });
    const back = oauth.getValidatedIdTokenClaims(result)!;
    // OIDC Core §3.3.3.6: the token endpoint's ID token names the same issuer and subject.
    expect({ iss: back.iss, sub: back.sub, aud: back.aud, nonce: back.nonce }).toEqual({ iss: issuer, sub: alice.id, aud: hybrid.client_id, nonce });
    expect(back.at_hash).toEqual(expect.any(String));

    const info = await oauth.processUserInfoResponse(as, c, back.sub, await oauth.userInfoRequest(as, c, result.access_token, options));
    expect(info).toEqual({ sub: alice.id });
  });
});
