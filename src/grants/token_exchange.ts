import { audit } from '../audit.js';
import { seconds } from '../clock.js';
import { identifier } from '../crypto/random.js';
import { assertSameKey } from '../dpop/binding.js';
import { OIDC_SCOPES } from '../endpoints/authorize_request.js';
import { OAuthError } from '../errors.js';
import { issueAccessToken } from '../tokens/access_token.js';
import { parseScope } from '../tokens/scope.js';
import { isSupportedTokenType, readPresentedToken, TOKEN_TYPE } from '../tokens/subject_token.js';
import { resolveTarget } from '../tokens/target.js';
import { actClaim, assertAudiencesAllowed, assertMayAct, assertMayPresent } from './token_exchange_policy.js';
import type { GrantContext, GrantHandler } from './types.js';

const GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';

/** The request's token parameters, checked for presence and supported types before any token is read. */
function tokenParameters(ctx: GrantContext) {
  const p = ctx.params;
  const subjectToken = p.get('subject_token');
  const subjectType = p.get('subject_token_type');
  const actorToken = p.get('actor_token');
  const actorType = p.get('actor_token_type');
  // RFC 8693 §2.1: subject_token and subject_token_type are REQUIRED.
  if (!subjectToken) throw new OAuthError('invalid_request', 'subject_token is missing');
  if (!subjectType) throw new OAuthError('invalid_request', 'subject_token_type is missing');
  // §2.1: actor_token_type is REQUIRED with actor_token and MUST NOT be sent without it.
  if (actorToken !== undefined && !actorType) throw new OAuthError('invalid_request', 'actor_token_type is required with actor_token');
  if (actorToken === undefined && actorType !== undefined) throw new OAuthError('invalid_request', 'actor_token_type was sent without actor_token');
  for (const [name, type] of [['subject_token_type', subjectType], ['actor_token_type', actorType]] as const) {
    if (type !== undefined && !isSupportedTokenType(type)) throw new OAuthError('invalid_request', `${name} ${type} is not supported`);
  }
  // §2.1 requested_token_type: an access token, as a JWT if asked (the client's format must be JWT).
  const requested = p.get('requested_token_type') ?? TOKEN_TYPE.accessToken;
  if (requested !== TOKEN_TYPE.accessToken && requested !== TOKEN_TYPE.jwt) {
    throw new OAuthError('invalid_request', `requested_token_type ${requested} is not supported: only access tokens are issued by exchange`);
  }
  if (requested === TOKEN_TYPE.jwt && ctx.client.client.accessTokenFormat !== 'jwt') {
    throw new OAuthError('invalid_request', 'requested_token_type jwt needs a client whose access tokens are JWTs');
  }
  return { subjectToken, subjectType, actor: actorToken !== undefined ? { token: actorToken, type: actorType! } : undefined, requested };
}

/**
 * RFC 8693: OAuth 2.0 Token Exchange. A confidential client presents a live token of this
 * tenant (the subject) and, for delegation, one of the party acting for it (the actor), and
 * gets an access token for the same subject, for an audience its policy allows
 * (`--token-exchange-subject-client`, `--token-exchange-audience`), with at most the subject
 * token's scopes. No refresh token is issued: the subject token is the renewable credential.
 *
 * Grant membership: a client exchanging its own token gets the new token under that token's
 * grant, so revoking the grant revokes both. A token for another client, or from an ID token
 * (which has no grant), is issued under a new grant of that client for the same user, which
 * ends with the token; as a JWT names one grant and is checked against its client, it cannot
 * join the subject's grant. It is capped at the subject's (and actor's) expiry instead.
 */
export const tokenExchange: GrantHandler = {
  grantType: GRANT_TYPE,
  parameters: ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'scope', 'audience', 'resource'],
  // §2.1: audience and resource may each be given more than once.
  repeatable: ['audience', 'resource'],
  async handle(ctx) {
    const { client } = ctx.client;
    // RFC 8693 §5: exchange hands out new tokens for old; only a client that proves who it is.
    if (ctx.client.method === 'none') throw new OAuthError('unauthorized_client', 'a public client cannot use token exchange');
    const req = tokenParameters(ctx);
    const requestedScopes = parseScope(ctx.params.get('scope'), ctx.commaScopes);

    const subject = await readPresentedToken(ctx, req.subjectToken, req.subjectType, 'subject_token');
    const actor = req.actor && (await readPresentedToken(ctx, req.actor.token, req.actor.type, 'actor_token'));
    assertMayPresent(client, subject, 'subject_token');
    if (actor) assertMayPresent(client, actor, 'actor_token');
    // RFC 9449 §7: a DPoP-bound token is usable only with a proof of its key, here as anywhere:
    // exchanging it must not turn a stolen bound token into a bearer one.
    assertSameKey(ctx.sender, subject.jkt, 'subject_token');
    if (actor) assertSameKey(ctx.sender, actor.jkt, 'actor_token');
    assertMayAct(ctx, subject, actor ? { sub: actor.subject, clientId: actor.clientId } : { sub: client.clientId, clientId: client.clientId });
    const act = actClaim(subject, actor);
    // Opaque tokens have nowhere to keep `act`, and a delegated token must never pass for the user's own.
    if (act !== undefined && client.accessTokenFormat !== 'jwt') {
      throw new OAuthError('invalid_request', 'a delegated token (act) can only be issued to a client whose access tokens are JWTs');
    }

    // §2.1 scope, RFC 6749 §3.3: never wider than the subject token's; offline_access is not
    // carried, since no refresh token is issued.
    if (requestedScopes?.includes('offline_access')) throw new OAuthError('invalid_scope', 'scope offline_access cannot be granted by token exchange, which issues no refresh token');
    const held = subject.scopes.filter((s) => s !== 'offline_access');
    const wanted = requestedScopes ?? held.filter((s) => OIDC_SCOPES.has(s) || client.scopes.includes(s));
    const beyond = wanted.find((s) => !held.includes(s));
    if (beyond !== undefined) throw new OAuthError('invalid_scope', `scope ${beyond} is not held by the subject_token`);
    const target = await resolveTarget(ctx, client, {
      requested: requestedScopes?.filter((s) => !OIDC_SCOPES.has(s)),
      audience: undefined,
      // RFC 8693 §2.1 allows audience and resource together; both name APIs here.
      resources: [...ctx.params.all('audience'), ...ctx.params.all('resource')],
      defaultScopes: wanted.filter((s) => !OIDC_SCOPES.has(s)),
      // The exchange policy (assertAudiencesAllowed) decides which APIs this client may name.
      audiencesPolicyChecked: true,
    });
    await assertAudiencesAllowed(ctx, client, target.audience);
    const scopes = [...wanted.filter((s) => OIDC_SCOPES.has(s)), ...target.scopes];

    const { storage, clock, random } = ctx.services;
    const now = seconds(clock);
    // Both tokens were found unexpired, so this is at least a second.
    const ttl = Math.min(target.ttl, subject.expiresAt - now, actor ? actor.expiresAt - now : Infinity);
    let grantId = subject.clientId === client.clientId ? subject.grantId : undefined;
    if (grantId === undefined) {
      grantId = identifier(random);
      await storage.grants.ensure({
        id: grantId, tenantId: ctx.tenant.id, clientId: client.clientId, subject: subject.userId ?? null, scope: scopes.join(' '),
        createdAt: now, expiresAt: now + ttl, revokedAt: null,
      });
    }
    const token = await issueAccessToken(ctx, { client, subject: subject.subject, grantId, scopes, audience: target.audience, ttl, ...(act && { act }) });
    await audit(ctx, {
      type: 'token.issued', actor: client.clientId, clientId: client.clientId, userId: subject.userId, ip: ctx.request.ip,
      detail: { grant_type: GRANT_TYPE, scope: scopes.join(' '), grant_id: grantId, subject_type: req.subjectType, subject_client: subject.clientId, ...(actor && { actor_sub: actor.subject }) },
    });
    return {
      access_token: token.value,
      // §2.2.1: issued_token_type is REQUIRED.
      issued_token_type: req.requested,
      token_type: 'Bearer',
      expires_in: token.expiresIn,
      ...(scopes.length > 0 && { scope: scopes.join(' ') }),
    };
  },
};
