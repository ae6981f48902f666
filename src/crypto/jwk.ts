import { generateKeyPairSync, createHash, type KeyObject, createPrivateKey, createSecretKey, randomBytes } from 'node:crypto';

/** Signing algorithms Tessera issues. ES256 signs access tokens, RS256 ID tokens (OIDC default). */
export type SigningAlg = 'ES256' | 'EdDSA' | 'RS256' | 'HS256';

/** Algorithms for published keys; HS256 is only for the unpublished refresh-token key. */
export const SIGNING_ALGS: readonly SigningAlg[] = ['ES256', 'EdDSA', 'RS256'];

export interface PublicJwk {
  kty: string;
  kid: string;
  alg: SigningAlg;
  use: 'sig';
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
}

/** Private members of a JWK; never leave the key store (SECURITY-CHECKLIST 40). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export function generateSigningKey(alg: SigningAlg): { privateJwk: Record<string, unknown>; publicJwk: PublicJwk } {
  if (alg === 'HS256') {
    // A 256-bit HMAC key (RFC 7518 §3.2). Its "public" record carries no key material.
    const k = randomBytes(32).toString('base64url');
    const kid = `hs256-${createHash('sha256').update(k).digest('base64url').slice(0, 22)}`;
    return { privateJwk: { kty: 'oct', k, kid, alg, use: 'sig' }, publicJwk: { kty: 'oct', kid, alg, use: 'sig' } };
  }
  const { privateKey } =
    alg === 'ES256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : alg === 'EdDSA'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
  const publicJwk = toPublicJwk(jwk, alg);
  return { privateJwk: { ...jwk, kid: publicJwk.kid, alg, use: 'sig' }, publicJwk };
}

/** RFC 7638 thumbprint: unique per key and derivable by anyone holding the JWKS. */
function thumbprint(jwk: Record<string, unknown>): string {
  const required =
    jwk.kty === 'EC' ? ['crv', 'kty', 'x', 'y'] : jwk.kty === 'OKP' ? ['crv', 'kty', 'x'] : ['e', 'kty', 'n'];
  const canonical = JSON.stringify(Object.fromEntries(required.map((k) => [k, jwk[k]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

/**
 * `kid` is `{alg}-{RFC 7638 thumbprint}`, e.g. `es256-…`: as unique as the thumbprint, and
 * starting with a letter, so `tessera keys revoke KID` never mistakes it for an option
 * (a bare base64url thumbprint may start with "-").
 */
export function keyId(jwk: Record<string, unknown>, alg: SigningAlg): string {
  return `${alg.toLowerCase()}-${thumbprint(jwk)}`;
}

export function toPublicJwk(jwk: Record<string, unknown>, alg: SigningAlg): PublicJwk {
  const pub = Object.fromEntries(Object.entries(jwk).filter(([k]) => !PRIVATE_MEMBERS.includes(k)));
  return { ...(pub as object), kid: keyId(jwk, alg), alg, use: 'sig' } as PublicJwk;
}

/** The private members a JWK carries, if any (RFC 7517 §4, RFC 7518 §6). */
export function privateMembersOf(jwk: Record<string, unknown>): string[] {
  return PRIVATE_MEMBERS.filter((m) => Object.hasOwn(jwk, m));
}

export function privateKeyObject(privateJwk: Record<string, unknown>): KeyObject {
  if (privateJwk.kty === 'oct') return createSecretKey(Buffer.from(privateJwk.k as string, 'base64url'));
  return createPrivateKey({ key: privateJwk as never, format: 'jwk' });
}
