import type { KeyPurpose, SigningKeyRecord } from '../storage/types.js';
import { privateKeyObject, type PublicJwk, type SigningAlg } from './jwk.js';
import { createJwtSigner, type JwtSigner } from './jwt_sign.js';

/**
 * A tenant's signing keys at one moment: which key signs for each purpose and which public
 * keys are published. Rotation is timestamp-driven, so every node computes the same answer
 * from the same rows:
 * - a key is published from creation, and signs once `activatesAt` has passed (a rotated-in
 *   key waits out the JWKS cache lifetime, so relying parties already know it);
 * - the newest activated key of a purpose signs; an older one is "superseded" when a newer
 *   one activates, and stays published for `retentionSeconds` after that, the longest a
 *   token it signed can live (SECURITY-CHECKLIST 41);
 * - a revoked key is neither published nor used, at once.
 */
export interface KeyRing {
  signer(purpose: KeyPurpose): JwtSigner | undefined;
  jwks(): { keys: PublicJwk[] };
  /** Keys past their retention: safe to delete. */
  expired(): string[];
}

export function buildKeyRing(records: SigningKeyRecord[], now: number, retentionSeconds: number): KeyRing {
  const live = records.filter((k) => k.revokedAt === null);
  const signers = new Map<KeyPurpose, JwtSigner>();
  const published: PublicJwk[] = [];
  const expired: string[] = [];
  for (const purpose of ['access', 'id'] as KeyPurpose[]) {
    const keys = live.filter((k) => k.purpose === purpose).sort((a, b) => a.activatesAt - b.activatesAt || (a.seq ?? 0) - (b.seq ?? 0));
    const active = keys.filter((k) => k.activatesAt <= now);
    const current = active[active.length - 1];
    if (current) {
      const typ = purpose === 'access' ? 'at+jwt' : 'JWT'; // RFC 9068 §2.1; OIDC Core §2
      signers.set(purpose, createJwtSigner(privateKeyObject(current.privateJwk), current.alg as SigningAlg, current.kid, typ));
    }
    keys.forEach((k, i) => {
      const next = keys.slice(i + 1).find((n) => n.activatesAt <= now);
      const supersededAt = next?.activatesAt;
      if (supersededAt !== undefined && supersededAt + retentionSeconds <= now) expired.push(k.kid);
      else published.push(k.publicJwk as unknown as PublicJwk);
    });
  }
  return {
    signer: (purpose) => signers.get(purpose),
    jwks: () => ({ keys: published }),
    expired: () => expired,
  };
}
