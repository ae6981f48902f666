/**
 * RFC 8693 §2.2.2: every refusal of the token-exchange grant, with its whole body — bad
 * requests, tokens that are not live tokens of this tenant, and the client's policy.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { updateUser } from '../src/manage/users.js';
import { BACKENDS } from './helpers.js';
import { jsonView, tokenRequest } from './security/support.js';
import { AVATARS, BILLING, exchangeWorld, GRANT, oauthError, STATS, TYPE, type ExchangeWorld } from './support/token_exchange.js';

const REVOKE = '/realms/default/protocol/openid-connect/revoke';

describe.each(BACKENDS)('token exchange refusals on %s', (backend) => {
  let w: ExchangeWorld;
  /** alice's JWT access token from app. */
  let subject: string;

  beforeAll(async () => {
    w = await exchangeWorld(backend);
  }, 60_000);
  // Fresh for every test: some move the clock past its expiry.
  beforeEach(async () => {
    subject = (await w.signIn(w.clients.app, 'read:avatars read:stats')).access_token;
  });
  afterAll(() => w?.t.close());

  const badRequest = (description: string) => oauthError('invalid_request', description);
  const invalidGrant = (description: string) => oauthError('invalid_grant', description);

  it('answers invalid_request for missing, unpaired, repeated or unsupported parameters', async () => {
    const { gateway } = w.clients;
    const cases: [Record<string, string | undefined>, string][] = [
      [{ subject_token_type: TYPE.access }, 'subject_token is missing'],
      [{ subject_token: subject }, 'subject_token_type is missing'],
      [{ subject_token: subject, subject_token_type: TYPE.access, actor_token: subject }, 'actor_token_type is required with actor_token'],
      [{ subject_token: subject, subject_token_type: TYPE.access, actor_token_type: TYPE.access }, 'actor_token_type was sent without actor_token'],
      [{ subject_token: subject, subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }, 'subject_token_type urn:ietf:params:oauth:token-type:saml2 is not supported'],
      [{ subject_token: subject, subject_token_type: TYPE.access, actor_token: subject, actor_token_type: 'urn:x:custom' }, 'actor_token_type urn:x:custom is not supported'],
      [
        { subject_token: subject, subject_token_type: TYPE.access, requested_token_type: TYPE.refresh },
        'requested_token_type urn:ietf:params:oauth:token-type:refresh_token is not supported: only access tokens are issued by exchange',
      ],
      [
        { subject_token: subject, subject_token_type: TYPE.access, requested_token_type: TYPE.id },
        'requested_token_type urn:ietf:params:oauth:token-type:id_token is not supported: only access tokens are issued by exchange',
      ],
    ];
    for (const [fields, description] of cases) expect(jsonView(await w.exchange(gateway, fields)), description).toEqual(badRequest(description));
    const repeated = await w.t.app.inject({
      method: 'POST', url: '/realms/default/protocol/openid-connect/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${gateway.id}:${gateway.secret}`).toString('base64')}` },
      payload: new URLSearchParams([['grant_type', GRANT], ['subject_token', subject], ['subject_token', subject], ['subject_token_type', TYPE.access]]).toString(),
    });
    expect(jsonView(repeated)).toEqual(badRequest('parameter subject_token must not be repeated'));
  });

  it('answers invalid_request for a JWT or a delegated token asked of a client with opaque tokens', async () => {
    const { opaque, gateway } = w.clients;
    expect(jsonView(await w.exchange(opaque, { subject_token: subject, subject_token_type: TYPE.access, requested_token_type: TYPE.jwt }))).toEqual(
      badRequest('requested_token_type jwt needs a client whose access tokens are JWTs'),
    );
    const actor = await w.serviceToken(gateway);
    expect(jsonView(await w.exchange(opaque, { subject_token: subject, subject_token_type: TYPE.access, actor_token: actor, actor_token_type: TYPE.access }))).toEqual(
      badRequest('a delegated token (act) can only be issued to a client whose access tokens are JWTs'),
    );
  });

  it('answers invalid_grant for a subject token that is not a live token of the declared type', async () => {
    const { gateway, app } = w.clients;
    const tokens = await w.signIn(app, 'openid offline_access read:avatars');
    const cases: [string, string][] = [
      ['not-a-token', TYPE.access],
      ['not-a-token', TYPE.refresh],
      ['a.b.c', TYPE.id],
      [tokens.refresh_token, TYPE.access],
      [tokens.access_token, TYPE.refresh],
      [tokens.id_token, TYPE.access],
      [tokens.access_token, TYPE.id],
      [tokens.refresh_token, TYPE.id],
      [tokens.id_token, TYPE.jwt],
    ];
    for (const [token, type] of cases) {
      expect(jsonView(await w.exchange(gateway, { subject_token: token, subject_token_type: type })), type).toEqual(invalidGrant('subject_token is invalid, expired or revoked'));
    }
    const opaque = (await w.signIn(w.clients.appOpaque, 'read:avatars')).access_token;
    expect(jsonView(await w.exchange(gateway, { subject_token: opaque, subject_token_type: TYPE.jwt }))).toEqual(invalidGrant('subject_token is invalid, expired or revoked'));
  });

  it('answers invalid_grant for a revoked subject token', async () => {
    const { gateway, app } = w.clients;
    const tokens = await w.signIn(app, 'offline_access read:avatars');
    expect((await tokenRequest(w.t.app, app, { token: tokens.access_token }, REVOKE)).statusCode).toBe(200);
    expect(jsonView(await w.exchange(gateway, { subject_token: tokens.access_token, subject_token_type: TYPE.access }))).toEqual(invalidGrant('subject_token is invalid, expired or revoked'));
    // Revoking the refresh token ends its grant: the refresh token and the grant's other tokens.
    const more = await w.signIn(app, 'offline_access read:avatars');
    expect((await tokenRequest(w.t.app, app, { token: more.refresh_token }, REVOKE)).statusCode).toBe(200);
    for (const [token, type] of [[more.refresh_token, TYPE.refresh], [more.access_token, TYPE.access]]) {
      expect(jsonView(await w.exchange(gateway, { subject_token: token, subject_token_type: type })), type).toEqual(invalidGrant('subject_token is invalid, expired or revoked'));
    }
  });

  it("answers invalid_grant for an expired subject token and another tenant's", async () => {
    const { gateway, app, acmeApp } = w.clients;
    const acme = await w.signIn(acmeApp, 'openid offline_access', { tenant: 'acme' });
    for (const [token, type] of [[acme.access_token, TYPE.access], [acme.refresh_token, TYPE.refresh], [acme.id_token, TYPE.id]]) {
      expect(jsonView(await w.exchange(gateway, { subject_token: token, subject_token_type: type })), type).toEqual(invalidGrant('subject_token is invalid, expired or revoked'));
    }
    const tokens = await w.signIn(app, 'openid read:avatars');
    w.clock.advance(3600);
    for (const [token, type] of [[tokens.access_token, TYPE.access], [tokens.id_token, TYPE.id]]) {
      expect(jsonView(await w.exchange(gateway, { subject_token: token, subject_token_type: type })), type).toEqual(invalidGrant('subject_token is invalid, expired or revoked'));
    }
  });

  it('answers invalid_grant for a disabled user and for a bad actor token', async () => {
    const { gateway, app } = w.clients;
    const bobs = await w.signIn(app, 'read:avatars', { username: 'bob' });
    await updateUser(w.t.deps, 'default', w.bobId, { disabled: true });
    expect(jsonView(await w.exchange(gateway, { subject_token: bobs.access_token, subject_token_type: TYPE.access }))).toEqual(invalidGrant('the user of the subject_token is disabled or gone'));
    await updateUser(w.t.deps, 'default', w.bobId, { disabled: false });
    const fresh = (await w.signIn(app, 'read:avatars')).access_token;
    expect(jsonView(await w.exchange(gateway, { subject_token: fresh, subject_token_type: TYPE.access, actor_token: 'not-a-token', actor_token_type: TYPE.access }))).toEqual(
      invalidGrant('actor_token is invalid, expired or revoked'),
    );
  });

  it('answers invalid_grant when the actor is not the one may_act names (RFC 8693 §4.4)', async () => {
    const { any, gateway, svc } = w.clients;
    const forged = await w.forgeAccessToken({ sub: svc.id, client_id: svc.id, scope: 'read:avatars', may_act: { sub: 'someone-else' } });
    const actor = await w.serviceToken(gateway);
    const refused = invalidGrant('the subject_token does not allow this party to act for its subject (may_act)');
    expect(jsonView(await w.exchange(any, { subject_token: forged, subject_token_type: TYPE.access, actor_token: actor, actor_token_type: TYPE.access }))).toEqual(refused);
    // Without an actor token the requesting client is the party that acts.
    expect(jsonView(await w.exchange(any, { subject_token: forged, subject_token_type: TYPE.access }))).toEqual(refused);
    // A claim may_act states must match too, and one Tessera cannot check refuses.
    for (const mayAct of [{ sub: gateway.id, client_id: svc.id }, { sub: gateway.id, email: 'x@example.com' }, 'gateway', { client_id: gateway.id }]) {
      const token = await w.forgeAccessToken({ sub: svc.id, client_id: svc.id, may_act: mayAct });
      expect(jsonView(await w.exchange(any, { subject_token: token, subject_token_type: TYPE.access, actor_token: actor, actor_token_type: TYPE.access })), JSON.stringify(mayAct)).toEqual(refused);
    }
  });

  it('answers unauthorized_client to a client without the grant type and to a public client', async () => {
    expect(jsonView(await w.exchange(w.clients.noExchange, { subject_token: subject, subject_token_type: TYPE.access }))).toEqual(
      oauthError('unauthorized_client', `the client is not allowed to use the ${GRANT} grant`),
    );
    expect(jsonView(await w.exchange(w.clients.publicClient, { subject_token: subject, subject_token_type: TYPE.access }))).toEqual(
      oauthError('unauthorized_client', 'a public client cannot use token exchange'),
    );
  });

  it("answers unauthorized_client for another client's subject or actor token without a policy naming it", async () => {
    const { strict, gateway, svc } = w.clients;
    expect(jsonView(await w.exchange(strict, { subject_token: subject, subject_token_type: TYPE.access }))).toEqual(
      oauthError('unauthorized_client', 'the subject_token was issued to another client, whose tokens this client may not exchange'),
    );
    // gateway may present app's tokens, not svc's: neither as subject nor as actor.
    const svcToken = await w.serviceToken(svc);
    expect(jsonView(await w.exchange(gateway, { subject_token: svcToken, subject_token_type: TYPE.access }))).toEqual(
      oauthError('unauthorized_client', 'the subject_token was issued to another client, whose tokens this client may not exchange'),
    );
    expect(jsonView(await w.exchange(gateway, { subject_token: subject, subject_token_type: TYPE.access, actor_token: svcToken, actor_token_type: TYPE.access }))).toEqual(
      oauthError('unauthorized_client', 'the actor_token was issued to another client, whose tokens this client may not exchange'),
    );
  });

  it('answers invalid_target for an audience outside the policy or no API at all', async () => {
    const { gateway, statsOnly } = w.clients;
    const ex = (client: typeof gateway, fields: Record<string, string | string[]>) =>
      w.t.app.inject({
        method: 'POST', url: '/realms/default/protocol/openid-connect/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}` },
        payload: new URLSearchParams(Object.entries({ grant_type: GRANT, subject_token: subject, subject_token_type: TYPE.access, ...fields }).flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => [k, x]) : [[k, v]]))).toString(),
      });
    const notAllowed = (aud: string) => oauthError('invalid_target', `the client may not obtain tokens for ${JSON.stringify(aud)} by token exchange`);
    // gateway's scopes reach the avatars and stats APIs (and the default audience), not billing.
    expect(jsonView(await ex(gateway, { audience: BILLING }))).toEqual(notAllowed(BILLING));
    expect(jsonView(await ex(gateway, { resource: [AVATARS, BILLING] }))).toEqual(notAllowed(BILLING));
    // statsOnly names the stats API: nothing else, however its scopes reach.
    expect(jsonView(await ex(statsOnly, { audience: AVATARS }))).toEqual(notAllowed(AVATARS));
    expect(jsonView(await ex(statsOnly, { scope: 'read:avatars' }))).toEqual(notAllowed(AVATARS));
    // Naming no audience does not get round it: the API the scopes select is checked too.
    const onlyAvatars = (await w.signIn(w.clients.app, 'read:avatars')).access_token;
    expect(jsonView(await ex(statsOnly, { subject_token: onlyAvatars }))).toEqual(notAllowed(AVATARS));
    expect(jsonView(await ex(gateway, { audience: 'https://unknown.example/' }))).toEqual(oauthError('invalid_target', '"https://unknown.example/" is not an API of this tenant'));
  });

  it('answers invalid_scope for a scope the subject token does not hold, the client may not request, or offline_access', async () => {
    const { gateway } = w.clients;
    const narrow = (await w.signIn(w.clients.app, 'read:avatars')).access_token;
    expect(jsonView(await w.exchange(gateway, { subject_token: narrow, subject_token_type: TYPE.access, scope: 'read:avatars read:stats' }))).toEqual(
      oauthError('invalid_scope', 'scope read:stats is not held by the subject_token'),
    );
    const wide = (await w.signIn(w.clients.app, 'read:avatars write:avatars')).access_token;
    expect(jsonView(await w.exchange(gateway, { subject_token: wide, subject_token_type: TYPE.access, scope: 'write:avatars' }))).toEqual(
      oauthError('invalid_scope', 'the client may not request scope write:avatars'),
    );
    expect(jsonView(await w.exchange(gateway, { subject_token: wide, subject_token_type: TYPE.access, scope: 'offline_access read:avatars' }))).toEqual(
      oauthError('invalid_scope', 'scope offline_access cannot be granted by token exchange, which issues no refresh token'),
    );
    expect(jsonView(await w.exchange(gateway, { subject_token: wide, subject_token_type: TYPE.access, scope: 'read:avatars', audience: STATS }))).toEqual(
      oauthError('invalid_scope', `scope read:avatars belongs to ${AVATARS}, not to the requested audience`),
    );
  });
});
