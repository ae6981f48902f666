import type { FastifyReply, FastifyRequest } from 'fastify';
import { seconds } from '../clock.js';
import { checkSenderConstraint, headerAccessToken, resourceError } from '../dpop/resource.js';
import { bearerError } from '../http/bearer.js';
import type { TenantContext } from '../http/context.js';
import { readAccessToken } from '../tokens/read_access_token.js';

/**
 * Token validation as Pulsoid and Twitch offer it (`GET /oauth2/validate`): the token of the
 * Authorization header, checked against the store on every call, so a revocation shows at
 * once on every node. Only the header counts (SECURITY-CHECKLIST 46, 47); a DPoP-bound token
 * comes with the DPoP scheme and a proof (RFC 9449 §7).
 */
export async function validateEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const presented = headerAccessToken(req);
  if (!presented) throw bearerError(ctx, 'invalid_token', 'an access token is required', false);
  const info = await readAccessToken(ctx, presented.token);
  if (!info) throw resourceError(ctx, presented.scheme, 'invalid_token', 'the access token is invalid, expired or revoked');
  await checkSenderConstraint(ctx, req, presented, info);
  return reply.header('cache-control', 'no-store').send({
    client_id: info.clientId,
    sub: info.subject,
    scopes: info.scopes,
    expires_in: Math.max(0, info.expiresAt - seconds(ctx.services.clock)),
  });
}
