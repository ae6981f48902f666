import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, decodeProtectedHeader, EmbeddedJWK, errors, jwtVerify, type JWK } from 'jose';
import { VerifyError } from './errors.js';
import type { ReplayCache } from './replay.js';

export interface DpopCheck {
  algorithms: string[];
  /** Seconds a proof stays acceptable after its `iat`. */
  maxAge: number;
  clockTolerance: number;
  replayCache: ReplayCache;
  now: () => number;
}

/** The request a proof must have been made for. */
export interface DpopRequest {
  /** The `DPoP` header; several values mean several headers (refused, RFC 9449 §4.3 point 1). */
  proof: string | string[] | undefined;
  method: string;
  /** The absolute URL the client sent the request to. */
  url: string;
}

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** RFC 7517 / RFC 7518 §6: members that only private keys have. */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

const bad = (description: string, cause?: unknown) => new VerifyError('invalid_dpop_proof', description, { scheme: 'DPoP', cause });

/** RFC 9449 §4.3 point 9: `htu` matches the request URI without query and fragment, after normalisation (RFC 3986 §6.2.2–6.2.3). */
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

/** RFC 9449 §4.2 `ath`: base64url of the SHA-256 of the access token's ASCII. */
export const accessTokenHash = (token: string): string => createHash('sha256').update(token, 'ascii').digest('base64url');

/**
 * Checks a DPoP proof for a request carrying `token` that is bound to key `jkt`
 * (RFC 9449 §4.3 and §7.1), in the RFC's order:
 * 1–2. exactly one `DPoP` header holding one compact JWS;
 * 4–7. `typ: dpop+jwt`, an accepted asymmetric `alg`, a public `jwk` header that verifies the signature;
 * 3, 8–9, 11. `jti`, `htm` = the method, `htu` = the URI, `iat` within the window;
 * 12. `ath` = the hash of the token, and the key's thumbprint = the token's `cnf.jkt`;
 * then the `jti` is recorded, so the proof is not accepted again (§11.1).
 * Nonces (point 10) are not used by this resource server.
 */
export async function verifyDpopProof(req: DpopRequest, token: string, jkt: string, check: DpopCheck): Promise<void> {
  if (req.proof === undefined || req.proof === '') throw bad('a DPoP proof is required with a DPoP-bound access token');
  if (Array.isArray(req.proof) || req.proof.includes(',')) throw bad('more than one DPoP proof was sent');
  const proof = req.proof.trim();
  if (!JWS_COMPACT.test(proof)) throw bad('the DPoP proof is not a JWT');

  let header;
  try {
    header = decodeProtectedHeader(proof);
  } catch (err) {
    throw bad('the DPoP proof is not a JWT', err);
  }
  if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== 'dpop+jwt') throw bad('the DPoP proof must have typ dpop+jwt');
  if (typeof header.alg !== 'string' || !check.algorithms.includes(header.alg)) throw bad(`the DPoP proof algorithm must be one of ${check.algorithms.join(' ')}`);
  const jwk = header.jwk as JWK | undefined;
  if (typeof jwk !== 'object' || jwk === null) throw bad('the DPoP proof has no jwk header');
  if (PRIVATE_MEMBERS.some((m) => m in jwk)) throw bad('the DPoP proof jwk header must be a public key');

  let payload;
  try {
    ({ payload } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
      algorithms: check.algorithms,
      requiredClaims: ['jti', 'htm', 'htu', 'iat'],
      // The iat window is checked below, with its own message; jose must not judge exp/nbf age here.
      currentDate: new Date(check.now()),
      clockTolerance: check.clockTolerance,
    }));
  } catch (err) {
    if (err instanceof errors.JWTClaimValidationFailed && err.reason === 'missing') throw bad(`the DPoP proof has no ${err.claim} claim`, err);
    if (err instanceof errors.JWSSignatureVerificationFailed) throw bad('the DPoP proof signature is invalid', err);
    throw bad('the DPoP proof is invalid', err);
  }
  const { jti, htm, htu, iat, ath } = payload as Record<string, unknown>;
  if (typeof jti !== 'string' || jti === '') throw bad('the DPoP proof jti is invalid');
  if (htm !== req.method.toUpperCase()) throw bad('the DPoP proof htm does not match the request method');
  const expected = targetUri(req.url);
  if (typeof htu !== 'string' || expected === undefined || targetUri(htu) !== expected) throw bad('the DPoP proof htu does not match the request URL');
  const now = check.now() / 1000;
  if (typeof iat !== 'number' || iat > now + check.clockTolerance || iat < now - check.maxAge - check.clockTolerance) {
    throw bad('the DPoP proof is too old or from the future (iat)');
  }
  if (ath !== accessTokenHash(token)) throw bad('the DPoP proof ath does not match the access token');

  const thumbprint = await calculateJwkThumbprint(jwk, 'sha256');
  // RFC 9449 §7.1 (its example): a proof made with another key than the token's is invalid_token.
  if (thumbprint !== jkt) throw new VerifyError('invalid_token', 'the access token is bound to another key than the DPoP proof', { scheme: 'DPoP' });

  // §11.1: the same proof is accepted once while its iat is within the window; per key, so one client cannot spend another's ids.
  const key = createHash('sha256').update(`${thumbprint}:${jti}`).digest('base64url');
  const until = (iat + check.maxAge + check.clockTolerance) * 1000;
  if (!(await check.replayCache.remember(key, until))) throw bad('the DPoP proof was already used');
}
