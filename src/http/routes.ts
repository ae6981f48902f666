import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { discoveryEndpoint } from '../endpoints/discovery.js';
import { jwksEndpoint } from '../endpoints/jwks.js';
import { tokenEndpoint } from '../endpoints/token.js';
import { OAuthError } from '../errors.js';
import { DEFAULT_TENANT } from '../manage/tenants.js';
import { issuerOf, resolveTenant, type Services, type TenantContext } from './context.js';

type Endpoint = (ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

interface Route {
  methods: HTTPMethods[];
  /** Path under the issuer `/realms/{tenant}`. */
  path: string;
  handler: Endpoint;
  /** Paths bound to the `default` tenant (Auth0 and Pulsoid styles). */
  defaultAliases?: string[];
  /** Metadata documents: an alias answers 308 to the canonical URL (one issuer per tenant). */
  metadata?: boolean;
}

/**
 * Every path Tessera serves, with every alias, in one table (DESIGN.md §1 URL layout).
 * Each route is served under `/realms/{tenant}` and the legacy `/auth/realms/{tenant}`.
 */
export const ROUTES: Route[] = [
  { methods: ['GET'], path: '/.well-known/openid-configuration', handler: discoveryEndpoint, metadata: true, defaultAliases: ['/.well-known/openid-configuration'] },
  { methods: ['GET'], path: '/.well-known/oauth-authorization-server', handler: discoveryEndpoint, metadata: true, defaultAliases: ['/.well-known/oauth-authorization-server'] },
  { methods: ['POST'], path: '/protocol/openid-connect/token', handler: tokenEndpoint, defaultAliases: ['/oauth/token', '/oauth2/token'] },
  { methods: ['GET'], path: '/protocol/openid-connect/certs', handler: jwksEndpoint, defaultAliases: ['/.well-known/jwks.json'] },
];

const ALL_METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];

export function registerRoutes(app: FastifyInstance, services: Services): void {
  const serve = (url: string, route: Route, fixedTenant?: string) => {
    const commaScopes = url.startsWith('/oauth2/');
    app.route({
      method: route.methods,
      url,
      handler: async (req, reply) => route.handler(await resolveTenant(services, req, fixedTenant, commaScopes), req, reply),
    });
    const others = ALL_METHODS.filter((m) => !route.methods.includes(m) && !(m === 'HEAD' && route.methods.includes('GET')));
    app.route({
      method: others,
      url,
      handler: async () => {
        throw new OAuthError('method_not_allowed', `use ${route.methods.join(' or ')} for this endpoint`, { headers: { allow: route.methods.join(', ') } });
      },
    });
  };
  const redirect = (url: string, path: string, fixedTenant?: string) =>
    app.get(url, async (req, reply) => {
      const tenant = fixedTenant ?? (req.params as { tenant: string }).tenant;
      if (!(await services.cache.tenant(tenant))) throw new OAuthError('not_found', `tenant ${JSON.stringify(tenant)} does not exist`);
      return reply.redirect(`${issuerOf(services.config.publicUrl, tenant)}${path}`, 308);
    });

  for (const route of ROUTES) {
    serve(`/realms/:tenant${route.path}`, route);
    if (route.metadata) redirect(`/auth/realms/:tenant${route.path}`, route.path);
    else serve(`/auth/realms/:tenant${route.path}`, route);
    for (const alias of route.defaultAliases ?? []) {
      if (route.metadata) redirect(alias, route.path, DEFAULT_TENANT);
      else serve(alias, route, DEFAULT_TENANT);
    }
  }
  // RFC 8414 §3.1: for an issuer with a path, the well-known segment goes between host and path.
  serve('/.well-known/oauth-authorization-server/realms/:tenant', ROUTES.find((r) => r.path === '/.well-known/oauth-authorization-server')!);
}
