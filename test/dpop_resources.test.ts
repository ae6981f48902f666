/**
 * RFC 9449 DPoP beyond issuance: bound tokens at userinfo and /validate (§7), codes bound by
 * `dpop_jkt` (§10), refresh tokens of public clients (§5), and CORS for browser clients.
 * In-process on every backend, with a hand-moved clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../src/manage/apis.js';
import { createClient } from '../src/manage/clients.js';
import { createUser } from '../src/manage/users.js';
import { BACKENDS, FakeClock, PUBLIC_URL, startTestApp, type TestApp } from './helpers.js';
import { authUrl, InjectBrowser, invalidGrant, ISSUER, jsonView, PASSWORD, redirectView, TOKEN, USERINFO, type TestClient } from './security/support.js';
import {
  ath, authorizeCode, challengeView, dpopKey, dpopRefusal, dpopTokenRequest, fetchNonce, makeProof, type DpopKey, type ProofClaims,
} from './support/dpop.js';

const API = 'https://api.loomai.com/';
const REDIRECT = 'https://app.example/cb';
const ORIGIN = 'https://app.example';
const VALIDATE = '/realms/default/protocol/openid-connect/validate';
const INTROSPECT = '/realms/default/protocol/openid-connect/token/introspect';
const SCOPE = 'openid offline_access read:avatars';

describe.each(BACKENDS)('DPoP-bound tokens in use on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  let spa: TestClient;
  let web: TestClient;
  let aliceId: string;
  let b: InjectBrowser;
  let key: DpopKey;
  let other: DpopKey;
  let nonce: string;

  const now = () => Math.floor(clock.ms / 1000);
  const tokenProof = (k: DpopKey, extra: Partial<ProofClaims> = {}) => makeProof(k, { htm: 'POST', htu: `${PUBLIC_URL}${TOKEN}`, iat: now(), nonce, ...extra });
  const resourceProof = (k: DpopKey, path: string, token: string | undefined, extra: Partial<ProofClaims> = {}) =>
    makeProof(k, { htm: 'GET', htu: `${PUBLIC_URL}${path}`, iat: now(), ath: token === undefined ? undefined : ath(token), ...extra });
  const get = (path: string, authorization: string, dpop?: string) => t.app.inject({ url: path, headers: { authorization, ...(dpop !== undefined && { dpop }) } });
  const redeem = async (client: TestClient, k: DpopKey | undefined, extra: Record<string, string> = {}) => {
    const { code, verifier } = await authorizeCode(b, client.id, REDIRECT, SCOPE, extra);
    return { code, verifier, res: await dpopTokenRequest(t.app, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, k && (await tokenProof(k)), TOKEN) };
  };
  const refresh = async (client: TestClient, refreshToken: string, k: DpopKey | undefined) =>
    dpopTokenRequest(t.app, client, { grant_type: 'refresh_token', refresh_token: refreshToken }, k && (await tokenProof(k)), TOKEN);

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    await createApi(t.deps, 'default', { audience: API, scopes: ['read:avatars'] }, 86400);
    const mk = async (input: Parameters<typeof createClient>[2]): Promise<TestClient> => {
      const c = await createClient(t.deps, 'default', { redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'], scopes: ['read:avatars'], ...input }, 86400);
      return { id: c.client.clientId, secret: c.secret };
    };
    spa = await mk({ name: 'Public SPA', public: true, accessTokenFormat: 'opaque', corsOrigins: [ORIGIN] });
    web = await mk({ name: 'Web App' });
    aliceId = (await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD })).id;
    b = new InjectBrowser(t.app);
    [key, other] = await Promise.all([dpopKey('ES256'), dpopKey('RS256')]);
    nonce = await fetchNonce(t.app, spa, key, now());
  });
  afterAll(() => t?.close());

  describe('userinfo and validate (§7)', () => {
    let token: string;
    beforeAll(async () => {
      const { res } = await redeem(spa, key);
      expect({ status: res.statusCode, type: res.json().token_type }).toEqual({ status: 200, type: 'DPoP' });
      token = res.json().access_token;
    });

    it('serves an opaque bound token with the DPoP scheme and a proof (no nonce needed), on the canonical paths and the aliases', async () => {
      for (const path of [USERINFO, '/userinfo']) {
        const res = await get(path, `DPoP ${token}`, await resourceProof(key, path, token));
        expect({ path, ...jsonView(res) }).toEqual({ path, status: 200, body: { sub: aliceId } });
      }
      for (const path of [VALIDATE, '/oauth2/validate']) {
        const res = await get(path, `dpop ${token}`, await resourceProof(key, path, token));
        expect({ path, ...jsonView(res) }).toEqual({ path, status: 200, body: { client_id: spa.id, sub: aliceId, scopes: SCOPE.split(' '), expires_in: 3600 } });
      }
    });

    it('refuses the bound token without a proof', async () => {
      for (const path of [USERINFO, VALIDATE]) {
        expect({ path, ...challengeView(await get(path, `DPoP ${token}`)) }).toEqual({ path, ...dpopRefusal('invalid_dpop_proof', 'a DPoP proof is required') });
      }
    });

    it('refuses the bound token sent as a bearer token (§7.2), with or without a proof', async () => {
      const refusal = dpopRefusal('invalid_token', 'the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof');
      expect(challengeView(await get(USERINFO, `Bearer ${token}`))).toEqual(refusal);
      expect(challengeView(await get(VALIDATE, `Bearer ${token}`, await resourceProof(key, VALIDATE, token)))).toEqual(refusal);
    });

    it('refuses a proof without ath, or with the ath of another token', async () => {
      const refusal = dpopRefusal('invalid_dpop_proof', 'the DPoP proof ath does not match the access token');
      expect(challengeView(await get(VALIDATE, `DPoP ${token}`, await resourceProof(key, VALIDATE, undefined)))).toEqual(refusal);
      expect(challengeView(await get(USERINFO, `DPoP ${token}`, await resourceProof(key, USERINFO, 'another-token')))).toEqual(refusal);
    });

    it('refuses a proof made with another key than the token is bound to', async () => {
      expect(challengeView(await get(VALIDATE, `DPoP ${token}`, await resourceProof(other, VALIDATE, token)))).toEqual(
        dpopRefusal('invalid_token', 'the access token is bound to another key than the DPoP proof'),
      );
    });

    it('refuses a proof for another method or another URL', async () => {
      expect(challengeView(await get(VALIDATE, `DPoP ${token}`, await resourceProof(key, VALIDATE, token, { htm: 'POST' })))).toEqual(
        dpopRefusal('invalid_dpop_proof', 'the DPoP proof htm does not match the request method'),
      );
      expect(challengeView(await get(VALIDATE, `DPoP ${token}`, await resourceProof(key, USERINFO, token)))).toEqual(
        dpopRefusal('invalid_dpop_proof', 'the DPoP proof htu does not match the request URL'),
      );
    });

    it('refuses a replayed proof', async () => {
      const proof = await resourceProof(key, VALIDATE, token);
      expect((await get(VALIDATE, `DPoP ${token}`, proof)).statusCode).toBe(200);
      expect(challengeView(await get(VALIDATE, `DPoP ${token}`, proof))).toEqual(dpopRefusal('invalid_dpop_proof', 'the DPoP proof was already used'));
    });

    it('refuses a bearer token presented with the DPoP scheme', async () => {
      const bearer = (await redeem(web, undefined)).res.json().access_token;
      expect(challengeView(await get(VALIDATE, `DPoP ${bearer}`, await resourceProof(key, VALIDATE, bearer)))).toEqual(
        dpopRefusal('invalid_token', 'the access token is not DPoP-bound'),
      );
      expect((await get(VALIDATE, `Bearer ${bearer}`)).statusCode).toBe(200);
    });

    it('answers an unknown token sent with the DPoP scheme with a DPoP challenge', async () => {
      expect(challengeView(await get(USERINFO, 'DPoP not-a-token', await resourceProof(key, USERINFO, 'not-a-token')))).toEqual(
        dpopRefusal('invalid_token', 'the access token is invalid, expired or revoked'),
      );
    });
  });

  describe('dpop_jkt (§10)', () => {
    it('binds the code to the key: no proof or another key is invalid_grant and leaves the code to the right key', async () => {
      const { code, verifier, res } = await redeem(spa, undefined, { dpop_jkt: key.jkt });
      expect(jsonView(res)).toEqual(invalidGrant('the authorization code is bound to a DPoP key: send a DPoP proof made with it'));
      const fields = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier };
      const wrong = await dpopTokenRequest(t.app, spa, fields, await tokenProof(other), TOKEN);
      expect(jsonView(wrong)).toEqual(invalidGrant('the DPoP proof was made with another key than the authorization code is bound to'));
      const right = await dpopTokenRequest(t.app, spa, fields, await tokenProof(key), TOKEN);
      expect({ status: right.statusCode, type: right.json().token_type }).toEqual({ status: 200, type: 'DPoP' });
    });

    it('refuses a malformed dpop_jkt at the authorization endpoint, by redirect', async () => {
      const res = await b.get(authUrl({ response_type: 'code', client_id: web.id, redirect_uri: REDIRECT, scope: SCOPE, state: 's', dpop_jkt: 'short' }));
      expect(redirectView(res)).toEqual({
        status: 302, target: REDIRECT, fragment: {},
        query: { error: 'invalid_request', error_description: 'dpop_jkt must be a base64url SHA-256 JWK thumbprint (43 characters)', state: 's', iss: ISSUER },
      });
    });
  });

  describe('refresh tokens (§5)', () => {
    it('binds a public client\'s refresh token: each refresh needs a proof of the key, and the successor stays bound', async () => {
      const first = (await redeem(spa, key)).res.json();
      const refreshed = await refresh(spa, first.refresh_token, key);
      expect(jsonView(refreshed)).toEqual({
        status: 200,
        body: { access_token: expect.any(String), token_type: 'DPoP', expires_in: 3600, refresh_token: expect.any(String), scope: SCOPE, id_token: expect.any(String), 'not-before-policy': 0 },
      });
      expect(jsonView(await refresh(spa, refreshed.json().refresh_token, undefined))).toEqual(
        invalidGrant('the refresh token is bound to a DPoP key: send a DPoP proof made with it'),
      );
      expect((await refresh(spa, refreshed.json().refresh_token, key)).statusCode).toBe(200);
    });

    it('leaves a confidential client\'s refresh token unbound: it refreshes as Bearer without a proof and as DPoP with one', async () => {
      const first = (await redeem(web, key)).res.json();
      expect(first.token_type).toBe('DPoP');
      const introspected = await dpopTokenRequest(t.app, web, { token: first.refresh_token, token_type_hint: 'refresh_token' }, undefined, INTROSPECT);
      expect(jsonView(introspected)).toEqual({
        status: 200, body: { active: true, scope: SCOPE, client_id: web.id, sub: aliceId, exp: expect.any(Number), iat: now(), iss: ISSUER },
      });
      const bearer = await refresh(web, first.refresh_token, undefined);
      expect({ status: bearer.statusCode, type: bearer.json().token_type }).toEqual({ status: 200, type: 'Bearer' });
      const bound = await refresh(web, bearer.json().refresh_token, other);
      expect({ status: bound.statusCode, type: bound.json().token_type }).toEqual({ status: 200, type: 'DPoP' });
    });
  });

  describe('CORS for browser clients', () => {
    it('allows the DPoP header in a preflight and exposes DPoP-Nonce to a registered origin', async () => {
      const preflight = await t.app.inject({ method: 'OPTIONS', url: TOKEN, headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'dpop' } });
      expect({ status: preflight.statusCode, headers: preflight.headers['access-control-allow-headers'] }).toEqual({ status: 204, headers: 'authorization, content-type, dpop' });
      const res = await t.app.inject({
        method: 'POST', url: TOKEN, headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded', dpop: await tokenProof(key, { nonce: undefined }) },
        payload: `grant_type=refresh_token&refresh_token=x&client_id=${spa.id}`,
      });
      expect({ status: res.statusCode, expose: res.headers['access-control-expose-headers'], nonce: res.headers['dpop-nonce'] }).toEqual({
        status: 400, expose: 'WWW-Authenticate, DPoP-Nonce', nonce,
      });
    });
  });
});
