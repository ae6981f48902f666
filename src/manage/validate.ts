import { z } from 'zod';
import { InputError } from '../errors.js';

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export const scopeName = z.string().regex(SCOPE_TOKEN, 'is not a valid scope name (RFC 6749 §3.3)');

export const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * A redirect URI a client may register (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §4.1):
 * absolute, no fragment, https — or http only on a loopback host — or a private-use
 * scheme with a dot (reverse domain name) for native apps. Dangerous schemes never.
 */
export function checkRedirectUri(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InputError(`redirect URI ${JSON.stringify(value)} is not an absolute URI`);
  }
  if (value.includes('#')) throw new InputError(`redirect URI ${value} must not contain a fragment (RFC 6749 §3.1.2)`);
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (['javascript', 'data', 'file', 'vbscript', 'blob', 'about'].includes(scheme)) {
    throw new InputError(`redirect URI scheme ${scheme}: is not allowed`);
  }
  if (scheme === 'http' && !LOOPBACK_HOSTS.has(url.hostname)) {
    throw new InputError(`redirect URI ${value} must use https (http is allowed only for loopback hosts, RFC 8252 §7.3)`);
  }
  if (scheme !== 'http' && scheme !== 'https' && !scheme.includes('.')) {
    throw new InputError(`redirect URI ${value}: a private-use scheme must be a reverse domain name such as com.example.app (RFC 8252 §7.1)`);
  }
  if (url.username || url.password) throw new InputError(`redirect URI ${value} must not contain user information`);
  return value;
}

/** A web origin for CORS: scheme, host and port only. */
export function checkOrigin(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InputError(`CORS origin ${JSON.stringify(value)} is not an origin such as https://app.example.com`);
  }
  if (url.origin === 'null' || url.origin !== value.replace(/\/$/, '')) {
    throw new InputError(`CORS origin ${value} must be scheme://host[:port] with no path`);
  }
  return url.origin;
}

/** An API identifier (RFC 8707 §2: an absolute URI without a fragment). */
export function checkAudience(value: string): string {
  if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$/.test(value) || value.includes('#')) {
    throw new InputError(`audience ${JSON.stringify(value)} must be an absolute URI without a fragment (RFC 8707 §2), such as https://api.example.com/`);
  }
  try {
    new URL(value);
  } catch {
    throw new InputError(`audience ${JSON.stringify(value)} is not a valid URI`);
  }
  return value;
}

export function checkLifetime(what: string, value: number | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 1 || value > max) throw new InputError(`${what} must be a whole number of seconds from 1 to ${max}`);
  return value;
}

/** Parses with a zod schema, naming the offending field in the error. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const r = schema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue.path.join('.');
    throw new InputError(field ? `${field} ${issue.message}` : issue.message);
  }
  return r.data;
}

/** A basic syntax check (local@domain.tld); whether the address works is what verification is for. */
const EMAIL = /^[^\s\p{Cc}@"<>()[\]\\,;:]+@[^\s\p{Cc}@"<>()[\]\\,;:]+\.[^\s\p{Cc}@"<>()[\]\\,;:.]+$/u;

export function checkEmail(value: string): string | null {
  const email = value.trim();
  if (email === '') return null;
  // RFC 5321 §4.5.3.1.3: a path holds at most 256 octets, so an address at most 254.
  if (email.length > 254 || !EMAIL.test(email) || email.includes('..')) throw new InputError(`email ${JSON.stringify(value)} is not a valid email address`);
  return email;
}
