import type { FastifyReply, FastifyRequest } from 'fastify';
import { checkSenderConstraint, headerAccessToken, resourceError, type PresentedToken } from '../dpop/resource.js';
import { bearerError } from '../http/bearer.js';
import type { TenantContext } from '../http/context.js';
import { formBody } from '../http/form.js';
import { userClaims } from '../tokens/claims.js';
import { readAccessToken } from '../tokens/read_access_token.js';

/**
 * The access token of a request: the Authorization header, `Bearer` (RFC 6750 §2, scheme
 * case-insensitive, SECURITY-CHECKLIST 47) or `DPoP` (RFC 9449 §7.1), or a bearer token in a
 * form body; never the query (checklist 46).
 */
function presentedToken(ctx: TenantContext, req: FastifyRequest): PresentedToken | undefined {
  const fromHeader = headerAccessToken(req);
  const fromBody = req.method === 'POST' && req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') ? formBody(req).get('access_token') : undefined;
  if (fromHeader && fromBody) throw bearerError(ctx, 'invalid_request', 'the token was sent in more than one way', true);
  return fromHeader ?? (fromBody ? { token: fromBody, scheme: 'Bearer' } : undefined);
}

/** OIDC Core §5.3: the claims about the signed-in user that the token's scopes allow. */
export async function userinfoEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const presented = presentedToken(ctx, req);
  if (!presented) throw bearerError(ctx, 'invalid_token', 'an access token is required', false);
  const info = await readAccessToken(ctx, presented.token);
  if (!info) throw resourceError(ctx, presented.scheme, 'invalid_token', 'the access token is invalid, expired or revoked');
  await checkSenderConstraint(ctx, req, presented, info);
  if (!info.scopes.includes('openid')) throw resourceError(ctx, presented.scheme, 'insufficient_scope', 'the access token lacks scope openid');
  const user = await ctx.services.storage.users.get(ctx.tenant.id, info.subject);
  if (!user || user.disabled) throw resourceError(ctx, presented.scheme, 'invalid_token', 'the user of this token is disabled or gone');
  return reply.header('cache-control', 'no-store').send({ sub: user.id, ...userClaims(user, info.scopes) });
}
