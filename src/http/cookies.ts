import type { FastifyRequest } from 'fastify';

/** The request's cookies, parsed on first use (the plugin's per-request hook is off). */
export function cookiesOf(req: FastifyRequest): Record<string, string | undefined> {
  const header = req.headers.cookie;
  return header ? req.server.parseCookie(header) : {};
}
