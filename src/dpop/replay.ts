import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { InputError, type OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import { PROOF_WINDOW_SECONDS, type VerifiedProof } from './proof.js';

/**
 * RFC 9449 §11.1: a proof is accepted once. Its `jti` is recorded as a `dpop_jti` artifact
 * keyed by the digest of the key's thumbprint and the `jti` (per key, so one client cannot
 * spend another's ids), in the database every node shares: creating the row is the
 * create-if-absent step, and a unique-key conflict — on either backend, across processes —
 * means the proof was seen before. The row lives until the proof's `iat` leaves the window;
 * after that the `iat` check refuses the proof anyway, and cleanup drops the row.
 */
export async function rememberProof(ctx: TenantContext, proof: VerifiedProof, clientId: string | null, refuse: (description: string) => OAuthError): Promise<void> {
  const now = seconds(ctx.services.clock);
  try {
    await ctx.services.storage.artifacts.create({
      digest: digest(`${proof.jkt}.${proof.jti}`), tenantId: ctx.tenant.id, kind: 'dpop_jti', grantId: null, clientId,
      data: {}, createdAt: now, expiresAt: Math.floor(proof.iat) + PROOF_WINDOW_SECONDS + 1, usedAt: now,
    });
  } catch (err) {
    if (err instanceof InputError && err.code === 'conflict') throw refuse('the DPoP proof was already used');
    throw err;
  }
}
