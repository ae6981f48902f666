import { VerifyError, type AuthScheme } from './errors.js';

/** RFC 6750 §2.1 `b64token` (also RFC 9449 §7.1's token68 for DPoP). */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export const isB64Token = (value: string): boolean => B64TOKEN.test(value);

export interface PresentedToken {
  token: string;
  scheme: AuthScheme;
}

/**
 * The access token of an `Authorization` header: `Bearer <token>` (RFC 6750 §2.1) or
 * `DPoP <token>` (RFC 9449 §7.1), the scheme in any case (RFC 9110 §11.1). No header, or
 * another scheme (Basic, say), is a request without credentials: RFC 6750 §3.1 answers it
 * with a challenge that names no error. A malformed value is `invalid_request`.
 */
export function tokenFromAuthorization(header: string | string[] | undefined, dpopRequired: boolean): PresentedToken {
  const noToken = () =>
    new VerifyError('invalid_token', 'an access token is required', { missing: true, scheme: dpopRequired ? 'DPoP' : 'Bearer' });
  if (header === undefined || header === '') throw noToken();
  if (Array.isArray(header)) throw new VerifyError('invalid_request', 'more than one authorization header was sent');
  const match = /^([A-Za-z]+)(?:\s+(.*))?$/.exec(header.trim());
  const scheme = match?.[1].toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'dpop') throw noToken();
  const presented: AuthScheme = scheme === 'dpop' ? 'DPoP' : 'Bearer';
  const token = match![2]?.trim() ?? '';
  if (token === '') throw new VerifyError('invalid_request', `the ${presented} authorization header has no token`, { scheme: presented });
  if (!B64TOKEN.test(token)) throw new VerifyError('invalid_request', `the ${presented} authorization header is malformed`, { scheme: presented });
  // RFC 9449 §7.2: an API that wants only sender-constrained tokens refuses bearer ones outright.
  if (dpopRequired && presented === 'Bearer') throw new VerifyError('invalid_token', 'this API accepts only DPoP-bound access tokens', { scheme: 'DPoP' });
  return { token, scheme: presented };
}
