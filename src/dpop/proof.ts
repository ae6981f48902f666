import { createPublicKey, hash, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify, type JWK } from 'jose';
import type { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import { accessTokenHash } from '../verify/dpop.js';

/**
 * Proof algorithms accepted (RFC 9449 §4.3 point 5, `dpop_signing_alg_values_supported`):
 * asymmetric only — never `none` or an HMAC, whose key a proof cannot carry publicly.
 * `Ed25519` is EdDSA's fully-specified name (RFC 9864), which oauth4webapi signs with.
 */
export const DPOP_ALGS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

/**
 * RFC 9449 §4.3 point 11 and §11.1: a proof is acceptable while its `iat` is within this many
 * seconds of the server's time, either way (clients' clocks drift); its `jti` is remembered
 * that long (replay.ts).
 */
export const PROOF_WINDOW_SECONDS = 60;

/** Three base64url parts; an empty signature (`alg: none`) gets as far as the algorithm check. */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** RFC 7517 / RFC 7518 §6: members only private (or symmetric) keys have. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/** RFC 7638 §3.2: the members a thumbprint covers, per key type, in lexicographic order. */
const THUMBPRINT_MEMBERS = new Map([['EC', ['crv', 'kty', 'x', 'y']], ['OKP', ['crv', 'kty', 'x']], ['RSA', ['e', 'kty', 'n']]]);

/** Proof keys seen lately (public keys: nothing secret), bounded; a client signs every proof with one key. */
const proofKeys = new Map<string, { key: KeyObject; jkt: string }>();
const MAX_PROOF_KEYS = 10_000;

/**
 * The key of a `jwk` header and its RFC 7638 thumbprint, or undefined if it is no usable public
 * key. Imported once per key: measured, importing it for every proof (jose's `EmbeddedJWK`)
 * cost ~200 µs of a ~330 µs verification, and jose's async thumbprint ~35 µs more. jose still
 * checks that the key suits the proof's `alg` (type, curve, RSA size).
 */
function proofKey(jwk: JWK): { key: KeyObject; jkt: string } | undefined {
  const members = typeof jwk.kty === 'string' ? THUMBPRINT_MEMBERS.get(jwk.kty) : undefined;
  if (!members || members.some((m) => typeof (jwk as Record<string, unknown>)[m] !== 'string')) return undefined;
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, (jwk as Record<string, unknown>)[m]])));
  let found = proofKeys.get(canonical);
  if (!found) {
    try {
      found = { key: createPublicKey({ key: JSON.parse(canonical), format: 'jwk' }), jkt: hash('sha256', canonical, 'base64url') };
    } catch {
      return undefined;
    }
    if (proofKeys.size >= MAX_PROOF_KEYS) proofKeys.clear();
    proofKeys.set(canonical, found);
  }
  return found;
}

/** The request a proof must have been made for. */
export interface ProofTarget {
  /** The `DPoP` header as received; several values mean several headers. */
  header: string | string[] | undefined;
  method: string;
  /** The request path as received (query included; it is dropped). */
  url: string;
}

export interface ProofChecks {
  /** Turns a description into the error of the place asking (400 at the token endpoint, a 401 challenge at a resource). */
  refuse: (description: string) => OAuthError;
  /** At a resource (§4.3 point 12): the access token the proof's `ath` must hash. */
  accessToken?: string;
  /** At the token endpoint (§8): checks the `nonce` claim; throws `use_dpop_nonce` when it is not a current nonce. */
  nonce?: (value: unknown) => Promise<void>;
}

/** A proof that passed every check but replay (replay.ts records it once the caller accepts it). */
export interface VerifiedProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's key: what tokens are bound to (`cnf.jkt`). */
  jkt: string;
  jti: string;
  iat: number;
}

/** RFC 9449 §4.3 point 9: the URI without query and fragment, normalised (RFC 3986 §6.2.2–6.2.3). */
function targetUri(value: string): string | undefined {
  try {
    const url = new URL(value);
    url.search = '';
    url.hash = '';
    return url.href;
  } catch {
    return undefined;
  }
}

/**
 * Checks a DPoP proof (RFC 9449 §4.3), in the RFC's order:
 * 1–2. exactly one `DPoP` header holding one compact JWS;
 * 4–7. `typ: dpop+jwt`, an accepted asymmetric `alg`, a public `jwk` header that verifies the signature;
 * 3, 8–9, 11. `jti`, `htm` = the method, `htu` = the URL the client used, `iat` within the window;
 * 10. the server's nonce, where one is required; 12. `ath` at a resource.
 * `htu` is the public URL and the path the request came to, so a proof for an alias
 * (`/oauth/token`) is one for that alias, as the client computed it.
 */
export async function verifyProof(ctx: TenantContext, target: ProofTarget, checks: ProofChecks): Promise<VerifiedProof> {
  const { refuse } = checks;
  if (target.header === undefined || target.header === '') throw refuse('a DPoP proof is required');
  if (Array.isArray(target.header) || target.header.includes(',')) throw refuse('more than one DPoP proof was sent');
  const proof = target.header.trim();
  if (!JWS_COMPACT.test(proof)) throw refuse('the DPoP proof is not a JWT');

  let header;
  try {
    header = decodeProtectedHeader(proof);
  } catch {
    throw refuse('the DPoP proof is not a JWT');
  }
  if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== 'dpop+jwt') throw refuse('the DPoP proof must have typ dpop+jwt');
  if (typeof header.alg !== 'string' || !DPOP_ALGS.includes(header.alg)) throw refuse(`the DPoP proof algorithm must be one of ${DPOP_ALGS.join(' ')}`);
  const jwk = header.jwk as JWK | undefined;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw refuse('the DPoP proof has no jwk header');
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw refuse('the DPoP proof jwk header must be a public key');
  const key = proofKey(jwk);
  if (!key) throw refuse('the DPoP proof jwk header is not a valid public key');

  const nowMs = ctx.services.clock.now();
  let payload;
  try {
    ({ payload } = await jwtVerify(proof, key.key, {
      typ: 'dpop+jwt', algorithms: DPOP_ALGS, requiredClaims: ['jti', 'htm', 'htu', 'iat'], currentDate: new Date(nowMs),
    }));
  } catch (err) {
    if (err instanceof errors.JWTClaimValidationFailed && err.reason === 'missing') throw refuse(`the DPoP proof has no ${err.claim} claim`);
    if (err instanceof errors.JWSSignatureVerificationFailed) throw refuse('the DPoP proof signature is invalid');
    throw refuse('the DPoP proof is invalid');
  }
  const { jti, htm, htu, iat, ath, nonce } = payload as Record<string, unknown>;
  if (typeof jti !== 'string' || jti === '') throw refuse('the DPoP proof jti is invalid');
  if (htm !== target.method.toUpperCase()) throw refuse('the DPoP proof htm does not match the request method');
  // A tenant with its own hostname is reached there (its issuer's origin), not under the public URL.
  const base = ctx.tenant.hostname ? new URL(ctx.issuer).origin : ctx.services.config.publicUrl;
  const expected = targetUri(base + target.url.split('?')[0]);
  if (typeof htu !== 'string' || expected === undefined || targetUri(htu) !== expected) throw refuse('the DPoP proof htu does not match the request URL');
  const now = nowMs / 1000;
  if (typeof iat !== 'number' || Math.abs(iat - now) > PROOF_WINDOW_SECONDS) throw refuse('the DPoP proof is too old or from the future (iat)');
  if (checks.nonce) await checks.nonce(nonce);
  if (checks.accessToken !== undefined && ath !== accessTokenHash(checks.accessToken)) throw refuse('the DPoP proof ath does not match the access token');
  return { jkt: key.jkt, jti, iat };
}
