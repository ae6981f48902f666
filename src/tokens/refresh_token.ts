import { decodeProtectedHeader, errors, jwtVerify } from 'jose';
import { seconds } from '../clock.js';
import { OAuthError } from '../errors.js';
import type { SenderBinding } from '../dpop/binding.js';
import type { TenantContext } from '../http/context.js';
import type { Client } from '../storage/types.js';
import type { AuthContext } from './id_token.js';
import { newOpaqueValue, storageKey } from './opaque.js';
import { signerFor } from './signing_key.js';
import type { Target } from './target.js';

/** What a refresh token's stored row remembers, for the refresh grant. */
export interface RefreshData {
  userId: string;
  scopes: string[];
  target: Target;
  /** Session-bound tokens end with the session (Keycloak's behaviour); offline ones with the grant. */
  sid?: string;
  authTime: number;
  /** `amr`/`acr` of the sign-in, for the ID tokens of later refreshes (OIDC Core §12.2). */
  authContext?: AuthContext;
  /** RFC 9449 §5: the DPoP key a public client's token is bound to; a refresh must prove it. */
  jkt?: string;
}

/**
 * How long an offline refresh token may go unused (RFC 9700 §4.14.2: tokens that are not
 * used for some time expire). A per-client or per-tenant setting does not exist yet.
 */
export const OFFLINE_IDLE_SECONDS = 30 * 24 * 3600;

export interface RefreshTokenRequest extends Omit<RefreshData, 'jkt'> {
  client: Client;
  grantId: string;
  expiresAt: number;
}

/**
 * A refresh token (DESIGN.md §1): a JWT that keycloak-js can decode for `exp`, signed with
 * the tenant's HMAC key that is never published, `typ: rt+jwt` and `aud` = the issuer, so no
 * API can take it for an access token. Its `jti` is stored (as a storage key) with the
 * grant, so rotation, reuse detection and revocation work as for an opaque value.
 */
export async function issueRefreshToken(ctx: TenantContext & { sender?: SenderBinding }, req: RefreshTokenRequest): Promise<string> {
  const { storage, clock, random } = ctx.services;
  const signer = await signerFor(ctx, 'refresh');
  const iat = seconds(clock);
  const jti = newOpaqueValue(clock, random);
  // RFC 9449 §5: a public client's refresh token is bound to the key of the request's proof;
  // a confidential client's is already sender-constrained by its authentication.
  const jkt = ctx.sender && req.client.tokenEndpointAuthMethod === 'none' ? ctx.sender.jkt : undefined;
  const data: RefreshData = { userId: req.userId, scopes: req.scopes, target: req.target, sid: req.sid, authTime: req.authTime, ...(req.authContext && { authContext: req.authContext }), ...(jkt !== undefined && { jkt }) };
  await storage.artifacts.create({
    digest: storageKey(jti), tenantId: ctx.tenant.id, kind: 'refresh_token', grantId: req.grantId, clientId: req.client.clientId,
    data: data as unknown as Record<string, unknown>, createdAt: iat, expiresAt: req.expiresAt, usedAt: null,
  });
  return signer.sign({
    iss: ctx.issuer,
    aud: ctx.issuer,
    sub: req.userId,
    azp: req.client.clientId,
    iat,
    exp: req.expiresAt,
    jti,
    scope: req.scopes.join(' '),
    ...(req.sid !== undefined && { sid: req.sid }),
    typ: req.sid !== undefined ? 'Refresh' : 'Offline',
  });
}

/** The claims of a verified refresh token that the refresh grant relies on. */
export interface RefreshClaims {
  jti: string;
  sub: string;
  azp: string;
  sid?: string;
}

const invalid = () => new OAuthError('invalid_grant', 'refresh token is invalid');

/**
 * Verifies a refresh token of this tenant: HS256 with one of its unpublished refresh keys,
 * `typ: rt+jwt`, `iss` and `aud` = the issuer (DESIGN.md §1). An access token, an ID token,
 * another tenant's refresh token or anything else is `invalid_grant`.
 */
export async function readRefreshToken(ctx: TenantContext, value: string): Promise<RefreshClaims> {
  let kid: unknown;
  try {
    ({ kid } = decodeProtectedHeader(value));
  } catch {
    throw invalid();
  }
  const { cache, clock } = ctx.services;
  const ring = cache.peekKeyRing(ctx.tenant.id) ?? (await cache.keyRing(ctx.tenant.id));
  const key = typeof kid === 'string' ? ring.refreshKey(kid) : undefined;
  if (!key) throw invalid();
  try {
    const { payload } = await jwtVerify(value, key, {
      typ: 'rt+jwt', algorithms: ['HS256'], issuer: ctx.issuer, audience: ctx.issuer,
      requiredClaims: ['jti', 'sub', 'azp', 'exp'], currentDate: new Date(clock.now()),
    });
    const { jti, sub, azp, sid } = payload;
    if (typeof jti !== 'string' || typeof sub !== 'string' || typeof azp !== 'string' || (sid !== undefined && typeof sid !== 'string')) throw invalid();
    return { jti, sub, azp, ...(sid !== undefined && { sid }) };
  } catch (err) {
    // jose checks the signature before the claims: an expired token is a genuine one.
    if (err instanceof errors.JWTExpired) throw new OAuthError('invalid_grant', 'refresh token has expired');
    if (err instanceof OAuthError) throw err;
    throw invalid();
  }
}
