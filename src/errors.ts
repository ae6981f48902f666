/**
 * The one error type of the protocol layer. Thrown anywhere below an endpoint and turned
 * into the RFC response in one place (`http/error_handler.ts`).
 */

/** Error codes of RFC 6749 §4.1.2.1 / §5.2, RFC 8707 §2 and the JSON 404/500 answers. */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'invalid_target'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'login_required'
  | 'consent_required'
  | 'interaction_required'
  | 'request_not_supported'
  | 'request_uri_not_supported'
  // RFC 9101 §6.2 / RFC 9126 §4: a pushed request's request_uri that is unknown, used or expired.
  | 'invalid_request_uri'
  // RFC 9449 §7.1 / §8: a DPoP proof that fails its checks, or lacks the server's current nonce.
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'not_found'
  | 'method_not_allowed'
  // Admin API: the change clashes with what exists (a taken id, username, audience or scope).
  | 'conflict'
  // RFC 8628 §3.5: the device code grant's polling answers.
  | 'authorization_pending'
  | 'slow_down'
  | 'expired_token'
  // RFC 7591 §3.2.2: a registration request's redirect URIs or other metadata are refused.
  | 'invalid_redirect_uri'
  | 'invalid_client_metadata'
  // RFC 6585 §4: too many failed client authentications, or over a client's request rate (http/client_auth_throttle.ts).
  | 'too_many_requests';

const DEFAULT_STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  access_denied: 403,
  unsupported_response_type: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  login_required: 400,
  consent_required: 400,
  interaction_required: 400,
  request_not_supported: 400,
  request_uri_not_supported: 400,
  invalid_request_uri: 400,
  // At the token endpoint (RFC 9449 §5, §8); resources answer 401 with a DPoP challenge (dpop/resource.ts).
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
  server_error: 500,
  temporarily_unavailable: 503,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  authorization_pending: 400,
  slow_down: 400,
  expired_token: 400,
  invalid_redirect_uri: 400,
  invalid_client_metadata: 400,
  too_many_requests: 429,
};

export class OAuthError extends Error {
  readonly status: number;
  /** Extra response headers, e.g. `WWW-Authenticate` for invalid_client (RFC 6749 §5.2). */
  readonly headers: Record<string, string>;

  constructor(
    readonly error: OAuthErrorCode,
    /** Safe to show: lowercase and specific ("authorization code was already used"). */
    readonly description: string,
    options: { status?: number; headers?: Record<string, string>; detail?: unknown; field?: string } = {},
  ) {
    super(`${error}: ${description}`);
    this.status = options.status ?? DEFAULT_STATUS[error];
    this.headers = options.headers ?? {};
    this.detail = options.detail;
    this.field = options.field;
  }

  /** Logged only, never sent. */
  readonly detail: unknown;
  /** Admin API: the request field at fault, as a path (`redirect_uris[0]`); sent when set. */
  readonly field: string | undefined;

  toJSON(): { error: string; error_description: string; field?: string } {
    return { error: this.error, error_description: this.description, ...(this.field !== undefined && { field: this.field }) };
  }
}

/** Errors of the CLI and admin layers that are the caller's fault (bad input, unknown ids). */
export class InputError extends Error {
  constructor(message: string, readonly code: 'invalid_input' | 'not_found' | 'conflict' | 'email_conflict' = 'invalid_input') {
    super(message);
  }
}
