import { seconds } from '../clock.js';
import { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import type { Artifact } from '../storage/types.js';
import { storageKey } from './opaque.js';
import { OFFLINE_IDLE_SECONDS, readRefreshToken, type RefreshClaims, type RefreshData } from './refresh_token.js';

/** A genuine refresh token of this tenant with its stored row (live or not). */
export interface FoundRefreshToken {
  claims: RefreshClaims;
  row: Artifact & { grantId: string };
  data: RefreshData;
}

/**
 * The refresh token `value` if it is one of this tenant's, signed by it and with its row in
 * store; undefined for anything else (an access token, garbage, an expired token). Storage
 * failures throw: revocation must never answer 200 for a token it could not look up.
 */
export async function findRefreshToken(ctx: TenantContext, value: string): Promise<FoundRefreshToken | undefined> {
  let claims: RefreshClaims;
  try {
    claims = await readRefreshToken(ctx, value);
  } catch (err) {
    if (err instanceof OAuthError && err.error === 'invalid_grant') return undefined;
    throw err;
  }
  const row = await ctx.services.storage.artifacts.find('refresh_token', storageKey(claims.jti));
  if (!row || row.tenantId !== ctx.tenant.id || row.grantId === null || row.clientId !== claims.azp) return undefined;
  const data = row.data as unknown as RefreshData;
  if (data.userId !== claims.sub) return undefined;
  return { claims, row: row as Artifact & { grantId: string }, data };
}

/**
 * Whether the refresh grant would still accept this token (RFC 7662 `active`): unused (not
 * rotated out, its grant not revoked), unexpired, not idle too long, its session live if it
 * is bound to one, and its user enabled. The refresh grant makes the same checks.
 */
export async function refreshTokenIsActive(ctx: TenantContext, found: FoundRefreshToken): Promise<boolean> {
  const { storage, clock } = ctx.services;
  const now = seconds(clock);
  const { row, data } = found;
  if (row.usedAt !== null || row.expiresAt <= now) return false;
  const grant = await storage.grants.get(row.grantId);
  if (!grant || grant.revokedAt !== null) return false;
  if (data.sid !== undefined) {
    const session = await storage.sessions.getById(ctx.tenant.id, data.sid);
    if (!session || session.userId !== data.userId || session.revokedAt !== null || now >= session.idleExpiresAt || now >= session.expiresAt) return false;
  } else if (row.createdAt + OFFLINE_IDLE_SECONDS <= now) {
    return false;
  }
  const user = await storage.users.get(ctx.tenant.id, data.userId);
  return user !== undefined && !user.disabled;
}
