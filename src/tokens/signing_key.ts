import { seconds } from '../clock.js';
import type { SigningAlg } from '../crypto/jwk.js';
import type { JwtSigner } from '../crypto/jwt_sign.js';
import { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import { newKeyRecord } from '../manage/keys.js';
import type { KeyPurpose } from '../storage/types.js';

/**
 * The tenant's signer for a purpose and algorithm, made on first use when the tenant has
 * none yet (an ID-token algorithm a client chose, or the refresh-token key of a tenant
 * created before refresh tokens existed). Two nodes racing here each add a key; both are
 * valid, and the newer one signs.
 */
export async function signerFor(ctx: TenantContext, purpose: KeyPurpose, alg?: SigningAlg): Promise<JwtSigner> {
  const { cache, storage, clock } = ctx.services;
  const ring = cache.peekKeyRing(ctx.tenant.id) ?? (await cache.keyRing(ctx.tenant.id));
  const signer = ring.signer(purpose, alg);
  if (signer) return signer;
  const now = seconds(clock);
  await storage.keys.insert(newKeyRecord(ctx.tenant.id, purpose, alg ?? (purpose === 'refresh' ? 'HS256' : 'RS256'), now, now));
  cache.clear();
  const made = (await cache.keyRing(ctx.tenant.id)).signer(purpose, alg);
  if (!made) throw new OAuthError('server_error', `the tenant has no ${purpose} signing key`, { detail: ctx.tenant.id });
  return made;
}
