import type { AuthScheme } from './errors.js';
import { VerifyError } from './errors.js';

/** An access token the verifier accepted: what a handler needs to decide and to log. */
export interface AccessToken {
  /** A JWT checked locally (RFC 9068), or an opaque token answered by introspection (RFC 7662). */
  format: 'jwt' | 'opaque';
  /** The scheme it was presented with: `Bearer`, or `DPoP` with a checked proof. */
  scheme: AuthScheme;
  issuer: string;
  /** The user, or the client itself for a client_credentials token (RFC 9068 §2.2). */
  subject: string;
  clientId: string;
  audience: string[];
  scopes: string[];
  /** Seconds since the epoch. */
  expiresAt: number;
  issuedAt: number | undefined;
  jti: string | undefined;
  /** RFC 9449 §6: the thumbprint of the key the token is bound to, if any. */
  jkt: string | undefined;
  /** Every claim of the JWT, or every member of the introspection response. */
  claims: Readonly<Record<string, unknown>>;
}

const strings = (v: unknown): string[] => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** RFC 7800 §3.1 / RFC 9449 §6.1: `cnf.jkt`, when the token is bound to a key. */
export function confirmationThumbprint(claims: Record<string, unknown>): string | undefined {
  const cnf = claims.cnf;
  if (cnf === undefined) return undefined;
  const jkt = typeof cnf === 'object' && cnf !== null ? (cnf as Record<string, unknown>).jkt : undefined;
  if (typeof jkt !== 'string' || jkt === '') {
    // A confirmation this kit does not understand (x5t#S256 of mTLS, say) cannot be checked: refuse.
    throw new VerifyError('invalid_token', 'the access token is bound to a key in a way this API cannot check');
  }
  return jkt;
}

/**
 * The accepted token's view, from a verified JWT payload or an active introspection
 * response (RFC 7662 §2.2 uses the same claim names as RFC 9068 §2.2).
 */
export function accessTokenOf(format: AccessToken['format'], scheme: AuthScheme, claims: Record<string, unknown>): AccessToken {
  const scope = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
  return {
    format,
    scheme,
    issuer: typeof claims.iss === 'string' ? claims.iss : '',
    subject: typeof claims.sub === 'string' ? claims.sub : '',
    clientId: typeof claims.client_id === 'string' ? claims.client_id : '',
    audience: strings(claims.aud),
    scopes: scope,
    expiresAt: typeof claims.exp === 'number' ? claims.exp : 0,
    issuedAt: typeof claims.iat === 'number' ? claims.iat : undefined,
    jti: typeof claims.jti === 'string' ? claims.jti : undefined,
    jkt: confirmationThumbprint(claims),
    claims: Object.freeze({ ...claims }),
  };
}

/**
 * RFC 6750 §3.1 `insufficient_scope`: every required scope must have been granted. The
 * challenge names the scopes the resource needs, so a client knows what to ask for.
 */
export function requireScopes(token: AccessToken, required: readonly string[]): void {
  const missing = required.filter((s) => !token.scopes.includes(s));
  if (missing.length === 0) return;
  throw new VerifyError('insufficient_scope', `the access token lacks scope ${missing.join(' ')}`, {
    scope: [...required],
    scheme: token.scheme,
  });
}
