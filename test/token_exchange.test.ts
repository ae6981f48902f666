/**
 * RFC 8693 OAuth 2.0 Token Exchange: impersonation and delegation (`act`), `may_act`, the
 * client's policy, scope narrowing, every subject token type, which grant the new token
 * belongs to, and the issued JWT as an API sees it (verified against the tenant's JWKS).
 */
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateClient } from '../src/manage/clients.js';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS, PUBLIC_URL } from './helpers.js';
import { CODE, jsonView, PASSWORD, TOKEN, tokenRequest } from './security/support.js';
import { dpopKey, dpopTokenRequest, fetchNonce, makeProof } from './support/dpop.js';
import { AVATARS, exchangeWorld, GRANT, issued, ISSUER, STATS, TYPE, type ExchangeWorld } from './support/token_exchange.js';

const REVOKE = '/realms/default/protocol/openid-connect/revoke';
const INTROSPECT = '/realms/default/protocol/openid-connect/token/introspect';
const VALIDATE = '/realms/default/protocol/openid-connect/validate';
/** `{grant id}.{random}`: a token of a user grant (tokens/access_token.ts `accessTokenJti`). */
const GRANT_JTI = /^([A-Za-z0-9_-]{22})\.[A-Za-z0-9_-]{22}$/;

describe.each(BACKENDS)('token exchange on %s', (backend) => {
  let w: ExchangeWorld;
  beforeAll(async () => {
    w = await exchangeWorld(backend);
  }, 60_000);
  afterAll(() => w?.t.close());

  const now = () => Math.floor(w.clock.now() / 1000);
  /** Verifies an issued token as an API would: the tenant's JWKS, this issuer, `typ: at+jwt`. */
  async function verified(token: string) {
    const jwks = createLocalJWKSet((await w.t.app.inject({ url: '/realms/default/protocol/openid-connect/certs' })).json());
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: ISSUER, typ: 'at+jwt', currentDate: new Date(w.clock.now()) });
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: expect.any(String) });
    return payload;
  }
  const claims = (fields: Record<string, unknown>, ttl = 3600) => ({ iss: ISSUER, iat: now(), exp: now() + ttl, jti: expect.stringMatching(GRANT_JTI), ...fields });
  const grantOf = (jwt: string) => GRANT_JTI.exec(decodeJwt(jwt).jti!)![1];
  const validate = (token: string) => w.t.app.inject({ url: VALIDATE, headers: { authorization: `Bearer ${token}` } });

  it('refuses a DPoP-bound subject token without a proof of its key (RFC 9449 §7), and exchanges it with one', async () => {
    const { app, gateway } = w.clients;
    const key = await dpopKey();
    const other = await dpopKey();
    const proof = async (k: typeof key) => makeProof(k, { htm: 'POST', htu: `${PUBLIC_URL}${TOKEN}`, iat: now(), nonce: await fetchNonce(w.t.app, app, k, now()) });
    const signedIn = await dpopTokenRequest(w.t.app, app, { grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'read:avatars' }, await proof(key), TOKEN);
    expect(signedIn.statusCode, signedIn.body).toBe(200);
    const bound = signedIn.json().access_token as string;
    expect((decodeJwt(bound).cnf as { jkt: string }).jkt).toBe(key.jkt);
    const fields = { grant_type: GRANT, subject_token: bound, subject_token_type: TYPE.access, audience: AVATARS };
    expect(jsonView(await dpopTokenRequest(w.t.app, gateway, fields, undefined, TOKEN))).toEqual({
      status: 400, body: { error: 'invalid_grant', error_description: 'the subject_token is bound to a DPoP key: send a DPoP proof made with it' },
    });
    expect(jsonView(await dpopTokenRequest(w.t.app, gateway, fields, await proof(other), TOKEN))).toEqual({
      status: 400, body: { error: 'invalid_grant', error_description: 'the DPoP proof was made with another key than the subject_token is bound to' },
    });
    const ok = await dpopTokenRequest(w.t.app, gateway, fields, await proof(key), TOKEN);
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().token_type).toBe('DPoP');
  });

  it('impersonates: a user token of app becomes one of gateway for alice, with no act', async () => {
    const subject = (await w.signIn(w.clients.app, 'read:avatars write:avatars read:stats')).access_token;
    const res = await w.exchange(w.clients.gateway, { subject_token: subject, subject_token_type: TYPE.access, audience: AVATARS });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(jsonView(res)).toEqual({ status: 200, body: issued({ expires_in: 3600, scope: 'read:avatars' }) });
    const token = res.json().access_token;
    expect(await verified(token)).toEqual(claims({ sub: w.aliceId, aud: AVATARS, client_id: w.clients.gateway.id, scope: 'read:avatars' }));
    expect(jsonView(await validate(token))).toEqual({ status: 200, body: { client_id: w.clients.gateway.id, sub: w.aliceId, scopes: ['read:avatars'], expires_in: 3600 } });
  });

  it('narrows scope to what both the subject token holds and the client may request, never wider', async () => {
    const { gateway, app } = w.clients;
    const subject = (await w.signIn(app, 'read:avatars write:avatars read:stats')).access_token;
    // Omitted: the subject's scopes gateway may request (not write:avatars), for the APIs they select.
    const all = await w.exchange(gateway, { subject_token: subject, subject_token_type: TYPE.access });
    expect(jsonView(all)).toEqual({ status: 200, body: issued({ expires_in: 3600, scope: 'read:avatars read:stats' }) });
    expect(await verified(all.json().access_token)).toEqual(claims({ sub: w.aliceId, aud: [AVATARS, STATS], client_id: gateway.id, scope: 'read:avatars read:stats' }));
    const one = await w.exchange(gateway, { subject_token: subject, subject_token_type: TYPE.access, scope: 'read:stats' });
    expect(jsonView(one)).toEqual({ status: 200, body: issued({ expires_in: 3600, scope: 'read:stats' }) });
    expect(await verified(one.json().access_token)).toEqual(claims({ sub: w.aliceId, aud: STATS, client_id: gateway.id, scope: 'read:stats' }));
    // An audience whose scopes the subject does not hold: a token naming the user, with no scope.
    const bare = (await w.signIn(app, 'read:avatars')).access_token;
    const statsOnly = await w.exchange(w.clients.statsOnly, { subject_token: bare, subject_token_type: TYPE.access, audience: STATS });
    expect(jsonView(statsOnly)).toEqual({ status: 200, body: issued({ expires_in: 3600 }) });
    expect(await verified(statsOnly.json().access_token)).toEqual(claims({ sub: w.aliceId, aud: STATS, client_id: w.clients.statsOnly.id }));
  });

  it('delegates: act names the actor, and a chain of exchanges nests the earlier actors (RFC 8693 §4.1)', async () => {
    const { gateway, any, app } = w.clients;
    const subject = (await w.signIn(app, 'read:avatars')).access_token;
    const gatewayActor = await w.serviceToken(gateway);
    const first = await w.exchange(gateway, { subject_token: subject, subject_token_type: TYPE.access, actor_token: gatewayActor, actor_token_type: TYPE.access });
    expect(jsonView(first)).toEqual({ status: 200, body: issued({ expires_in: 3600, scope: 'read:avatars' }) });
    const delegated = first.json().access_token;
    expect(await verified(delegated)).toEqual(claims({ sub: w.aliceId, aud: AVATARS, client_id: gateway.id, scope: 'read:avatars', act: { sub: gateway.id } }));
    // Introspection shows the delegation too (RFC 7662 §2.2 allows any claim of the token).
    const seen = await tokenRequest(w.t.app, gateway, { token: delegated }, INTROSPECT);
    expect(seen.json()).toMatchObject({ active: true, sub: w.aliceId, client_id: gateway.id, act: { sub: gateway.id } });

    // any acts on the delegated token in turn: it is the current actor, gateway the prior one.
    const anyActor = await w.serviceToken(any, 'read:avatars');
    const second = await w.exchange(any, { subject_token: delegated, subject_token_type: TYPE.jwt, actor_token: anyActor, actor_token_type: TYPE.jwt, requested_token_type: TYPE.jwt });
    expect(jsonView(second)).toEqual({ status: 200, body: issued({ expires_in: 3600, scope: 'read:avatars', issued_token_type: TYPE.jwt }) });
    expect((await verified(second.json().access_token)).act).toEqual({ sub: any.id, act: { sub: gateway.id } });

    // Without an actor token a delegated token keeps its act: it never passes for alice's own.
    const kept = await w.exchange(any, { subject_token: delegated, subject_token_type: TYPE.access });
    expect(jsonView(kept)).toEqual({ status: 200, body: issued({ expires_in: 3600, scope: 'read:avatars' }) });
    expect(await verified(kept.json().access_token)).toEqual(claims({ sub: w.aliceId, aud: AVATARS, client_id: any.id, scope: 'read:avatars', act: { sub: gateway.id } }));

    // An actor token that is itself delegated brings its own chain, above the subject's.
    const bobsDelegated = (await w.exchange(any, { subject_token: (await w.signIn(app, 'read:avatars', { username: 'bob' })).access_token, subject_token_type: TYPE.access, actor_token: anyActor, actor_token_type: TYPE.access })).json().access_token;
    const both = await w.exchange(any, { subject_token: delegated, subject_token_type: TYPE.access, actor_token: bobsDelegated, actor_token_type: TYPE.access });
    expect((await verified(both.json().access_token)).act).toEqual({ sub: w.bobId, act: { sub: any.id, act: { sub: gateway.id } } });
  });

  it('honours may_act: the party it names may act, as actor or as the requesting client (RFC 8693 §4.4)', async () => {
    const { gateway, any, svc } = w.clients;
    const actor = await w.serviceToken(gateway);
    const forged = await w.forgeAccessToken({ sub: svc.id, client_id: svc.id, scope: 'read:avatars', may_act: { sub: gateway.id, iss: ISSUER } });
    const delegated = await w.exchange(any, { subject_token: forged, subject_token_type: TYPE.access, actor_token: actor, actor_token_type: TYPE.access });
    expect(jsonView(delegated)).toEqual({ status: 200, body: issued({ expires_in: 600, scope: 'read:avatars' }) });
    expect(await verified(delegated.json().access_token)).toEqual({
      iss: ISSUER, sub: svc.id, aud: AVATARS, client_id: any.id, scope: 'read:avatars', act: { sub: gateway.id }, iat: now(), exp: now() + 600, jti: expect.any(String),
    });
    const forAny = await w.forgeAccessToken({ sub: svc.id, client_id: svc.id, scope: 'read:avatars', may_act: { sub: any.id, client_id: any.id } });
    const impersonated = await w.exchange(any, { subject_token: forAny, subject_token_type: TYPE.access });
    expect(jsonView(impersonated)).toEqual({ status: 200, body: issued({ expires_in: 600, scope: 'read:avatars' }) });
    expect((await verified(impersonated.json().access_token)).act).toBeUndefined();
  });

  it("takes another client's token only once the client's policy names that client", async () => {
    const { strict, app } = w.clients;
    const subject = (await w.signIn(app, 'read:avatars')).access_token;
    const fields = { subject_token: subject, subject_token_type: TYPE.access };
    expect(jsonView(await w.exchange(strict, fields))).toEqual({
      status: 400, body: { error: 'unauthorized_client', error_description: 'the subject_token was issued to another client, whose tokens this client may not exchange' },
    });
    await updateClient(w.t.deps, 'default', strict.id, { tokenExchangeSubjectClients: [app.id] }, 86400);
    const res = await w.exchange(strict, fields);
    expect(jsonView(res)).toEqual({ status: 200, body: issued({ expires_in: 3600, scope: 'read:avatars' }) });
    expect(await verified(res.json().access_token)).toEqual(claims({ sub: w.aliceId, aud: AVATARS, client_id: strict.id, scope: 'read:avatars' }));
    await updateClient(w.t.deps, 'default', strict.id, { tokenExchangeSubjectClients: [] }, 86400);
  });

  it('takes an ID token as subject: a token naming the user, with no scope (an ID token grants none)', async () => {
    const { id_token: idToken } = await w.signIn(w.clients.app, 'openid read:avatars');
    const res = await w.exchange(w.clients.gateway, { subject_token: idToken, subject_token_type: TYPE.id, audience: AVATARS });
    expect(jsonView(res)).toEqual({ status: 200, body: issued({ expires_in: 3600 }) });
    expect(await verified(res.json().access_token)).toEqual(claims({ sub: w.aliceId, aud: AVATARS, client_id: w.clients.gateway.id }));
  });

  it('takes a refresh token as subject without rotating it', async () => {
    const { app, gateway } = w.clients;
    const tokens = await w.signIn(app, 'offline_access read:avatars');
    for (let i = 0; i < 2; i++) {
      const res = await w.exchange(gateway, { subject_token: tokens.refresh_token, subject_token_type: TYPE.refresh });
      expect(jsonView(res)).toEqual({ status: 200, body: issued({ expires_in: 3600, scope: 'read:avatars' }) });
      expect(await verified(res.json().access_token)).toEqual(claims({ sub: w.aliceId, aud: AVATARS, client_id: gateway.id, scope: 'read:avatars' }));
    }
    const refreshed = await tokenRequest(w.t.app, app, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
  });

  it("issues a client's exchange of its own token under that token's grant: revoking the grant revokes both", async () => {
    const { self } = w.clients;
    const tokens = await w.signIn(self, 'offline_access read:avatars read:stats');
    const res = await w.exchange(self, { subject_token: tokens.access_token, subject_token_type: TYPE.access, audience: STATS });
    expect(jsonView(res)).toEqual({ status: 200, body: issued({ expires_in: 3600, scope: 'read:stats' }) });
    const exchanged = res.json().access_token;
    expect(grantOf(exchanged)).toBe(grantOf(tokens.access_token));
    expect((await validate(exchanged)).statusCode).toBe(200);
    expect((await tokenRequest(w.t.app, self, { token: tokens.refresh_token }, REVOKE)).statusCode).toBe(200);
    expect((await validate(exchanged)).statusCode).toBe(401);
  });

  it("issues another client's exchange under a new grant of that client, ending with the subject token", async () => {
    const { app, gateway } = w.clients;
    const subject = (await w.signIn(app, 'read:avatars')).access_token;
    w.clock.advance(600);
    const res = await w.exchange(gateway, { subject_token: subject, subject_token_type: TYPE.access });
    // Capped at the subject token's expiry: 3600 - 600 seconds.
    expect(jsonView(res)).toEqual({ status: 200, body: issued({ expires_in: 3000, scope: 'read:avatars' }) });
    const exchanged = res.json().access_token;
    expect(grantOf(exchanged)).not.toBe(grantOf(subject));
    expect(await w.t.storage.grants.get(grantOf(exchanged))).toEqual({
      id: grantOf(exchanged), tenantId: 'default', clientId: gateway.id, subject: w.aliceId, scope: 'read:avatars', createdAt: now(), expiresAt: now() + 3000, revokedAt: null,
    });
    // It is gateway's to revoke (RFC 7009), and revoking it leaves app's token alone.
    expect((await tokenRequest(w.t.app, gateway, { token: exchanged }, REVOKE)).statusCode).toBe(200);
    expect((await validate(exchanged)).statusCode).toBe(401);
    expect((await validate(subject)).statusCode).toBe(200);
  });

  it('issues opaque tokens to a client with opaque access tokens, and takes opaque tokens as subjects', async () => {
    const { opaque, appOpaque, gateway } = w.clients;
    const subject = (await w.signIn(appOpaque, 'read:avatars')).access_token;
    const res = await w.exchange(opaque, { subject_token: subject, subject_token_type: TYPE.access });
    expect(jsonView(res)).toEqual({ status: 200, body: issued({ expires_in: 3600, scope: 'read:avatars' }) });
    const token = res.json().access_token;
    expect(token).toEqual(CODE);
    const row = await w.t.storage.accessTokens.find(storageKey(token));
    expect(row).toEqual({
      digest: storageKey(token), tenantId: 'default', grantId: expect.any(String), clientId: opaque.id, subject: w.aliceId,
      scope: 'read:avatars', audience: [AVATARS], issuedAt: now(), expiresAt: now() + 3600, revokedAt: null,
    });
    const introspected = await tokenRequest(w.t.app, opaque, { token }, INTROSPECT);
    expect(jsonView(introspected)).toEqual({
      status: 200, body: { active: true, scope: 'read:avatars', client_id: opaque.id, sub: w.aliceId, aud: AVATARS, exp: now() + 3600, iat: now(), iss: ISSUER, token_type: 'Bearer' },
    });
    const asJwt = await w.exchange(gateway, { subject_token: subject, subject_token_type: TYPE.access });
    expect(await verified(asJwt.json().access_token)).toEqual(claims({ sub: w.aliceId, aud: AVATARS, client_id: gateway.id, scope: 'read:avatars' }));
  });

  it("takes a client's own token as subject: sub stays that client, under a grant with no user", async () => {
    const { svc, any } = w.clients;
    const subject = await w.serviceToken(svc, 'read:avatars');
    const res = await w.exchange(any, { subject_token: subject, subject_token_type: TYPE.access });
    expect(jsonView(res)).toEqual({ status: 200, body: issued({ expires_in: 3600, scope: 'read:avatars' }) });
    const token = res.json().access_token;
    expect(await verified(token)).toEqual(claims({ sub: svc.id, aud: AVATARS, client_id: any.id, scope: 'read:avatars' }));
    expect(await w.t.storage.grants.get(grantOf(token))).toMatchObject({ clientId: any.id, subject: null });
  });

  it('records token.issued with the grant type, the subject type and the actor', async () => {
    const { gateway, app } = w.clients;
    const subject = (await w.signIn(app, 'read:avatars')).access_token;
    const res = await w.exchange(gateway, { subject_token: subject, subject_token_type: TYPE.access, actor_token: await w.serviceToken(gateway), actor_token_type: TYPE.access });
    const { events } = await w.t.storage.audit.list('default', { type: 'token.issued', limit: 1 });
    expect(events[0]).toEqual({
      id: expect.any(String), tenantId: 'default', type: 'token.issued', at: now(), actor: gateway.id, clientId: gateway.id, userId: w.aliceId, ip: '127.0.0.1',
      detail: { grant_type: GRANT, scope: 'read:avatars', grant_id: grantOf(res.json().access_token), subject_type: TYPE.access, subject_client: app.id, actor_sub: gateway.id },
    });
  });

  it('lists the grant type in discovery, token endpoint unchanged', async () => {
    const meta = (await w.t.app.inject({ url: '/realms/default/.well-known/openid-configuration' })).json();
    expect(meta.grant_types_supported).toContain(GRANT);
    expect(meta.token_endpoint).toBe(`${ISSUER}/protocol/openid-connect/token`);
  });
});
