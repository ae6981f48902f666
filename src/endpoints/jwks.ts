import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TenantContext } from '../http/context.js';

/** The tenant's public signing keys (RFC 7517 §5), current and still-verifying ones. */
export async function jwksEndpoint(ctx: TenantContext, _req: FastifyRequest, reply: FastifyReply) {
  const ring = await ctx.services.cache.keyRing(ctx.tenant.id);
  return reply
    .header('cache-control', `public, max-age=${ctx.services.config.keys.jwksCacheSeconds}`)
    .header('access-control-allow-origin', '*')
    .type('application/json')
    .send(ring.jwks());
}
