import { OAuthError } from '../errors.js';
import { SCOPE_TOKEN } from '../manage/validate.js';

/**
 * Parses a `scope` parameter: space-delimited (RFC 6749 §3.3), or also comma-delimited on
 * the Pulsoid-style aliases. Returns undefined when absent, so callers can apply defaults.
 */
export function parseScope(value: string | undefined, commas: boolean): string[] | undefined {
  if (value === undefined) return undefined;
  const scopes = value.split(commas ? /[ ,]+/ : / +/).filter(Boolean);
  const bad = scopes.find((s) => !SCOPE_TOKEN.test(s));
  if (bad !== undefined) throw new OAuthError('invalid_scope', `scope ${JSON.stringify(bad)} is malformed`);
  return scopes.length === 0 ? undefined : [...new Set(scopes)];
}
