import { seconds } from '../clock.js';
import { DEFAULT_ID_TOKEN_ALG } from '../crypto/key_ring.js';
import { privateKeyObject, type SigningAlg } from '../crypto/jwk.js';
import { createJwtSigner, type JwtSigner } from '../crypto/jwt_sign.js';
import { identifier } from '../crypto/random.js';
import { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import type { Client } from '../storage/types.js';
import { signerFor } from './signing_key.js';

/** OpenID Connect Back-Channel Logout 1.0 §2.4: the event that makes a JWT a logout token. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** Long enough for a slow receiver and its retries, short enough that a captured token is soon useless. */
export const LOGOUT_TOKEN_TTL = 120;

/**
 * The tenant's current ID-token key of `alg`, as a signer that writes `typ: logout+jwt`
 * (§2.4: explicit typing, so a logout token can never pass for an ID token, nor one for it).
 * It is the key the ring signs ID tokens with, published in the JWKS, read from its record.
 */
async function logoutSigner(ctx: TenantContext, alg: SigningAlg): Promise<JwtSigner> {
  const idSigner = await signerFor(ctx, 'id', alg);
  const record = (await ctx.services.storage.keys.list(ctx.tenant.id)).find((k) => k.kid === idSigner.kid && k.purpose === 'id');
  if (!record) throw new OAuthError('server_error', 'the ID-token key is gone', { detail: idSigner.kid });
  return createJwtSigner(privateKeyObject(record.privateJwk), idSigner.alg, idSigner.kid, 'logout+jwt');
}

export interface LogoutTokenRequest {
  client: Client;
  /** The user whose session ended (`sub`). */
  sub: string;
  /** The session that ended (`sid`): the same value ID tokens of that session carry. */
  sid?: string;
}

/**
 * A logout token (§2.4): iss, aud = the client, iat, exp, jti, sub, sid and the
 * back-channel logout event; never a nonce (§2.4: it MUST NOT contain one). Signed with the
 * client's ID-token algorithm, so the client verifies it as it verifies its ID tokens.
 */
export async function issueLogoutToken(ctx: TenantContext, req: LogoutTokenRequest): Promise<string> {
  const signer = await logoutSigner(ctx, req.client.idTokenAlg ?? DEFAULT_ID_TOKEN_ALG);
  const iat = seconds(ctx.services.clock);
  return signer.sign({
    iss: ctx.issuer,
    aud: req.client.clientId,
    iat,
    exp: iat + LOGOUT_TOKEN_TTL,
    jti: identifier(ctx.services.random),
    sub: req.sub,
    ...(req.sid !== undefined && { sid: req.sid }),
    events: { [BACKCHANNEL_LOGOUT_EVENT]: {} },
  });
}
