import { jwtVerify, type JWTPayload } from 'jose';
import { seconds } from '../clock.js';
import type { TenantContext } from '../http/context.js';
import { grantOfJti } from './access_token.js';
import { storageKey } from './opaque.js';
import { issuedBeforePolicy } from './not_before.js';

/** What an access token says, once checked. */
export interface AccessTokenInfo {
  subject: string;
  clientId: string;
  scopes: string[];
  audience: string[];
  issuedAt: number;
  expiresAt: number;
  /** A JWT's `jti` (revoked by it until `exp`), or the storage key of an opaque token's row. */
  format: 'jwt' | 'opaque';
  jti?: string;
  digest?: string;
  /** RFC 9449 §6: the thumbprint of the DPoP key the token is bound to (`cnf.jkt`); absent for a bearer token. */
  jkt?: string;
  /** RFC 8693 §4.1: who acts for the subject, in a token issued by exchange (JWTs only). */
  act?: Record<string, unknown>;
}

const looksLikeJwt = (token: string) => token.split('.').length === 3;

/** The payload of a JWT access token of this tenant, or undefined: signature, `typ`, issuer and expiry only. */
async function verifiedPayload(ctx: TenantContext, token: string, now: number): Promise<JWTPayload | undefined> {
  const ring = ctx.services.cache.peekKeyRing(ctx.tenant.id) ?? (await ctx.services.cache.keyRing(ctx.tenant.id));
  try {
    const { payload } = await jwtVerify(token, ring.verificationKeys(), {
      issuer: ctx.issuer, typ: 'at+jwt', currentDate: new Date(now * 1000), algorithms: ['ES256', 'EdDSA', 'RS256'],
    });
    return payload;
  } catch {
    return undefined;
  }
}

/**
 * Checks an access token of this tenant: a JWT must verify against the tenant's keys
 * with `typ: at+jwt` (RFC 9068 §4: an ID or refresh token is never one) and this issuer,
 * and be neither revoked by its `jti` nor issued under a revoked grant; an opaque one must
 * be stored, unexpired and unrevoked. Anything else is undefined. A storage failure throws
 * (a 5xx), so a revoked token is never taken for a live one.
 */
export async function readAccessToken(ctx: TenantContext, token: string): Promise<AccessTokenInfo | undefined> {
  const now = seconds(ctx.services.clock);
  const { storage } = ctx.services;
  if (looksLikeJwt(token)) {
    const payload = await verifiedPayload(ctx, token, now);
    if (!payload) return undefined;
    const { sub, client_id: clientId, jti } = payload;
    if (typeof sub !== 'string' || typeof clientId !== 'string' || typeof jti !== 'string') return undefined;
    // Keycloak's not-before policy (tokens/not_before.ts).
    if (await issuedBeforePolicy(ctx, clientId, payload.iat ?? 0)) return undefined;
    // A user grant's tokens die with it (access_token.ts `accessTokenJti`); a client's only by jti.
    const grantId = grantOfJti(jti);
    const [revoked, grant] = await Promise.all([
      storage.revocations.isJtiRevoked(ctx.tenant.id, jti),
      grantId === undefined ? undefined : storage.grants.get(grantId),
    ]);
    if (revoked) return undefined;
    if (grantId !== undefined && (!grant || grant.revokedAt !== null || grant.tenantId !== ctx.tenant.id || grant.clientId !== clientId)) return undefined;
    const jkt = (payload.cnf as { jkt?: unknown } | undefined)?.jkt;
    const act = payload.act;
    return {
      subject: sub, clientId,
      scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
      audience: Array.isArray(payload.aud) ? payload.aud : payload.aud ? [payload.aud] : [],
      issuedAt: payload.iat ?? 0, expiresAt: payload.exp ?? 0, format: 'jwt', jti,
      ...(typeof jkt === 'string' && { jkt }),
      ...(act !== null && typeof act === 'object' && !Array.isArray(act) && { act: act as Record<string, unknown> }),
    };
  }
  const digest = storageKey(token);
  // One statement for the token and its grant: a token stored just after its grant was
  // revoked (a racing code replay) is dead too, though its own row says nothing.
  const row = await storage.accessTokens.lookup(digest);
  if (!row || row.tenantId !== ctx.tenant.id || row.revokedAt !== null || row.grantRevokedAt !== null || row.expiresAt <= now) return undefined;
  if (await issuedBeforePolicy(ctx, row.clientId, row.issuedAt)) return undefined;
  return {
    subject: row.subject, clientId: row.clientId, scopes: row.scope.split(' ').filter(Boolean), audience: row.audience,
    issuedAt: row.issuedAt, expiresAt: row.expiresAt, format: 'opaque', digest,
    ...(row.jkt !== undefined && { jkt: row.jkt }),
  };
}
