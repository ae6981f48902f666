/**
 * The end of a token's life: revocation (RFC 7009), introspection (RFC 7662) and the
 * Pulsoid/Twitch-style validate endpoint, on every backend with a hand-moved clock.
 * The SECURITY-CHECKLIST items among them are in security/f_revocation_introspection.test.ts.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS } from './helpers.js';
import { invalidGrant, ISSUER, jsonView, tokenRequest } from './security/support.js';
import {
  ACME_TOKEN, AVATARS, INACTIVE, INVALID_TOKEN, jsonWithHeaders, lifecycleWorld, REVOKE, REVOKED_OK, revokeView, STATS, VALIDATE, type LifecycleWorld,
} from './support/lifecycle.js';

const invalidClient = { status: 401, challenge: 'Basic realm="default", charset="UTF-8"', body: { error: 'invalid_client', error_description: 'client authentication failed' } };

describe.each(BACKENDS)('revocation, introspection and validate on %s', (backend) => {
  let w: LifecycleWorld;
  beforeAll(async () => {
    w = await lifecycleWorld(backend);
  });
  afterAll(() => w?.t.close());
  const now = () => Math.floor(w.clock.ms / 1000);

  describe('revocation', () => {
    it('revokes a JWT access token by its jti: 200, empty body, no-store; validate, introspection and userinfo refuse it; its refresh token still works', async () => {
      const { web } = w.clients;
      const tokens = await w.tokensFor(web, 'openid offline_access read:avatars');
      expect(jsonView(await w.introspect(web, { token: tokens.access_token }))).toEqual(w.activeJwt(tokens.access_token, web.id, w.aliceId));

      expect(revokeView(await w.revoke(web, { token: tokens.access_token, token_type_hint: 'access_token' }))).toEqual(REVOKED_OK);
      expect(await w.t.storage.revocations.isJtiRevoked('default', decodeJwt(tokens.access_token).jti!)).toBe(true);
      expect(jsonWithHeaders(await w.validate(tokens.access_token))).toEqual(INVALID_TOKEN);
      expect(jsonView(await w.introspect(web, { token: tokens.access_token }))).toEqual(INACTIVE);
      const userinfo = await w.t.app.inject({ url: '/realms/default/protocol/openid-connect/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(userinfo.statusCode).toBe(401);
      // Revoking it again is no error.
      expect(revokeView(await w.revoke(web, { token: tokens.access_token }))).toEqual(REVOKED_OK);

      // Only that access token went: the grant lives on.
      const refreshed = await w.refresh(web, tokens.refresh_token);
      expect(refreshed.statusCode, refreshed.body).toBe(200);
      expect((await w.validate(refreshed.json().access_token)).statusCode).toBe(200);
    });

    it('revokes an opaque access token (its row), leaving the rest of its grant alone', async () => {
      const { opaque } = w.clients;
      const tokens = await w.tokensFor(opaque, 'offline_access read:avatars');
      expect(revokeView(await w.revoke(opaque, { token: tokens.access_token }))).toEqual(REVOKED_OK);
      expect(await w.t.storage.accessTokens.find(storageKey(tokens.access_token))).toMatchObject({ revokedAt: now() });
      expect(jsonView(await w.introspect(opaque, { token: tokens.access_token }))).toEqual(INACTIVE);
      expect(jsonWithHeaders(await w.validate(tokens.access_token))).toEqual(INVALID_TOKEN);
      expect((await w.refresh(opaque, tokens.refresh_token)).statusCode).toBe(200);
    });

    it('revokes a refresh token with its whole grant, whatever token_type_hint says (the hint only orders the lookups)', async () => {
      const { web } = w.clients;
      for (const hint of [undefined, 'refresh_token', 'access_token', 'something_else']) {
        const tokens = await w.tokensFor(web, 'offline_access read:avatars');
        expect(revokeView(await w.revoke(web, { token: tokens.refresh_token, token_type_hint: hint }))).toEqual(REVOKED_OK);
        expect({ hint, refresh: jsonView(await w.refresh(web, tokens.refresh_token)) }).toEqual({ hint, refresh: invalidGrant('refresh token was revoked') });
        expect({ hint, validate: jsonWithHeaders(await w.validate(tokens.access_token)) }).toEqual({ hint, validate: INVALID_TOKEN });
      }
    });

    it('lets a public client revoke its refresh token by client_id alone', async () => {
      const { spa } = w.clients;
      const tokens = await w.tokensFor(spa, 'offline_access read:avatars');
      expect(revokeView(await w.revoke(spa, { token: tokens.refresh_token }))).toEqual(REVOKED_OK);
      expect(jsonView(await w.refresh(spa, tokens.refresh_token))).toEqual(invalidGrant('refresh token was revoked'));
      expect(jsonWithHeaders(await w.validate(tokens.access_token))).toEqual(INVALID_TOKEN);
    });

    it('revokes client_credentials tokens (JWT by jti, opaque by row) at the canonical path and the /oauth/revoke and /oauth2/revoke aliases', async () => {
      const { svc, svcOpaque } = w.clients;
      for (const url of [REVOKE, '/oauth/revoke', '/oauth2/revoke', '/auth/realms/default/protocol/openid-connect/revoke']) {
        for (const client of [svc, svcOpaque]) {
          const token = await w.serviceToken(client);
          expect((await w.validate(token)).statusCode).toBe(200);
          expect({ url, res: revokeView(await w.revoke(client, { token }, url)) }).toEqual({ url, res: REVOKED_OK });
          expect({ url, res: jsonWithHeaders(await w.validate(token)) }).toEqual({ url, res: INVALID_TOKEN });
        }
      }
    });

    it('answers 200 and changes nothing for unknown, malformed, expired, already-revoked and other tenants\' tokens', async () => {
      const { web } = w.clients;
      const acmeTokens = await w.tokensFor(w.clients.acme, 'offline_access', { tenant: 'acme' });
      const short = await w.tokensFor(web, 'offline_access read:avatars');
      w.clock.advance(3601); // the access token has expired; the refresh token has not
      for (const token of ['nope', 'a.b.c', 'x'.repeat(5000), short.access_token, acmeTokens.access_token, acmeTokens.refresh_token]) {
        expect(revokeView(await w.revoke(web, { token }))).toEqual(REVOKED_OK);
      }
      // The acme grant is untouched: its refresh token still works there.
      expect((await tokenRequest(w.t.app, w.clients.acme, { grant_type: 'refresh_token', refresh_token: acmeTokens.refresh_token }, ACME_TOKEN)).statusCode).toBe(200);
      expect((await w.refresh(web, short.refresh_token)).statusCode).toBe(200);
    });

    it('refuses a request without client authentication (401 invalid_client), without a token (400), or by GET (405)', async () => {
      const { web } = w.clients;
      const tokens = await w.tokensFor(web, 'read:avatars');
      expect(jsonWithHeaders(await w.post(REVOKE, { token: tokens.access_token }))).toEqual({ ...invalidClient, body: { error: 'invalid_client', error_description: 'client authentication is required' } });
      expect(jsonWithHeaders(await w.post(REVOKE, { token: tokens.access_token }, { authorization: w.basic(web.id, 'wrong') }))).toEqual(invalidClient);
      expect(jsonView(await w.revoke(web, {}))).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'token is missing' } });
      const json = await w.t.app.inject({ method: 'POST', url: REVOKE, headers: { authorization: w.basic(web.id, web.secret!), 'content-type': 'application/json' }, payload: { token: tokens.access_token } });
      expect(jsonView(json)).toEqual({
        status: 400, body: { error: 'invalid_request', error_description: 'the request body must be application/x-www-form-urlencoded' },
      });
      const get = await w.t.app.inject({ url: REVOKE });
      expect({ status: get.statusCode, allow: get.headers.allow, body: get.json() }).toEqual({ status: 405, allow: 'POST', body: { error: 'method_not_allowed', error_description: 'use POST for this endpoint' } });
    });
  });

  describe('introspection', () => {
    it('describes an opaque access token to its client, without a jti', async () => {
      const { opaque } = w.clients;
      const tokens = await w.tokensFor(opaque, 'read:avatars read:stats');
      const row = (await w.t.storage.accessTokens.find(storageKey(tokens.access_token)))!;
      expect(jsonView(await w.introspect(opaque, { token: tokens.access_token }))).toEqual({
        status: 200,
        body: { active: true, scope: 'read:avatars read:stats', client_id: opaque.id, sub: w.aliceId, aud: [AVATARS, STATS], exp: row.expiresAt, iat: row.issuedAt, iss: ISSUER, token_type: 'Bearer' },
      });
    });

    it('describes a client_credentials token to its client, with the client as sub', async () => {
      const { svc } = w.clients;
      const token = await w.serviceToken(svc, 'read:avatars write:avatars');
      const res = await w.introspect(svc, { token });
      expect(jsonView(res)).toEqual(w.activeJwt(token, svc.id, svc.id));
      expect(res.headers['cache-control']).toBe('no-store');
    });

    it('describes a live refresh token to its own client only; rotated-out, revoked and expired ones are inactive', async () => {
      const { web, other } = w.clients;
      const tokens = await w.tokensFor(web, 'offline_access read:avatars');
      const row = (await w.t.storage.artifacts.find('refresh_token', storageKey(decodeJwt(tokens.refresh_token).jti!)))!;
      const active = {
        status: 200,
        body: { active: true, scope: 'offline_access read:avatars', client_id: web.id, sub: w.aliceId, exp: row.expiresAt, iat: row.createdAt, iss: ISSUER },
      };
      expect(jsonView(await w.introspect(web, { token: tokens.refresh_token, token_type_hint: 'refresh_token' }))).toEqual(active);
      expect(jsonView(await w.introspect(web, { token: tokens.refresh_token }))).toEqual(active);
      expect(jsonView(await w.introspect(other, { token: tokens.refresh_token, token_type_hint: 'refresh_token' }))).toEqual(INACTIVE);
      expect(jsonView(await w.introspect(w.apis.avatars, { token: tokens.refresh_token, token_type_hint: 'refresh_token' }))).toEqual(INACTIVE);

      const next = (await w.refresh(web, tokens.refresh_token)).json();
      expect(jsonView(await w.introspect(web, { token: tokens.refresh_token }))).toEqual(INACTIVE);
      expect((await w.introspect(web, { token: next.refresh_token })).json().active).toBe(true);
      w.clock.advance(30 * 24 * 3600);
      expect(jsonView(await w.introspect(web, { token: next.refresh_token }))).toEqual(INACTIVE);
    });

    it('says only {"active": false} for an expired token, and for another tenant\'s', async () => {
      const { web } = w.clients;
      const tokens = await w.tokensFor(web, 'read:avatars');
      const acmeTokens = await w.tokensFor(w.clients.acme, 'openid', { tenant: 'acme' });
      expect(jsonView(await w.introspect(web, { token: acmeTokens.access_token }))).toEqual(INACTIVE);
      w.clock.advance(3600);
      expect(jsonView(await w.introspect(web, { token: tokens.access_token }))).toEqual(INACTIVE);
    });

    it('needs a token (400 invalid_request) and refuses GET (405)', async () => {
      expect(jsonView(await w.introspect(w.clients.web, {}))).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'token is missing' } });
      expect((await w.t.app.inject({ url: '/realms/default/protocol/openid-connect/token/introspect' })).statusCode).toBe(405);
    });
  });

  describe('validate', () => {
    it('answers {client_id, sub, scopes, expires_in} for JWT and opaque tokens, at the canonical path and /oauth2/validate', async () => {
      const jwt = await w.tokensFor(w.clients.web, 'read:avatars write:avatars');
      const opaque = await w.tokensFor(w.clients.opaque, 'read:stats');
      w.clock.advance(100);
      for (const url of [VALIDATE, '/oauth2/validate', '/auth/realms/default/protocol/openid-connect/validate']) {
        const a = await w.validate(jwt.access_token, { url });
        expect({ url, status: a.statusCode, cache: a.headers['cache-control'], body: a.json() }).toEqual({
          url, status: 200, cache: 'no-store', body: { client_id: w.clients.web.id, sub: w.aliceId, scopes: ['read:avatars', 'write:avatars'], expires_in: 3500 },
        });
        expect({ url, ...jsonView(await w.validate(opaque.access_token, { url })) }).toEqual({
          url, status: 200, body: { client_id: w.clients.opaque.id, sub: w.aliceId, scopes: ['read:stats'], expires_in: 3500 },
        });
      }
    });

    it('answers 401 invalid_token with a Bearer challenge for a missing, malformed, expired or refresh token', async () => {
      const tokens = await w.tokensFor(w.clients.web, 'offline_access read:avatars');
      expect(jsonWithHeaders(await w.validate(undefined))).toEqual({
        status: 401, challenge: 'Bearer realm="default"', body: { error: 'invalid_token', error_description: 'an access token is required' },
      });
      for (const token of ['garbage', tokens.refresh_token]) expect(jsonWithHeaders(await w.validate(token))).toEqual(INVALID_TOKEN);
      expect(jsonWithHeaders(await w.validate(tokens.access_token, { scheme: 'Basic' }))).toEqual({
        status: 401, challenge: 'Bearer realm="default"', body: { error: 'invalid_token', error_description: 'an access token is required' },
      });
      w.clock.advance(3600);
      expect(jsonWithHeaders(await w.validate(tokens.access_token))).toEqual(INVALID_TOKEN);
    });
  });
});
