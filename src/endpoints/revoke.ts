import type { FastifyReply, FastifyRequest } from 'fastify';
import { seconds } from '../clock.js';
import { audit } from '../audit.js';
import { OAuthError } from '../errors.js';
import { authenticateClient } from '../http/client_auth.js';
import type { TenantContext } from '../http/context.js';
import { formBody } from '../http/form.js';
import { readAccessToken } from '../tokens/read_access_token.js';
import { findRefreshToken } from '../tokens/refresh_token_state.js';

/** Revokes `token` if it is a live access token of `clientId`; true if it was one (of anyone's). */
async function revokeAccessToken(ctx: TenantContext, clientId: string, token: string): Promise<boolean> {
  const info = await readAccessToken(ctx, token);
  if (!info) return false;
  // RFC 7009 §2.1: the token must have been issued to the client making the request;
  // another client's token is left alone, and the answer is the same 200 (SECURITY-CHECKLIST 43).
  if (info.clientId !== clientId) return true;
  const { storage, clock } = ctx.services;
  if (info.format === 'jwt') await storage.revocations.revokeJti(ctx.tenant.id, info.jti!, info.expiresAt);
  else await storage.accessTokens.revoke(info.digest!, seconds(clock));
  await audit(ctx, { type: 'token.revoked', actor: clientId, clientId, userId: info.subject === clientId ? undefined : info.subject, detail: { reason: 'revocation_request', kind: 'access' } });
  return true;
}

/** Revokes the grant of `token` if it is a refresh token of `clientId`; true if it was one (of anyone's). */
async function revokeRefreshToken(ctx: TenantContext, clientId: string, token: string): Promise<boolean> {
  const found = await findRefreshToken(ctx, token);
  if (!found) return false;
  if (found.row.clientId !== clientId) return true;
  // RFC 7009 §2.1: revoking a refresh token revokes the grant — its whole refresh family and
  // every access token issued under it (SECURITY-CHECKLIST 44). A rotated-out token of the
  // family counts too: the client wants the grant gone either way.
  await ctx.services.storage.grants.revoke(found.row.grantId, seconds(ctx.services.clock));
  await audit(ctx, { type: 'token.revoked', actor: clientId, clientId, detail: { reason: 'revocation_request', kind: 'refresh', grant_id: found.row.grantId } });
  return true;
}

/**
 * Token revocation (RFC 7009): the client authenticates as at the token endpoint (a public
 * client by its client_id) and names a token; `token_type_hint` only decides which kind is
 * looked for first (§2.1). The answer is 200 whether or not there was anything to revoke
 * (§2.2), but only once the revocation is stored: a storage failure is a 5xx (checklist 43).
 */
export async function revocationEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const params = formBody(req);
  params.assertNoDuplicates();
  const { client } = await authenticateClient(ctx, req, params);
  const token = params.get('token');
  if (!token) throw new OAuthError('invalid_request', 'token is missing');
  const order = params.get('token_type_hint') === 'refresh_token' ? [revokeRefreshToken, revokeAccessToken] : [revokeAccessToken, revokeRefreshToken];
  for (const revoke of order) if (await revoke(ctx, client.clientId, token)) break;
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').code(200).send();
}
