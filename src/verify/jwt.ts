import { createRemoteJWKSet, customFetch, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import { VerifyError } from './errors.js';
import type { FetchLike } from './options.js';

/** RFC 9068 §2.1: `at+jwt`; §4 also accepts the full media type. */
const ACCESS_TOKEN_TYP = /^(application\/)?at\+jwt$/i;

/** RFC 9068 §2.2: the claims every JWT access token carries. */
const REQUIRED_CLAIMS = ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'];

export interface JwtCheck {
  issuer: string;
  audiences: string[];
  algorithms: string[];
  clockTolerance: number;
  now: () => number;
}

export type KeySet = ReturnType<typeof createRemoteJWKSet>;

/**
 * The issuer's key set: fetched on first use, kept as long as Tessera's JWKS `Cache-Control`
 * allows (300 s; a rotated-in key is published that long before it signs), and fetched again
 * when a token names a key id it does not hold — at most every 30 seconds, so tokens with
 * made-up key ids cannot make the API hammer the authorization server.
 */
export function remoteKeySet(jwksUri: string, fetchFn: FetchLike, timeoutMs: number): KeySet {
  return createRemoteJWKSet(new URL(jwksUri), {
    timeoutDuration: timeoutMs,
    cooldownDuration: 30_000,
    cacheMaxAge: 300_000,
    [customFetch]: (url, options) => fetchFn(url, options),
  });
}

const invalid = (description: string, cause?: unknown) => new VerifyError('invalid_token', description, { cause });

/** A jose failure as the caller should read it (RFC 6750 §3.1 `invalid_token`), or as the API's own trouble. */
function explain(err: unknown): VerifyError {
  if (err instanceof VerifyError) return err;
  if (err instanceof errors.JWTExpired) return invalid('the access token has expired', err);
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'iss':
        return invalid('the access token was issued by another authorization server', err);
      case 'aud':
        return invalid('the access token is not meant for this API', err);
      case 'nbf':
        return invalid('the access token is not valid yet', err);
      case 'typ':
        return invalid('the token is not an access token (typ must be at+jwt)', err);
      default:
        return err.reason === 'missing' ? invalid(`the access token has no ${err.claim} claim`, err) : invalid(`the access token's ${err.claim} claim is invalid`, err);
    }
  }
  if (err instanceof errors.JWKSNoMatchingKey) return invalid('the access token was signed by an unknown key', err);
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('the access token signature is invalid', err);
  if (err instanceof errors.JOSEAlgNotAllowed) return invalid('the access token is signed with an algorithm this API does not accept', err);
  if (err instanceof errors.JWKSTimeout) return new VerifyError('temporarily_unavailable', 'the authorization server keys could not be fetched in time', { cause: err });
  if (err instanceof errors.JWKSInvalid) return new VerifyError('server_error', 'the authorization server published an invalid key set', { cause: err });
  // jose's plain JOSEError comes only from loading the key set (not 200, not JSON).
  if (err instanceof errors.JOSEError && err.code === 'ERR_JOSE_GENERIC') return new VerifyError('temporarily_unavailable', 'the authorization server keys could not be fetched', { cause: err });
  if (err instanceof errors.JOSEError) return invalid('the access token is malformed', err);
  // fetch() failures while loading the key set.
  return new VerifyError('temporarily_unavailable', 'the authorization server keys could not be fetched', { cause: err });
}

/**
 * Verifies a JWT access token as RFC 9068 §4 says a resource server must: `typ` is
 * `at+jwt` (so an ID token, a refresh token or a logout token never passes), the signature
 * verifies with a published key of an accepted algorithm, `iss` is the issuer, `aud`
 * names this API, and `exp`/`nbf` hold with a small leeway.
 */
export async function verifyJwt(token: string, keys: KeySet, check: JwtCheck): Promise<JWTPayload> {
  let typ: unknown;
  try {
    ({ typ } = decodeProtectedHeader(token));
  } catch (err) {
    throw invalid('the access token is malformed', err);
  }
  // Checked before any key is looked up: a refresh token (HS256, rt+jwt) must not even cost a JWKS fetch.
  if (typeof typ !== 'string' || !ACCESS_TOKEN_TYP.test(typ)) throw invalid('the token is not an access token (typ must be at+jwt)');
  try {
    const { payload } = await jwtVerify(token, keys, {
      typ: 'at+jwt',
      issuer: check.issuer,
      audience: check.audiences,
      algorithms: check.algorithms,
      clockTolerance: check.clockTolerance,
      currentDate: new Date(check.now()),
      requiredClaims: REQUIRED_CLAIMS,
    });
    return payload;
  } catch (err) {
    throw explain(err);
  }
}
