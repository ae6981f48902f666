import { OAuthError } from '../errors.js';
import { issueAccessToken } from '../tokens/access_token.js';
import { parseScope } from '../tokens/scope.js';
import { resolveTarget } from '../tokens/target.js';
import type { GrantHandler } from './types.js';

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
    return { access_token: token.value, token_type: 'Bearer', expires_in: token.expiresIn, ...(target.scopes.length > 0 && { scope: target.scopes.join(' ') }) };
  },
};
