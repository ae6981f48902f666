import { LOOPBACK_HOSTS } from '../manage/validate.js';

const LOOPBACK = /^http:\/\/(127\.0\.0\.1|\[::1\]|localhost)(?::(\d{1,5}))?(?=[/?]|$)/;

/** The URI with a loopback port removed, or undefined if it is not an http loopback URI. */
function withoutLoopbackPort(uri: string): string | undefined {
  const m = LOOPBACK.exec(uri);
  if (!m || !LOOPBACK_HOSTS.has(m[1])) return undefined;
  return `http://${m[1]}${uri.slice(m[0].length)}`;
}

/**
 * Matches a presented `redirect_uri` against a registered one: byte for byte (RFC 9700
 * §4.1.3, SECURITY-CHECKLIST 1), except that an http loopback URI matches on any port
 * (RFC 8252 §7.3) — host, path and query must still be identical, so no normalisation
 * (case, dot segments, encoding) can turn one URI into another.
 */
export function redirectUriMatches(registered: string, presented: string): boolean {
  if (registered === presented) return true;
  const a = withoutLoopbackPort(registered);
  return a !== undefined && a === withoutLoopbackPort(presented);
}

/** True for a public client's redirect that any app on the device could receive (RFC 8252 §8.6). */
export function isDeviceLocal(uri: string): boolean {
  return withoutLoopbackPort(uri) !== undefined || !/^https?:/i.test(uri);
}
