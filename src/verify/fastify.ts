import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AccessToken } from './access_token.js';
import { check, requestUrl, type MiddlewareOptions } from './middleware.js';
import type { Verifier } from './verifier.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the Tessera verifier's preHandler once the access token is accepted. */
    accessToken?: AccessToken;
  }
}

/**
 * A fastify `preHandler` that lets a request through only with an acceptable access token
 * (and the given scopes), and sets `request.accessToken`. Refusals are answered here, as
 * RFC 6750 §3 says: 401/403/400 with `WWW-Authenticate` and a JSON body.
 *
 *   app.get('/avatars', { preHandler: fastifyAuth(verifier, { scopes: ['read:avatars'] }) }, handler)
 */
export function fastifyAuth(verifier: Verifier, options: MiddlewareOptions = {}) {
  return async function tesseraPreHandler(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const outcome = await check(
      verifier,
      {
        authorization: request.headers.authorization,
        dpop: request.headers.dpop,
        method: request.method,
        url: requestUrl(request.protocol, request.host, request.url, options.publicUrl),
      },
      options,
    );
    if (outcome.ok) {
      request.accessToken = outcome.token;
      return;
    }
    const { status, headers, body } = outcome.response;
    await reply.code(status).headers(headers).send(body);
  };
}

export interface FastifyAuthPluginOptions extends MiddlewareOptions {
  verifier: Verifier;
}

/**
 * The same check as a plugin: every route registered inside it is protected.
 *
 *   app.register(async (api) => { api.register(fastifyAuthPlugin, { verifier, scopes: ['read:avatars'] }); api.get(...) })
 */
export async function fastifyAuthPlugin(app: FastifyInstance, options: FastifyAuthPluginOptions): Promise<void> {
  const { verifier, ...rest } = options;
  if (!app.hasRequestDecorator('accessToken')) app.decorateRequest('accessToken', undefined);
  app.addHook('preHandler', fastifyAuth(verifier, rest));
}
// Registered without encapsulation (what fastify-plugin does), so the hook reaches the routes of the context that registers it.
(fastifyAuthPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
