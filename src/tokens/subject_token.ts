import { decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import { seconds } from '../clock.js';
import { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import { grantOfJti } from './access_token.js';
import { issuedBeforePolicy } from './not_before.js';
import { readAccessToken } from './read_access_token.js';
import { findRefreshToken, refreshTokenIsActive } from './refresh_token_state.js';

/** RFC 8693 §3: the token type identifiers Tessera takes and issues. */
export const TOKEN_TYPE = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  refreshToken: 'urn:ietf:params:oauth:token-type:refresh_token',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
} as const;

/** What a subject or actor token (RFC 8693 §2.1) stands for, once it has been found live. */
export interface PresentedToken {
  /** Its `sub`: a user's id, or a client's for a client's own token. */
  subject: string;
  /** The user it stands for; absent for a client's own (client_credentials) token. */
  userId?: string;
  /** The client it was issued to. */
  clientId: string;
  scopes: string[];
  expiresAt: number;
  /** The grant it belongs to; an ID token belongs to none. */
  grantId?: string;
  /** RFC 8693 §4.1 `act` of a JWT that carries one. */
  act?: Record<string, unknown>;
  /** RFC 8693 §4.4 `may_act` of a JWT that carries one, as it is (the policy checks its shape). */
  mayAct?: unknown;
  /** RFC 9449: the DPoP key the token is bound to; presenting it needs a proof of that key. */
  jkt?: string;
}

type Reader = (ctx: TenantContext, value: string) => Promise<PresentedToken | undefined>;

const objectClaim = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** Live per `readAccessToken` (signature or row, expiry, revocation, its grant, not-before). */
async function accessToken(ctx: TenantContext, value: string, jwtOnly: boolean): Promise<PresentedToken | undefined> {
  const info = await readAccessToken(ctx, value);
  if (!info || (jwtOnly && info.format !== 'jwt')) return undefined;
  const { storage } = ctx.services;
  let claims: JWTPayload = {};
  let grantId: string | undefined;
  if (info.format === 'jwt') {
    claims = decodeJwt(value);
    // A client's own JWT names no grant in its jti (access_token.ts `accessTokenJti`).
    grantId = grantOfJti(info.jti!) ?? (info.subject === info.clientId ? `cc.${info.clientId}` : undefined);
  } else {
    grantId = (await storage.accessTokens.find(info.digest!))?.grantId;
  }
  const grant = grantId && !grantId.startsWith('cc.') ? await storage.grants.get(grantId) : undefined;
  return {
    subject: info.subject, clientId: info.clientId, scopes: info.scopes, expiresAt: info.expiresAt, grantId,
    ...(grant?.subject && { userId: grant.subject }),
    ...(objectClaim(claims.act) && { act: objectClaim(claims.act) }),
    ...(claims.may_act !== undefined && { mayAct: claims.may_act }),
    ...(info.jkt !== undefined && { jkt: info.jkt }),
  };
}

/** Read without rotating it: the refresh grant's checks (refresh_token_state.ts), and not consumed. */
const refreshToken: Reader = async (ctx, value) => {
  const found = await findRefreshToken(ctx, value);
  if (!found || !(await refreshTokenIsActive(ctx, found))) return undefined;
  if (await issuedBeforePolicy(ctx, found.row.clientId!, found.row.createdAt)) return undefined;
  const { data, row } = found;
  return {
    subject: data.userId, userId: data.userId, clientId: row.clientId!, scopes: data.scopes, expiresAt: row.expiresAt, grantId: row.grantId,
    ...(data.jkt !== undefined && { jkt: data.jkt }),
  };
};

/**
 * An ID token of this tenant: its signature, `typ: JWT` (an access, refresh or logout token
 * is not one), `iss` and `exp`. It grants nothing, so it carries no scope; it names the user
 * and the client it was issued to (`azp`, or its single `aud`).
 */
const idToken: Reader = async (ctx, value) => {
  const ring = ctx.services.cache.peekKeyRing(ctx.tenant.id) ?? (await ctx.services.cache.keyRing(ctx.tenant.id));
  let claims: JWTPayload;
  try {
    ({ payload: claims } = await jwtVerify(value, ring.verificationKeys(), {
      issuer: ctx.issuer, typ: 'JWT', algorithms: ['RS256', 'ES256', 'EdDSA'], requiredClaims: ['sub', 'aud', 'exp', 'iat'],
      currentDate: new Date(seconds(ctx.services.clock) * 1000),
    }));
  } catch {
    return undefined;
  }
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  const clientId = typeof claims.azp === 'string' ? claims.azp : aud.length === 1 ? aud[0] : undefined;
  if (typeof claims.sub !== 'string' || typeof clientId !== 'string' || !aud.includes(clientId)) return undefined;
  if (await issuedBeforePolicy(ctx, clientId, claims.iat!)) return undefined;
  return { subject: claims.sub, userId: claims.sub, clientId, scopes: [], expiresAt: claims.exp! };
};

/** RFC 8693 §3; `jwt` is taken for this tenant's JWT access tokens only. */
const READERS = new Map<string, Reader>([
  [TOKEN_TYPE.accessToken, (ctx, value) => accessToken(ctx, value, false)],
  [TOKEN_TYPE.jwt, (ctx, value) => accessToken(ctx, value, true)],
  [TOKEN_TYPE.refreshToken, refreshToken],
  [TOKEN_TYPE.idToken, idToken],
]);

export const isSupportedTokenType = (type: string): boolean => READERS.has(type);

/**
 * Reads a subject or actor token of type `type` (one `isSupportedTokenType` accepts). Anything
 * that is not a live token of that type of this tenant, or whose user is disabled or gone,
 * is invalid_grant (RFC 8693 §2.2.2). Storage failures throw: a revoked token is never taken
 * for a live one.
 */
export async function readPresentedToken(ctx: TenantContext, value: string, type: string, role: 'subject_token' | 'actor_token'): Promise<PresentedToken> {
  const token = await READERS.get(type)!(ctx, value);
  if (!token) throw new OAuthError('invalid_grant', `${role} is invalid, expired or revoked`);
  if (token.userId !== undefined) {
    const user = await ctx.services.storage.users.get(ctx.tenant.id, token.userId);
    if (!user || user.disabled) throw new OAuthError('invalid_grant', `the user of the ${role} is disabled or gone`);
  }
  return token;
}
