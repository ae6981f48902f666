import type { FastifyReply, FastifyRequest } from 'fastify';
import { auditRefusal } from '../audit_refusals.js';
import { OAuthError } from '../errors.js';
import { authenticateIntrospector, type Introspector } from '../http/client_auth.js';
import type { TenantContext } from '../http/context.js';
import { formBody } from '../http/form.js';
import { readAccessToken } from '../tokens/read_access_token.js';
import { findRefreshToken, refreshTokenIsActive } from '../tokens/refresh_token_state.js';

const INACTIVE = { active: false } as const;

/** What an active access token's introspection says (RFC 7662 §2.2), or undefined if the caller may not see it. */
async function accessTokenView(ctx: TenantContext, caller: Introspector, token: string, req?: FastifyRequest): Promise<Record<string, unknown> | undefined> {
  const info = await readAccessToken(ctx, token);
  if (!info) return undefined;
  // SECURITY-CHECKLIST 58: the client it was issued to, or an API it is meant for; nobody else.
  const visible = caller.kind === 'client' ? info.clientId === caller.client.clientId : info.audience.includes(caller.api.audience);
  if (!visible) {
    // A live token of someone else's: the caller gets `active: false`, operators get an event.
    auditRefusal(ctx, req, 'security.introspection_refused', {
      reason: 'the token was issued to another client and is not meant for this API', clientId: caller.kind === 'client' ? caller.client.clientId : caller.api.id,
      detail: { issued_to: info.clientId },
    });
    return undefined;
  }
  return {
    active: true,
    ...(info.scopes.length > 0 && { scope: info.scopes.join(' ') }),
    client_id: info.clientId,
    sub: info.subject,
    aud: info.audience.length === 1 ? info.audience[0] : info.audience,
    exp: info.expiresAt,
    iat: info.issuedAt,
    iss: ctx.issuer,
    // RFC 9449 §6.2: a DPoP-bound token says so, and names its key.
    token_type: info.jkt === undefined ? 'Bearer' : 'DPoP',
    ...(info.jti !== undefined && { jti: info.jti }),
    ...(info.jkt !== undefined && { cnf: { jkt: info.jkt } }),
    // RFC 8693 §4.1 / RFC 7662 §2.2: the delegation chain of an exchanged token.
    ...(info.act !== undefined && { act: info.act }),
  };
}

/** A refresh token's introspection, for the client it was issued to only (APIs never see refresh tokens). */
async function refreshTokenView(ctx: TenantContext, caller: Introspector, token: string, req?: FastifyRequest): Promise<Record<string, unknown> | undefined> {
  if (caller.kind !== 'client') return undefined;
  const found = await findRefreshToken(ctx, token);
  if (!found || !(await refreshTokenIsActive(ctx, found))) return undefined;
  if (found.row.clientId !== caller.client.clientId) {
    auditRefusal(ctx, req, 'security.introspection_refused', {
      reason: 'the refresh token was issued to another client', clientId: caller.client.clientId, detail: { issued_to: found.row.clientId },
    });
    return undefined;
  }
  return {
    active: true,
    ...(found.data.scopes.length > 0 && { scope: found.data.scopes.join(' ') }),
    client_id: found.row.clientId,
    sub: found.data.userId,
    exp: found.row.expiresAt,
    iat: found.row.createdAt,
    iss: ctx.issuer,
  };
}

/**
 * Token introspection (RFC 7662). Only an authenticated caller is answered (§2.1,
 * SECURITY-CHECKLIST 45); anything it may not know about — unknown, expired, revoked, another
 * tenant's, another client's or another API's token — is `{"active": false}` and nothing
 * else (§2.2), so the answer never tells which of those it was.
 */
export async function introspectionEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const params = formBody(req);
  params.assertNoDuplicates();
  const caller = await authenticateIntrospector(ctx, req, params);
  const token = params.get('token');
  if (!token) throw new OAuthError('invalid_request', 'token is missing');
  const views = params.get('token_type_hint') === 'refresh_token' ? [refreshTokenView, accessTokenView] : [accessTokenView, refreshTokenView];
  let body: Record<string, unknown> | undefined;
  for (const view of views) if ((body = await view(ctx, caller, token, req))) break;
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send(body ?? INACTIVE);
}
