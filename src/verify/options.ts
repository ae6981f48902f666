import type { ReplayCache } from './replay.js';
import { memoryReplayCache } from './replay.js';

/** The fetch the kit uses (the global one by default); tests and proxies may pass their own. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface VerifierOptions {
  /** The tenant's issuer, e.g. `http://localhost:9000/realms/default`. Tokens must carry it as `iss`. */
  issuer: string;
  /** This API's identifier (`tessera api create --audience`): a token's `aud` must include one of these (RFC 9068 §4). */
  audience: string | string[];
  /**
   * The JWKS URL. Default: `jwks_uri` of the issuer's discovery document. The key set is
   * cached and fetched again when a token names a key it does not have (a rotation).
   */
  jwksUri?: string;
  /**
   * Opaque tokens are checked by introspection (RFC 7662) with the API's resource-server
   * credentials, the `client_id` and `client_secret` that `tessera api create` printed.
   * Without them, opaque tokens are refused.
   */
  introspection?: {
    clientId: string;
    clientSecret: string;
    /** Default: `introspection_endpoint` of the discovery document. */
    endpoint?: string;
    /**
     * How long an answer is reused, in seconds (default 60; 0: ask every time). Never past
     * the token's `exp`. A token revoked meanwhile is accepted until its answer expires.
     */
    cacheSeconds?: number;
    /** The most answers kept (default 10 000). */
    cacheEntries?: number;
  };
  /** Leeway for `exp`, `nbf` and a DPoP proof's `iat`, in seconds (default 5). */
  clockToleranceSeconds?: number;
  /** Access-token signature algorithms accepted (default ES256, EdDSA, RS256: what Tessera signs with). */
  algorithms?: string[];
  dpop?: {
    /** Refuse bearer tokens: every request must use DPoP (default false). */
    required?: boolean;
    /** How old a proof may be, in seconds (default 60; RFC 9449 §11.1). */
    maxAgeSeconds?: number;
    /** Proof signature algorithms accepted: asymmetric only (RFC 9449 §4.3 point 5). */
    algorithms?: string[];
    /** Where proof ids are remembered (default: in this process's memory). */
    replayCache?: ReplayCache;
  };
  /** The `realm` of `WWW-Authenticate` challenges (default: the first audience). */
  realm?: string;
  /** Timeout of each call to the authorization server, in milliseconds (default 5000). */
  timeoutMs?: number;
  fetch?: FetchLike;
  /** Milliseconds since the epoch (default Date.now); injected by tests. */
  now?: () => number;
}

/** Asymmetric JWS algorithms (RFC 7518 §3.1, RFC 8037): never `none`, never an HMAC. */
export const ASYMMETRIC_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];

export interface ResolvedOptions {
  issuer: string;
  audiences: string[];
  jwksUri: string | undefined;
  introspection: { clientId: string; clientSecret: string; endpoint: string | undefined; cacheSeconds: number; cacheEntries: number } | undefined;
  clockTolerance: number;
  algorithms: string[];
  dpop: { required: boolean; maxAge: number; algorithms: string[]; replayCache: ReplayCache };
  realm: string;
  timeoutMs: number;
  fetch: FetchLike;
  now: () => number;
}

function absoluteUrl(name: string, value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error();
    return value;
  } catch {
    throw new TypeError(`createVerifier: ${name} must be an absolute http(s) URL, not ${JSON.stringify(value)}`);
  }
}

/** Checks the options once, at construction: a misconfigured API fails at start, not at its first request. */
export function resolveOptions(options: VerifierOptions): ResolvedOptions {
  const issuer = absoluteUrl('issuer', options.issuer);
  const audiences = typeof options.audience === 'string' ? [options.audience] : [...(options.audience ?? [])];
  if (audiences.length === 0 || audiences.some((a) => typeof a !== 'string' || a === '')) {
    throw new TypeError('createVerifier: audience is required (the API identifier given to `tessera api create --audience`)');
  }
  const algorithms = options.algorithms ?? ['ES256', 'EdDSA', 'RS256'];
  const dpopAlgorithms = options.dpop?.algorithms ?? ASYMMETRIC_ALGORITHMS;
  // An HMAC-signed token (a refresh token is one) is never an access token for an API: it has no public key.
  const symmetric = [...algorithms, ...dpopAlgorithms].find((a) => !ASYMMETRIC_ALGORITHMS.includes(a));
  if (symmetric) throw new TypeError(`createVerifier: only asymmetric algorithms can be verified with public keys, not ${symmetric}`);
  const i = options.introspection;
  if (i && (!i.clientId || !i.clientSecret)) throw new TypeError('createVerifier: introspection needs the clientId and clientSecret of the API');
  const now = options.now ?? Date.now;
  return {
    issuer,
    audiences,
    jwksUri: options.jwksUri === undefined ? undefined : absoluteUrl('jwksUri', options.jwksUri),
    introspection: i && {
      clientId: i.clientId,
      clientSecret: i.clientSecret,
      endpoint: i.endpoint === undefined ? undefined : absoluteUrl('introspection.endpoint', i.endpoint),
      cacheSeconds: Math.max(0, i.cacheSeconds ?? 60),
      cacheEntries: Math.max(1, i.cacheEntries ?? 10_000),
    },
    clockTolerance: Math.max(0, options.clockToleranceSeconds ?? 5),
    algorithms,
    dpop: {
      required: options.dpop?.required ?? false,
      maxAge: Math.max(1, options.dpop?.maxAgeSeconds ?? 60),
      algorithms: dpopAlgorithms,
      replayCache: options.dpop?.replayCache ?? memoryReplayCache({ now }),
    },
    realm: options.realm ?? audiences[0],
    timeoutMs: options.timeoutMs ?? 5000,
    fetch: options.fetch ?? ((input, init) => fetch(input, init)),
    now,
  };
}
