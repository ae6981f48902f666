import type { FastifyInstance } from 'fastify';
import { OAuthError } from '../errors.js';

/** Whether a parsed value (a string, or the strings and keys of an object or array) holds U+0000. */
function holdsNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  // Deeper than any document the server reads; fastify's JSON parser has already bounded the rest.
  if (value === null || typeof value !== 'object' || depth > 32) return false;
  if (Array.isArray(value)) return value.some((v) => holdsNul(v, depth + 1));
  for (const key in value) {
    if (key.includes('\u0000') || holdsNul((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

/**
 * Refuses a request whose path segments, query or body carry a NUL character, before any
 * handler reads them. No OAuth parameter may hold one (RFC 6749 Appendix A: VSCHAR, NQCHAR and
 * UNICODECHARNOCRLF all exclude %x00), and PostgreSQL text cannot store or even compare one: a
 * lookup of such a value failed there with a database error (a 500) where SQLite answered the
 * RFC error. Found by the fuzzer (test/fuzz, issue 9).
 */
export function refuseNulCharacters(app: FastifyInstance): void {
  // A callback hook, not an async one: it runs on every request, the token endpoint's included.
  app.addHook('preValidation', (req, _reply, done) => {
    if (holdsNul(req.params) || holdsNul(req.query) || holdsNul(req.body)) {
      return done(new OAuthError('invalid_request', 'request parameters must not contain NUL characters'));
    }
    done();
  });
}
