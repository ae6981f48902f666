import { hash, timingSafeEqual } from 'node:crypto';

/**
 * SHA-256 digest, base64url. Codes, tokens and client secrets are stored only as this
 * digest (DESIGN.md §2): they carry ≥256 bits of entropy, so a fast hash is enough.
 */
export function digest(value: string): string {
  return hash('sha256', value, 'base64url');
}

/**
 * Compares a presented secret with a stored digest in constant time: both sides are
 * fixed-length SHA-256 digests, so neither the length nor a common prefix of the secret
 * leaks through timing (SECURITY-CHECKLIST 24).
 */
export function secretMatchesDigest(presented: string, storedDigest: string): boolean {
  // One-shot hash(): half the cost of a createHash() object on the token endpoint's hot path.
  const a = hash('sha256', presented, 'buffer') as unknown as Buffer;
  const b = Buffer.from(storedDigest, 'base64url');
  return b.length === a.length && timingSafeEqual(a, b);
}
