import { createHash } from 'node:crypto';
import { seconds } from '../clock.js';
import { DEFAULT_ID_TOKEN_ALG } from '../crypto/key_ring.js';
import type { TenantContext } from '../http/context.js';
import type { Client, User } from '../storage/types.js';
import { userClaims } from './claims.js';
import { signerFor } from './signing_key.js';

/** ID tokens live as long as Keycloak's default access token: long enough to be validated. */
export const ID_TOKEN_TTL = 3600;

/**
 * OIDC Core §3.1.3.6 / §3.3.2.11: at_hash and c_hash are the left half of the hash of the
 * value, with the hash of the ID token's alg (SHA-512 for Ed25519, RFC 8037 practice).
 */
export function halfHash(value: string, alg: string): string {
  const full = createHash(alg === 'EdDSA' ? 'sha512' : 'sha256').update(value, 'ascii').digest();
  return full.subarray(0, full.length / 2).toString('base64url');
}

/** How the user authenticated: RFC 8176 method references and the context class they reach. */
export interface AuthContext {
  amr: string[];
  acr: string;
}

export interface IdTokenRequest {
  client: Client;
  user: User;
  scopes: string[];
  nonce?: string;
  authTime: number;
  /** The login session (absent for a token refreshed offline, which has none). */
  sid?: string;
  /** OIDC Core §2 `amr` and `acr` of the authentication (mfa/policy.ts); absent where unknown. */
  authContext?: AuthContext;
  accessToken?: string;
  code?: string;
}

/** An ID token (OIDC Core §2), signed with the tenant's ID-token key of the client's algorithm (RS256 by default). */
export async function issueIdToken(ctx: TenantContext, req: IdTokenRequest): Promise<string> {
  const signer = await signerFor(ctx, 'id', req.client.idTokenAlg ?? DEFAULT_ID_TOKEN_ALG);
  const iat = seconds(ctx.services.clock);
  return signer.sign({
    iss: ctx.issuer,
    sub: req.user.id,
    aud: req.client.clientId,
    azp: req.client.clientId,
    exp: iat + ID_TOKEN_TTL,
    iat,
    auth_time: req.authTime,
    ...(req.nonce !== undefined && { nonce: req.nonce }),
    ...(req.sid !== undefined && { sid: req.sid }),
    ...(req.authContext && { amr: req.authContext.amr, acr: req.authContext.acr }),
    ...(req.accessToken !== undefined && { at_hash: halfHash(req.accessToken, signer.alg) }),
    ...(req.code !== undefined && { c_hash: halfHash(req.code, signer.alg) }),
    ...userClaims(req.user, req.scopes),
  });
}
