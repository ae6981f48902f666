import type { AccessToken } from './access_token.js';
import type { ErrorResponse } from './errors.js';
import type { Verifier, VerifyOptions, VerifyRequest } from './verifier.js';

/** Options every middleware takes. */
export interface MiddlewareOptions extends VerifyOptions {
  /**
   * The API's external base URL (`https://api.example.com`), when it sits behind a proxy that
   * changes scheme or host: DPoP proofs name the URL the client used (RFC 9449 §4.3 point 9).
   * Default: the request's own scheme and Host header (as the framework's proxy trust reports them).
   */
  publicUrl?: string;
}

/** The URL a client addressed: the public base if configured, else what the request says. */
export function requestUrl(protocol: string, host: string | undefined, pathAndQuery: string, publicUrl: string | undefined): string {
  if (publicUrl) return new URL(pathAndQuery.replace(/^\/+/, ''), publicUrl.endsWith('/') ? publicUrl : `${publicUrl}/`).href;
  return `${protocol}://${host ?? 'localhost'}${pathAndQuery}`;
}

/** The outcome of one check, so each framework adapter only translates. */
export type Outcome = { ok: true; token: AccessToken } | { ok: false; response: ErrorResponse };

/**
 * Runs the verifier for a middleware: a refusal becomes the response to send; anything that
 * is not a `VerifyError` is a bug and propagates to the framework's error handling.
 */
export async function check(verifier: Verifier, request: VerifyRequest, options: VerifyOptions): Promise<Outcome> {
  try {
    return { ok: true, token: await verifier.verify(request, options) };
  } catch (err) {
    const response = verifier.errorResponse(err);
    if (!response) throw err;
    return { ok: false, response };
  }
}
