import { createLocalJWKSet, jwtVerify } from 'jose';
import { seconds } from '../clock.js';
import type { TenantContext } from '../http/context.js';
import { storageKey } from './opaque.js';

/** What an access token says, once checked. */
export interface AccessTokenInfo {
  subject: string;
  clientId: string;
  scopes: string[];
  audience: string[];
  issuedAt: number;
  expiresAt: number;
}

const looksLikeJwt = (token: string) => token.split('.').length === 3;

/**
 * Checks an access token of this tenant: a JWT must verify against the tenant's keys
 * with `typ: at+jwt` (RFC 9068 §4: an ID or refresh token is never one) and this issuer;
 * an opaque one must be stored, unexpired and unrevoked. Anything else is undefined.
 */
export async function readAccessToken(ctx: TenantContext, token: string): Promise<AccessTokenInfo | undefined> {
  const now = seconds(ctx.services.clock);
  if (looksLikeJwt(token)) {
    const ring = ctx.services.cache.peekKeyRing(ctx.tenant.id) ?? (await ctx.services.cache.keyRing(ctx.tenant.id));
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet(ring.jwks() as never), {
        issuer: ctx.issuer, typ: 'at+jwt', currentDate: new Date(now * 1000), algorithms: ['ES256', 'EdDSA', 'RS256'],
      });
      if (typeof payload.sub !== 'string' || typeof payload.client_id !== 'string') return undefined;
      return {
        subject: payload.sub, clientId: payload.client_id,
        scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
        audience: Array.isArray(payload.aud) ? payload.aud : payload.aud ? [payload.aud] : [],
        issuedAt: payload.iat ?? 0, expiresAt: payload.exp ?? 0,
      };
    } catch {
      return undefined;
    }
  }
  const { storage } = ctx.services;
  const row = await storage.accessTokens.find(storageKey(token));
  if (!row || row.tenantId !== ctx.tenant.id || row.revokedAt !== null || row.expiresAt <= now) return undefined;
  // A token stored just after its grant was revoked (a racing code replay) is dead too.
  const grant = await storage.grants.get(row.grantId);
  if (!grant || grant.revokedAt !== null) return undefined;
  return {
    subject: row.subject, clientId: row.clientId, scopes: row.scope.split(' ').filter(Boolean), audience: row.audience,
    issuedAt: row.issuedAt, expiresAt: row.expiresAt,
  };
}
