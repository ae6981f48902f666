import { OAuthError } from '../errors.js';
import { issueAccessToken } from '../tokens/access_token.js';
import { parseScope } from '../tokens/scope.js';
import { resolveTarget } from '../tokens/target.js';
import { audit } from '../audit.js';
import type { Services } from '../http/context.js';
import type { GrantContext, GrantHandler } from './types.js';

/**
 * Server tokens are the hot path (a machine client may ask many times a second): one audit
 * row each would double the writes behind every token. So issuance is recorded for the
 * first token per client per minute on each node, which still shows which clients obtain
 * tokens, from where, and since when. Per app instance, so test apps never share it.
 */
const lastRecorded = new WeakMap<Services, Map<string, number>>();
const SAMPLER_MAX_CLIENTS = 10_000;

function firstThisMinute(ctx: GrantContext, clientId: string): boolean {
  const minute = Math.floor(ctx.services.clock.now() / 60_000);
  let seen = lastRecorded.get(ctx.services);
  if (!seen) lastRecorded.set(ctx.services, (seen = new Map()));
  const key = `${ctx.tenant.id}\u0000${clientId}`;
  if (seen.get(key) === minute) return false;
  // Bounded: at worst a client is recorded twice in a minute after a reset.
  if (seen.size >= SAMPLER_MAX_CLIENTS) seen.clear();
  seen.set(key, minute);
  return true;
}

/** Scopes that need a user; a client acting for itself gets neither an ID nor a refresh token. */
const USER_SCOPES = new Set(['openid', 'offline_access']);

/**
 * RFC 6749 §4.4: a confidential client obtains a token for itself ("server token").
 * The grant is the client's own registration: one per client, created on first use.
 */
export const clientCredentials: GrantHandler = {
  grantType: 'client_credentials',
  parameters: ['scope', 'audience', 'resource'],
  repeatable: ['resource'],
  async handle(ctx) {
    const { client } = ctx.client;
    if (ctx.client.method === 'none') {
      // §4.4: "The client credentials grant type MUST only be used by confidential clients."
      throw new OAuthError('unauthorized_client', 'a public client cannot use the client_credentials grant');
    }
    const requested = parseScope(ctx.params.get('scope'), ctx.commaScopes);
    const userScope = requested?.find((s) => USER_SCOPES.has(s));
    if (userScope) throw new OAuthError('invalid_scope', `scope ${userScope} needs a user and cannot be granted with client_credentials`);

    const target = await resolveTarget(ctx, client, {
      requested,
      audience: ctx.params.get('audience'),
      resources: ctx.params.all('resource'),
      defaultScopes: client.scopes.filter((s) => !USER_SCOPES.has(s)),
    });
    const token = await issueAccessToken(ctx, {
      client,
      subject: client.clientId,
      grantId: `cc.${client.clientId}`,
      scopes: target.scopes,
      audience: target.audience,
      ttl: target.ttl,
    });
    if (firstThisMinute(ctx, client.clientId)) {
      await audit(ctx, { type: 'token.issued', actor: client.clientId, clientId: client.clientId, ip: ctx.request.ip, detail: { grant_type: 'client_credentials', scope: target.scopes.join(' '), sampled: 'first per client per minute on this node' } });
    }
    return { access_token: token.value, token_type: 'Bearer', expires_in: token.expiresIn, ...(target.scopes.length > 0 && { scope: target.scopes.join(' ') }) };
  },
};
