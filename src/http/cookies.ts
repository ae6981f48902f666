import type { FastifyRequest } from 'fastify';

/**
 * The request's cookies, parsed on first use (the plugin's per-request hook is off). A value
 * that decodes to a NUL was never set by this server: it counts as absent, since PostgreSQL
 * cannot even look it up (found by the fuzzer).
 */
export function cookiesOf(req: FastifyRequest): Record<string, string | undefined> {
  const header = req.headers.cookie;
  if (!header) return {};
  const cookies: Record<string, string | undefined> = req.server.parseCookie(header);
  for (const name in cookies) if (cookies[name]?.includes('\u0000')) delete cookies[name];
  return cookies;
}
