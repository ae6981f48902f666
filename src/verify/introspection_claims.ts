import { VerifyError } from './errors.js';
import type { IntrospectionResult } from './introspection.js';

export interface IntrospectionCheck {
  issuer: string;
  audiences: string[];
  clockTolerance: number;
  now: () => number;
}

const invalid = (description: string) => new VerifyError('invalid_token', description);

/**
 * What an introspection answer must say before the API relies on it (RFC 7662 §2.2, with
 * the checks RFC 9068 §4 asks of a JWT): active; from this issuer when it names one; meant
 * for this API; unexpired, with the same leeway as a JWT; and an access token, not another
 * kind the authorization server might describe.
 */
export function checkIntrospection(answer: IntrospectionResult, check: IntrospectionCheck): Record<string, unknown> {
  // RFC 7662 §2.2: unknown, expired and revoked tokens all read `{"active": false}`.
  if (!answer) throw invalid('the access token is not active (unknown, expired or revoked)');
  if (answer.iss !== undefined && answer.iss !== check.issuer) throw invalid('the access token was issued by another authorization server');
  const aud = typeof answer.aud === 'string' ? [answer.aud] : Array.isArray(answer.aud) ? answer.aud : [];
  if (!aud.some((a) => check.audiences.includes(a as string))) throw invalid('the access token is not meant for this API');
  const now = check.now() / 1000;
  if (typeof answer.exp !== 'number') throw invalid('the access token has no exp claim');
  if (answer.exp <= now - check.clockTolerance) throw invalid('the access token has expired');
  if (typeof answer.nbf === 'number' && answer.nbf > now + check.clockTolerance) throw invalid('the access token is not valid yet');
  // RFC 9449 §6.2 reports DPoP-bound tokens as token_type DPoP.
  if (answer.token_type !== undefined && !/^(bearer|dpop)$/i.test(String(answer.token_type))) throw invalid('the token is not an access token');
  // The authorization server that answered vouches for the token, whether or not it says `iss`.
  return { ...answer, iss: check.issuer };
}
