import type { FastifyReply, FastifyRequest } from 'fastify';
import { grants } from '../grants/index.js';
import { endpointUrl, type TenantContext } from '../http/context.js';

const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'];

/**
 * Authorization-server metadata (RFC 8414 §2) and OpenID Provider metadata (OIDC Discovery
 * §3): one document, listing only what is implemented. The issuer is the canonical URL;
 * alias paths redirect here (routes.ts), so a client always sees the issuer it fetched.
 */
export async function discoveryEndpoint(ctx: TenantContext, _req: FastifyRequest, reply: FastifyReply) {
  const apis = await ctx.services.cache.apiIndex(ctx.tenant.id);
  const scopes = [...new Set([...OIDC_SCOPES, ...apis.list.flatMap((a) => a.scopes.map((s) => s.name))])];
  return reply
    .header('cache-control', 'public, max-age=300')
    .header('access-control-allow-origin', '*')
    .send({
      issuer: ctx.issuer,
      token_endpoint: endpointUrl(ctx.issuer, 'token'),
      jwks_uri: endpointUrl(ctx.issuer, 'certs'),
      grant_types_supported: [...grants.keys()],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: scopes,
      subject_types_supported: ['public'],
      claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id', 'scope'],
    });
}
