import type { FastifyReply, FastifyRequest } from 'fastify';
import { bearerError, headerBearerToken } from '../http/bearer.js';
import type { TenantContext } from '../http/context.js';
import { formBody } from '../http/form.js';
import { userClaims } from '../tokens/claims.js';
import { readAccessToken } from '../tokens/read_access_token.js';

/**
 * The bearer token of a request (RFC 6750 §2): the Authorization header (scheme
 * case-insensitive, SECURITY-CHECKLIST 47) or a form body; never the query (checklist 46).
 */
function bearerToken(ctx: TenantContext, req: FastifyRequest): string | undefined {
  const fromHeader = headerBearerToken(req);
  const fromBody = req.method === 'POST' && req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') ? formBody(req).get('access_token') : undefined;
  if (fromHeader && fromBody) throw bearerError(ctx, 'invalid_request', 'the token was sent in more than one way', true);
  return fromHeader || fromBody;
}

/** OIDC Core §5.3: the claims about the signed-in user that the token's scopes allow. */
export async function userinfoEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const token = bearerToken(ctx, req);
  if (!token) throw bearerError(ctx, 'invalid_token', 'an access token is required', false);
  const info = await readAccessToken(ctx, token);
  if (!info) throw bearerError(ctx, 'invalid_token', 'the access token is invalid, expired or revoked', true);
  if (!info.scopes.includes('openid')) throw bearerError(ctx, 'insufficient_scope', 'the access token lacks scope openid', true);
  const user = await ctx.services.storage.users.get(ctx.tenant.id, info.subject);
  if (!user || user.disabled) throw bearerError(ctx, 'invalid_token', 'the user of this token is disabled or gone', true);
  return reply.header('cache-control', 'no-store').send({ sub: user.id, ...userClaims(user, info.scopes) });
}
