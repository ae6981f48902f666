import { accessTokenOf, requireScopes, type AccessToken } from './access_token.js';
import { tokenFromAuthorization } from './authorization.js';
import { discover, lazyDiscovery, type ServerEndpoints } from './discovery.js';
import { verifyDpopProof, type DpopRequest } from './dpop.js';
import { errorResponse, VerifyError, type AuthScheme, type ErrorResponse } from './errors.js';
import { introspector } from './introspection.js';
import { checkIntrospection } from './introspection_claims.js';
import { remoteKeySet, verifyJwt, type KeySet } from './jwt.js';
import { resolveOptions, type VerifierOptions } from './options.js';

/** What the verifier needs of an HTTP request; the middlewares fill it in from their framework's request. */
export interface VerifyRequest {
  /** The `Authorization` header. */
  authorization: string | string[] | undefined;
  /** The `DPoP` header, for DPoP-bound tokens. */
  dpop?: string | string[] | undefined;
  method: string;
  /** The absolute URL the client addressed (scheme, host, path), for the DPoP proof's `htu`. */
  url: string;
}

export interface VerifyOptions {
  /** Scopes the token must all have been granted; otherwise 403 `insufficient_scope`. */
  scopes?: readonly string[];
}

export interface VerifyTokenOptions extends VerifyOptions {
  /** The scheme the token came with (default Bearer). */
  scheme?: AuthScheme;
  /** The proof and request of a DPoP-bound token. Without it, a DPoP-bound token is refused. */
  dpop?: DpopRequest;
}

export interface Verifier {
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Checks the request's access token; throws a `VerifyError`, or returns what the token says. */
  verify(request: VerifyRequest, options?: VerifyOptions): Promise<AccessToken>;
  /** Checks a token that came some other way (a WebSocket upgrade's query, a message). */
  verifyToken(token: string, options?: VerifyTokenOptions): Promise<AccessToken>;
  /** The response for an error `verify` threw, or undefined if it is not a `VerifyError` (a bug: let it propagate). */
  errorResponse(err: unknown): ErrorResponse | undefined;
  /** The JWKS and introspection URLs, from the options or from discovery. */
  endpoints(): Promise<ServerEndpoints>;
}

const looksLikeJwt = (token: string) => token.split('.').length === 3;

/** The same error, challenged in another scheme (RFC 9449 §7.1: a DPoP request gets a DPoP challenge). */
const inScheme = (err: unknown, scheme: AuthScheme) =>
  err instanceof VerifyError && err.scheme !== scheme && scheme === 'DPoP'
    ? new VerifyError(err.error, err.description, { scheme, scope: err.scope, missing: err.missing, cause: err.cause })
    : err;

/**
 * A verifier of this API's access tokens, for one issuer (a Tessera tenant) and audience.
 * Built from the issuer URL alone: the JWKS and introspection endpoints come from its
 * discovery document unless given. Nothing is fetched until the first token arrives.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const o = resolveOptions(options);
  const discovered = lazyDiscovery(() => discover(o.fetch, o.issuer, o.timeoutMs));
  const needsDiscovery = o.jwksUri === undefined || (o.introspection !== undefined && o.introspection.endpoint === undefined);
  const endpoints = async (): Promise<ServerEndpoints> => {
    const found = needsDiscovery ? await discovered() : { jwksUri: undefined, introspectionEndpoint: undefined };
    return { jwksUri: o.jwksUri ?? found.jwksUri, introspectionEndpoint: o.introspection?.endpoint ?? found.introspectionEndpoint };
  };
  let keys: KeySet | undefined;
  const keySet = async (): Promise<KeySet> => {
    if (keys) return keys;
    const { jwksUri } = await endpoints();
    if (!jwksUri) throw new VerifyError('server_error', `the metadata of ${o.issuer} has no jwks_uri`);
    return (keys ??= remoteKeySet(jwksUri, o.fetch, o.timeoutMs));
  };
  const introspect = o.introspection && introspector({ ...o.introspection, timeoutMs: o.timeoutMs, fetch: o.fetch, now: o.now });

  /** The claims of a JWT checked locally, or of an opaque token the authorization server vouched for. */
  async function claimsOf(token: string): Promise<{ format: AccessToken['format']; claims: Record<string, unknown> }> {
    if (looksLikeJwt(token)) {
      const claims = await verifyJwt(token, await keySet(), o);
      return { format: 'jwt', claims };
    }
    if (!introspect) throw new VerifyError('invalid_token', 'the access token is not a JWT, and this API does not introspect opaque tokens');
    const { introspectionEndpoint } = await endpoints();
    if (!introspectionEndpoint) throw new VerifyError('server_error', `the metadata of ${o.issuer} has no introspection_endpoint`);
    const answer = await introspect(introspectionEndpoint, token);
    return { format: 'opaque', claims: checkIntrospection(answer, o) };
  }

  async function verifyToken(token: string, opts: VerifyTokenOptions = {}): Promise<AccessToken> {
    const scheme = opts.scheme ?? 'Bearer';
    try {
      const { format, claims } = await claimsOf(token);
      const accepted = accessTokenOf(format, scheme, claims);
      if (accepted.jkt !== undefined) {
        // RFC 9449 §7.2: a DPoP-bound token presented as a bearer token is refused.
        if (scheme !== 'DPoP') throw new VerifyError('invalid_token', 'the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof', { scheme: 'DPoP' });
        if (!opts.dpop) throw new VerifyError('invalid_dpop_proof', 'a DPoP proof is required with a DPoP-bound access token', { scheme: 'DPoP' });
        await verifyDpopProof(opts.dpop, token, accepted.jkt, { ...o.dpop, clockTolerance: o.clockTolerance, now: o.now });
      } else if (scheme === 'DPoP') {
        throw new VerifyError('invalid_token', 'the access token is not DPoP-bound', { scheme: 'DPoP' });
      } else if (o.dpop.required) {
        throw new VerifyError('invalid_token', 'this API accepts only DPoP-bound access tokens', { scheme: 'DPoP' });
      }
      requireScopes(accepted, opts.scopes ?? []);
      return accepted;
    } catch (err) {
      throw inScheme(err, scheme);
    }
  }

  return {
    issuer: o.issuer,
    audiences: o.audiences,
    endpoints,
    verifyToken,
    async verify(request, opts = {}) {
      const { token, scheme } = tokenFromAuthorization(request.authorization, o.dpop.required);
      return verifyToken(token, { ...opts, scheme, dpop: { proof: request.dpop, method: request.method, url: request.url } });
    },
    errorResponse(err) {
      return err instanceof VerifyError ? errorResponse(err, { realm: o.realm, dpopAlgorithms: o.dpop.algorithms }) : undefined;
    },
  };
}
