/**
 * Why a request was refused, and how to say so (RFC 6750 §3, RFC 9449 §7.1). One error
 * type for the whole kit: the verifier throws it, every middleware turns it into the same
 * response with `errorResponse`.
 */

/**
 * RFC 6750 §3.1 codes, RFC 9449 §12.2's `invalid_dpop_proof`, and two codes for when the
 * authorization server itself cannot answer (the API's problem, not the caller's).
 */
export type VerifyErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_dpop_proof'
  | 'server_error'
  | 'temporarily_unavailable';

/** The authentication scheme a challenge is made in: DPoP for DPoP requests and DPoP-bound tokens (RFC 9449 §7.1). */
export type AuthScheme = 'Bearer' | 'DPoP';

const STATUS: Record<VerifyErrorCode, number> = {
  invalid_request: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  invalid_dpop_proof: 401,
  server_error: 500,
  temporarily_unavailable: 503,
};

export interface VerifyErrorOptions {
  /** The scheme to challenge with (default Bearer). */
  scheme?: AuthScheme;
  /** `insufficient_scope`: the scopes the resource needs (RFC 6750 §3 `scope` attribute). */
  scope?: string[];
  /**
   * No credentials at all (or an unsupported scheme): RFC 6750 §3.1 says the challenge then
   * carries no error code, only the realm.
   */
  missing?: boolean;
  /** What went wrong underneath (a jose error, a network error); for logs, never sent. */
  cause?: unknown;
}

export class VerifyError extends Error {
  readonly status: number;
  readonly scheme: AuthScheme;
  readonly scope: string[] | undefined;
  readonly missing: boolean;

  constructor(
    readonly error: VerifyErrorCode,
    /** Safe to show: lowercase and specific. Never contains a token. */
    readonly description: string,
    options: VerifyErrorOptions = {},
  ) {
    super(`${error}: ${description}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VerifyError';
    this.status = STATUS[error];
    this.scheme = options.scheme ?? 'Bearer';
    this.scope = options.scope;
    this.missing = options.missing ?? false;
  }
}

/** What a middleware sends for a refused request. */
export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: { error: VerifyErrorCode; error_description: string };
}

/** RFC 6750 §3: attribute values are quoted strings of %x20-21 / %x23-5B / %x5D-7E only. */
const quoted = (value: string): string => `"${value.replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '')}"`;

export interface ChallengeContext {
  /** The protection space (RFC 6750 §3 `realm`). */
  realm: string;
  /** Proof algorithms accepted, advertised in DPoP challenges (RFC 9449 §7.1 `algs`). */
  dpopAlgorithms: string[];
}

/**
 * The `WWW-Authenticate` challenge for an error, or undefined for errors that are not about
 * the caller's credentials (the authorization server could not be reached).
 */
export function challenge(err: VerifyError, ctx: ChallengeContext): string | undefined {
  if (err.error === 'server_error' || err.error === 'temporarily_unavailable') return undefined;
  const params = [`realm=${quoted(ctx.realm)}`];
  if (!err.missing) {
    params.push(`error=${quoted(err.error)}`, `error_description=${quoted(err.description)}`);
    if (err.scope) params.push(`scope=${quoted(err.scope.join(' '))}`);
  }
  if (err.scheme === 'DPoP') params.push(`algs=${quoted(ctx.dpopAlgorithms.join(' '))}`);
  return `${err.scheme} ${params.join(', ')}`;
}

/**
 * The response for a refused request: the status of RFC 6750 §3.1, the challenge, and a
 * JSON body in the format of RFC 6749 §5.2 (as Tessera's own endpoints answer). A request
 * without a token also gets a body, so a developer sees what is missing.
 */
export function errorResponse(err: VerifyError, ctx: ChallengeContext): ErrorResponse {
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
  const www = challenge(err, ctx);
  if (www) headers['www-authenticate'] = www;
  return { status: err.status, headers, body: { error: err.error, error_description: err.description } };
}
