import type { FastifyReply, FastifyRequest } from 'fastify';
import { tokenRequestSender } from '../dpop/binding.js';
import { OAuthError } from '../errors.js';
import { grants } from '../grants/index.js';
import { authenticateClient } from '../http/client_auth.js';
import type { TenantContext } from '../http/context.js';
import { formBody } from '../http/form.js';
import { notBeforeOf } from '../tokens/not_before.js';

/** Parameters every grant may see: the grant type and client authentication. */
const COMMON = ['grant_type', 'client_id', 'client_secret'];

/** Per grant type, the parameters its handler is given. */
const VISIBLE = new Map([...grants].map(([type, g]) => [type, new Set([...COMMON, ...g.parameters])]));

/**
 * The token endpoint (RFC 6749 §3.2): checks the grant type is supported and allowed for
 * the authenticated client, keeps only that grant's parameters, and dispatches. It holds
 * no grant logic.
 */
export async function tokenEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const params = formBody(req);
  const grantType = params.get('grant_type');
  if (!grantType) throw new OAuthError('invalid_request', 'grant_type is required');
  const grant = grants.get(grantType);
  if (!grant) throw new OAuthError('unsupported_grant_type', `grant type ${grantType} is not supported`);
  params.assertNoDuplicates(grant.repeatable);

  const client = await authenticateClient(ctx, req, params);
  if (!client.client.grantTypes.includes(grantType)) {
    throw new OAuthError('unauthorized_client', `the client is not allowed to use the ${grantType} grant`);
  }
  const own = params.only(VISIBLE.get(grantType)!);
  // RFC 9449 §5: only a request with a DPoP header (or a client that must send one) pays for it.
  const sender = req.headers.dpop === undefined && !client.client.dpopBoundAccessTokens ? undefined : await tokenRequestSender(ctx, req, reply, client.client);
  const body = await grant.handle({ ...ctx, client, params: own, request: req, sender });
  // The grant's access token is bound to the proof's key (tokens/access_token.ts).
  if (sender && body.token_type === 'Bearer') body.token_type = 'DPoP';
  // Keycloak's token responses name the not-before policy (epoch seconds, 0 = none); its adapters read it.
  body['not-before-policy'] = notBeforeOf(ctx, client.client);
  ctx.services.metrics.tokenIssued(grantType, ctx.tenant.id);
  // RFC 6749 §5.1: the response carries credentials and must not be cached.
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send(body);
}
