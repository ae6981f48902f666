import type { AccessToken } from './access_token.js';
import { check, requestUrl, type MiddlewareOptions } from './middleware.js';
import type { Verifier } from './verifier.js';

/**
 * What the middleware uses of a Hono context. Structural, so the kit does not depend on
 * hono at run time; a Hono `Context` is one. `set` is a method so that a context typed with
 * its own variables (`new Hono<{ Variables: { accessToken: AccessToken } }>()`) fits too.
 */
export interface HonoContextLike {
  req: { raw: Request; method: string; url: string };
  set(key: 'accessToken', value: AccessToken): void;
}

/**
 * Hono middleware that lets a request through only with an acceptable access token (and the
 * given scopes), and sets the `accessToken` variable (`c.get('accessToken')`). A refusal is
 * the response (RFC 6750 §3); nothing after the middleware runs.
 *
 *   app.get('/latest', honoAuth(verifier, { scopes: ['data:heart_rate:read'] }), (c) => …)
 */
export function honoAuth(verifier: Verifier, options: MiddlewareOptions = {}) {
  return async function tesseraMiddleware(c: HonoContextLike, next: () => Promise<void>): Promise<Response | void> {
    const headers = c.req.raw.headers;
    // Hono's URL is absolute already (from the adapter: the Host header and the listener's scheme).
    const url = new URL(c.req.url);
    const outcome = await check(
      verifier,
      {
        authorization: headers.get('authorization') ?? undefined,
        dpop: headers.get('dpop') ?? undefined,
        method: c.req.method,
        url: requestUrl(url.protocol.slice(0, -1), url.host, `${url.pathname}${url.search}`, options.publicUrl),
      },
      options,
    );
    if (!outcome.ok) {
      const { status, headers: h, body } = outcome.response;
      return new Response(JSON.stringify(body), { status, headers: h });
    }
    c.set('accessToken', outcome.token);
    await next();
  };
}
