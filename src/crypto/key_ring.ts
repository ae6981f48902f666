import type { KeyPurpose, SigningKeyRecord } from '../storage/types.js';
import type { KeyObject } from 'node:crypto';
import { createLocalJWKSet } from 'jose';
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
  /** The signing key of a purpose (for ID tokens, of an algorithm: RS256 unless named). */
  signer(purpose: KeyPurpose, alg?: SigningAlg): JwtSigner | undefined;
  jwks(): { keys: PublicJwk[] };
  /** Keys past their retention: safe to delete. */
  expired(): string[];
  /**
   * The published keys as a jose key set, built once per ring: jose caches each imported key
   * inside the set, so verifying (introspection, userinfo, logout hints) imports nothing per call.
   */
  verificationKeys(): ReturnType<typeof createLocalJWKSet>;
  /** The unpublished HMAC key with this kid, to verify a refresh token. */
  refreshKey(kid: string): KeyObject | undefined;
}

/** Refresh tokens live as long as their grant: an HMAC key that signed one is kept that long. */
export const REFRESH_KEY_RETENTION = 30 * 24 * 3600;

const TYP: Record<KeyPurpose, string> = { access: 'at+jwt', id: 'JWT', refresh: 'rt+jwt' }; // RFC 9068 §2.1; OIDC Core §2; DESIGN.md §1

/** ID tokens are RS256 unless the client registered another algorithm (OIDC Registration §2). */
export const DEFAULT_ID_TOKEN_ALG: SigningAlg = 'RS256';

/**
 * Keys rotate in groups. Access and refresh keys form one group per purpose: the newest
 * signs, whatever its algorithm (`keys rotate --alg` switches the access-token algorithm).
 * ID-token keys form one group per algorithm, since clients choose theirs.
 */
const groupOf = (k: SigningKeyRecord): string => (k.purpose === 'id' ? `id:${k.alg}` : k.purpose);

export function buildKeyRing(records: SigningKeyRecord[], now: number, retentionSeconds: number): KeyRing {
  const live = records.filter((k) => k.revokedAt === null);
  const signers = new Map<string, JwtSigner>();
  const published: PublicJwk[] = [];
  const expired: string[] = [];
  const verifiers = new Map<string, SigningKeyRecord>();
  for (const group of new Set(live.map(groupOf))) {
    const purpose = live.find((k) => groupOf(k) === group)!.purpose;
    const retention = purpose === 'refresh' ? Math.max(retentionSeconds, REFRESH_KEY_RETENTION) : retentionSeconds;
    const keys = live.filter((k) => groupOf(k) === group).sort((a, b) => a.activatesAt - b.activatesAt || (a.seq ?? 0) - (b.seq ?? 0));
    const active = keys.filter((k) => k.activatesAt <= now);
    const current = active[active.length - 1];
    if (current) signers.set(group, createJwtSigner(privateKeyObject(current.privateJwk), current.alg as SigningAlg, current.kid, TYP[purpose]));
    keys.forEach((k, i) => {
      const next = keys.slice(i + 1).find((n) => n.activatesAt <= now);
      const supersededAt = next?.activatesAt;
      if (supersededAt !== undefined && supersededAt + retention <= now) expired.push(k.kid);
      else if (purpose === 'refresh') verifiers.set(k.kid, k);
      else published.push(k.publicJwk as unknown as PublicJwk);
    });
  }
  let keySet: ReturnType<typeof createLocalJWKSet> | undefined;
  return {
    signer: (purpose, alg) => signers.get(purpose === 'id' ? `id:${alg ?? DEFAULT_ID_TOKEN_ALG}` : purpose),
    jwks: () => ({ keys: published }),
    verificationKeys: () => (keySet ??= createLocalJWKSet({ keys: published as never })),
    refreshKey: (kid) => {
      const k = verifiers.get(kid);
      return k && privateKeyObject(k.privateJwk);
    },
    expired: () => expired,
  };
}
