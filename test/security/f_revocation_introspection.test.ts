/**
 * SECURITY-CHECKLIST §F — revocation, introspection and bearer tokens (items 43–48) and
 * introspection by APIs (58), black-box through app.inject on every backend.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers.js';
import {
  APP_ORIGIN, AVATARS, INACTIVE, INTROSPECT, INVALID_TOKEN, jsonWithHeaders, lifecycleWorld, REVOKE, REVOKED_OK, revokeView, STATS, VALIDATE, type LifecycleWorld,
} from '../support/lifecycle.js';
import { CERTS, invalidGrant, ISSUER, jsonView, TOKEN, tokenRequest, USERINFO } from './support.js';

const SERVER_ERROR = { status: 500, body: { error: 'server_error', error_description: 'the server could not complete the request' } };
const INVALID_CLIENT = { status: 401, challenge: 'Basic realm="default", charset="UTF-8"', body: { error: 'invalid_client', error_description: 'client authentication failed' } };
const NO_TOKEN = { status: 401, challenge: 'Bearer realm="default"', body: { error: 'invalid_token', error_description: 'an access token is required' } };

describe.each(BACKENDS)('SECURITY-CHECKLIST F: revocation and introspection on %s', (backend) => {
  let w: LifecycleWorld;
  beforeAll(async () => {
    w = await lifecycleWorld(backend);
  });
  afterAll(() => w?.t.close());

  /** Runs `body` with one storage method replaced by one that fails, as a lost database would. */
  async function withFailing<S extends object>(store: S, method: keyof S, body: () => Promise<void>): Promise<void> {
    const original = store[method];
    (store as Record<keyof S, unknown>)[method] = async () => {
      throw new Error('connection to the database was lost');
    };
    try {
      await body();
    } finally {
      store[method] = original;
    }
  }

  describe('43', () => {
    it('43. revoking another client\'s token answers 200 and does nothing (JWT, opaque and refresh tokens)', async () => {
      const { web, opaque, other } = w.clients;
      const jwt = await w.tokensFor(web, 'offline_access read:avatars');
      const opaqueTokens = await w.tokensFor(opaque, 'read:avatars');
      for (const token of [jwt.access_token, jwt.refresh_token, opaqueTokens.access_token]) {
        expect(revokeView(await w.revoke(other, { token }))).toEqual(REVOKED_OK);
        expect(revokeView(await w.revoke(other, { token, token_type_hint: 'refresh_token' }))).toEqual(REVOKED_OK);
      }
      expect((await w.validate(jwt.access_token)).statusCode).toBe(200);
      expect((await w.validate(opaqueTokens.access_token)).statusCode).toBe(200);
      expect((await w.refresh(web, jwt.refresh_token)).statusCode).toBe(200);
    });

    it('43. a storage failure while revoking is a 500, never a 200, and the token stays as it was', async () => {
      const { web, opaque } = w.clients;
      const { storage } = w.t;
      const jwt = await w.tokensFor(web, 'offline_access read:avatars');
      const opaqueTokens = await w.tokensFor(opaque, 'read:avatars');
      await withFailing(storage.revocations, 'revokeJti', async () => {
        expect(jsonView(await w.revoke(web, { token: jwt.access_token }))).toEqual(SERVER_ERROR);
      });
      await withFailing(storage.accessTokens, 'revoke', async () => {
        expect(jsonView(await w.revoke(opaque, { token: opaqueTokens.access_token }))).toEqual(SERVER_ERROR);
      });
      await withFailing(storage.grants, 'revoke', async () => {
        expect(jsonView(await w.revoke(web, { token: jwt.refresh_token }))).toEqual(SERVER_ERROR);
      });
      // A failed lookup is no "unknown token" either.
      await withFailing(storage.artifacts, 'find', async () => {
        expect(jsonView(await w.revoke(web, { token: jwt.refresh_token, token_type_hint: 'refresh_token' }))).toEqual(SERVER_ERROR);
      });
      await withFailing(storage.revocations, 'isJtiRevoked', async () => {
        expect(jsonView(await w.revoke(web, { token: jwt.access_token }))).toEqual(SERVER_ERROR);
      });
      expect((await w.validate(jwt.access_token)).statusCode).toBe(200);
      expect((await w.validate(opaqueTokens.access_token)).statusCode).toBe(200);
      // Once the store is back, the same request works.
      expect(revokeView(await w.revoke(web, { token: jwt.refresh_token }))).toEqual(REVOKED_OK);
      expect(jsonWithHeaders(await w.validate(jwt.access_token))).toEqual(INVALID_TOKEN);
    });
  });

  describe('44', () => {
    it('44. revoking a refresh token revokes the access tokens issued with it, and its whole family (JWT and opaque)', async () => {
      for (const client of [w.clients.web, w.clients.opaque]) {
        const first = await w.tokensFor(client, 'openid offline_access read:avatars');
        const second = (await w.refresh(client, first.refresh_token)).json();
        const third = (await w.refresh(client, second.refresh_token)).json();
        const accessTokens = [first.access_token, second.access_token, third.access_token];
        for (const token of accessTokens) expect((await w.validate(token)).statusCode).toBe(200);

        expect(revokeView(await w.revoke(client, { token: third.refresh_token, token_type_hint: 'refresh_token' }))).toEqual(REVOKED_OK);
        for (const token of accessTokens) {
          expect(jsonWithHeaders(await w.validate(token))).toEqual(INVALID_TOKEN);
          expect(jsonView(await w.introspect(client, { token }))).toEqual(INACTIVE);
          expect((await w.t.app.inject({ url: USERINFO, headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(401);
        }
        expect(jsonView(await w.refresh(client, third.refresh_token))).toEqual(invalidGrant('refresh token was revoked'));
        expect(jsonView(await w.introspect(client, { token: third.refresh_token }))).toEqual(INACTIVE);
      }
    });
  });

  describe('45', () => {
    it('45. introspection requires client authentication: none, a wrong secret, an unknown client, a public client or an API\'s wrong secret → 401 invalid_client', async () => {
      const { web, spa } = w.clients;
      const token = (await w.tokensFor(web, 'read:avatars')).access_token;
      expect(jsonWithHeaders(await w.post(INTROSPECT, { token }))).toEqual({ ...INVALID_CLIENT, body: { error: 'invalid_client', error_description: 'client authentication is required' } });
      for (const authorization of [w.basic(web.id, 'wrong'), w.basic('nobody', 'secret'), w.basic(w.apis.avatars.id, 'wrong'), w.basic(w.apis.avatars.id, web.secret!)]) {
        expect(jsonWithHeaders(await w.post(INTROSPECT, { token }, { authorization }))).toEqual(INVALID_CLIENT);
      }
      // A public client proves nothing with its client_id.
      expect(jsonWithHeaders(await w.post(INTROSPECT, { token, client_id: spa.id }))).toEqual(INVALID_CLIENT);
      expect(jsonWithHeaders(await w.post(INTROSPECT, { token, client_id: web.id }))).toEqual(INVALID_CLIENT);
    });

    it('45. unknown, malformed, expired or revoked tokens → exactly {"active": false}', async () => {
      const { web, opaque } = w.clients;
      const jwt = await w.tokensFor(web, 'offline_access read:avatars');
      const opaqueTokens = await w.tokensFor(opaque, 'read:avatars');
      const revoked = await w.tokensFor(web, 'read:avatars');
      await w.revoke(web, { token: revoked.access_token });
      const exact = async (caller: typeof web, token: string) => {
        const res = await w.introspect(caller, { token });
        return { status: res.statusCode, type: res.headers['content-type'], cache: res.headers['cache-control'], body: res.body };
      };
      const inactive = { status: 200, type: 'application/json; charset=utf-8', cache: 'no-store', body: '{"active":false}' };
      for (const token of ['unknown', 'a.b.c', `${jwt.access_token}x`, revoked.access_token]) expect({ token, res: await exact(web, token) }).toEqual({ token, res: inactive });
      w.clock.advance(3600);
      expect(await exact(web, jwt.access_token)).toEqual(inactive);
      expect(await exact(opaque, opaqueTokens.access_token)).toEqual(inactive);
    });
  });

  describe('46', () => {
    it('46. a bearer token in the URL query is ignored by validate and userinfo, and a token to revoke or introspect is read from the body only', async () => {
      const { web } = w.clients;
      const tokens = await w.tokensFor(web, 'openid read:avatars');
      expect(jsonWithHeaders(await w.t.app.inject({ url: `${VALIDATE}?access_token=${tokens.access_token}` }))).toEqual(NO_TOKEN);
      expect(jsonWithHeaders(await w.t.app.inject({ url: `/oauth2/validate?access_token=${tokens.access_token}&token=${tokens.access_token}` }))).toEqual(NO_TOKEN);
      expect(jsonWithHeaders(await w.t.app.inject({ url: `${USERINFO}?access_token=${tokens.access_token}` }))).toEqual(NO_TOKEN);
      const missing = { status: 400, body: { error: 'invalid_request', error_description: 'token is missing' } };
      expect(jsonView(await tokenRequest(w.t.app, web, {}, `${INTROSPECT}?token=${tokens.access_token}`))).toEqual(missing);
      expect(jsonView(await tokenRequest(w.t.app, web, {}, `${REVOKE}?token=${tokens.access_token}`))).toEqual(missing);
      expect((await w.validate(tokens.access_token)).statusCode).toBe(200);
    });
  });

  describe('47', () => {
    it('47. the Bearer scheme is case-insensitive at validate and userinfo', async () => {
      const tokens = await w.tokensFor(w.clients.web, 'openid read:avatars');
      for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
        expect({ scheme, status: (await w.validate(tokens.access_token, { scheme })).statusCode }).toEqual({ scheme, status: 200 });
        const userinfo = await w.t.app.inject({ url: USERINFO, headers: { authorization: `${scheme} ${tokens.access_token}` } });
        expect({ scheme, status: userinfo.statusCode }).toEqual({ scheme, status: 200 });
      }
    });
  });

  describe('48', () => {
    const cors = (res: LightMyRequestResponse) => ({
      status: res.statusCode,
      origin: res.headers['access-control-allow-origin'],
      credentials: res.headers['access-control-allow-credentials'],
      methods: res.headers['access-control-allow-methods'],
    });

    it('48. discovery and JWKS answer any origin with * and no credentials', async () => {
      for (const url of ['/realms/default/.well-known/openid-configuration', CERTS]) {
        for (const origin of [APP_ORIGIN, 'https://evil.example']) {
          expect({ url, from: origin, ...cors(await w.t.app.inject({ url, headers: { origin } })) }).toEqual({ url, from: origin, status: 200, origin: '*', credentials: undefined, methods: undefined });
        }
      }
    });

    it('48. token, userinfo and revocation allow only origins registered on a client, with credentials; preflight works', async () => {
      const { web } = w.clients;
      const tokens = await w.tokensFor(web, 'openid offline_access read:avatars');
      const requests = (origin: string) => ({
        token: () => w.t.app.inject({ method: 'POST', url: TOKEN, headers: { origin, 'content-type': 'application/x-www-form-urlencoded', authorization: w.basic(web.id, web.secret!) }, payload: 'grant_type=client_credentials' }),
        userinfo: () => w.t.app.inject({ url: USERINFO, headers: { origin, authorization: `Bearer ${tokens.access_token}` } }),
        revoke: () => w.t.app.inject({ method: 'POST', url: REVOKE, headers: { origin, 'content-type': 'application/x-www-form-urlencoded', authorization: w.basic(web.id, web.secret!) }, payload: 'token=unknown' }),
        revokeAlias: () => w.t.app.inject({ method: 'POST', url: '/oauth2/revoke', headers: { origin, 'content-type': 'application/x-www-form-urlencoded', authorization: w.basic(web.id, web.secret!) }, payload: 'token=unknown' }),
      });
      const preflight = (url: string, origin: string) =>
        w.t.app.inject({ method: 'OPTIONS', url, headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });

      for (const [name, send] of Object.entries(requests(APP_ORIGIN))) {
        const res = await send();
        expect({ name, ...cors(res), vary: res.headers.vary }).toEqual({ name, status: name === 'token' ? 400 : 200, origin: APP_ORIGIN, credentials: 'true', methods: undefined, vary: 'Origin' });
      }
      for (const [name, send] of Object.entries(requests('https://evil.example'))) {
        const res = await send();
        expect({ name, ...cors(res) }).toEqual({ name, status: name === 'token' ? 400 : 200, origin: undefined, credentials: undefined, methods: undefined });
      }
      for (const [url, methods] of [[TOKEN, 'POST'], [USERINFO, 'GET, POST'], [REVOKE, 'POST'], ['/oauth/revoke', 'POST']] as const) {
        expect({ url, ...cors(await preflight(url, APP_ORIGIN)) }).toEqual({ url, status: 204, origin: APP_ORIGIN, credentials: 'true', methods });
        expect({ url, ...cors(await preflight(url, 'https://evil.example')) }).toEqual({ url, status: 204, origin: undefined, credentials: undefined, methods: undefined });
      }
    });
  });

  describe('58', () => {
    it('58. an API sees active tokens whose aud names it, and {"active": false} for any other', async () => {
      const { web, svc } = w.clients;
      const { avatars, stats } = w.apis;
      const avatarsOnly = await w.tokensFor(web, 'read:avatars');
      const both = await w.tokensFor(web, 'read:avatars read:stats');
      const service = await w.serviceToken(svc, 'read:stats');

      expect(jsonView(await w.introspect(avatars, { token: avatarsOnly.access_token }))).toEqual(w.activeJwt(avatarsOnly.access_token, web.id, w.aliceId));
      expect(jsonView(await w.introspect(stats, { token: avatarsOnly.access_token }))).toEqual(INACTIVE);
      expect(jsonView(await w.introspect(avatars, { token: both.access_token }))).toMatchObject({ status: 200, body: { active: true, aud: [AVATARS, STATS] } });
      expect(jsonView(await w.introspect(stats, { token: both.access_token }))).toEqual(w.activeJwt(both.access_token, web.id, w.aliceId));
      expect(jsonView(await w.introspect(stats, { token: service }))).toEqual(w.activeJwt(service, svc.id, svc.id));
      expect(jsonView(await w.introspect(avatars, { token: service }))).toEqual(INACTIVE);
    });

    it('58. a client sees only tokens issued to it; another client gets {"active": false}', async () => {
      const { web, opaque, other, svc } = w.clients;
      const jwt = await w.tokensFor(web, 'read:avatars');
      const opaqueTokens = await w.tokensFor(opaque, 'read:avatars');
      const service = await w.serviceToken(svc);
      expect(jsonView(await w.introspect(web, { token: jwt.access_token }))).toEqual(w.activeJwt(jwt.access_token, web.id, w.aliceId));
      for (const token of [jwt.access_token, opaqueTokens.access_token, service]) {
        expect(jsonView(await w.introspect(other, { token }))).toEqual(INACTIVE);
      }
      expect((await w.introspect(opaque, { token: opaqueTokens.access_token })).json()).toMatchObject({ active: true, client_id: opaque.id, iss: ISSUER });
    });

    it('58. an API\'s credentials are for introspection only: the token endpoint does not know them', async () => {
      const res = await tokenRequest(w.t.app, w.apis.avatars, { grant_type: 'client_credentials' });
      expect(jsonWithHeaders(res)).toEqual(INVALID_CLIENT);
    });
  });
});
