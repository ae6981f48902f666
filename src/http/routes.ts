import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { accountEndpoint } from '../endpoints/account.js';
import { accountSecurityEndpoint } from '../endpoints/account_security.js';
import { mfaStepEndpoint } from '../endpoints/mfa_step.js';
import { passkeyLoginEndpoint } from '../endpoints/passkey_login.js';
import { WEBAUTHN_SCRIPT_PATH, webauthnScriptEndpoint } from '../endpoints/webauthn_script.js';
import { discoveryEndpoint } from '../endpoints/discovery.js';
import { deviceEndpoint } from '../endpoints/device.js';
import { deviceAuthorizationEndpoint } from '../endpoints/device_authorization.js';
import { endSessionEndpoint } from '../endpoints/end_session.js';
import { introspectionEndpoint } from '../endpoints/introspect.js';
import { jwksEndpoint } from '../endpoints/jwks.js';
import { pushedAuthorizationEndpoint } from '../endpoints/par.js';
import { resetPasswordLinkEndpoint, signUpLinkEndpoint, verifyEmailLinkEndpoint } from '../endpoints/action_links.js';
import { authorizeEndpoint, registrationsEndpoint, sendErrorPage } from '../endpoints/authorize.js';
import { consentEndpoint, loginActionEndpoint } from '../endpoints/login_actions.js';
import { requiredActionEndpoint } from '../endpoints/required_action.js';
import { registrationActionEndpoint } from '../endpoints/registration.js';
import { resetCredentialsEndpoint } from '../endpoints/reset_credentials.js';
import { revocationEndpoint } from '../endpoints/revoke.js';
import { tokenEndpoint } from '../endpoints/token.js';
import { userinfoEndpoint } from '../endpoints/userinfo.js';
import { validateEndpoint } from '../endpoints/validate.js';
import { clientConfigurationEndpoint, clientRegistrationEndpoint, REGISTRATION_PATH } from '../endpoints/client_registration.js';
import { OAuthError } from '../errors.js';
import { DEFAULT_TENANT } from '../manage/tenants.js';
import { requestHost, resolveTenant, type Services, type TenantContext } from './context.js';

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
  /** Pages for people: errors (an unknown tenant too) are HTML pages, not JSON. */
  browser?: boolean;
  /** CORS with credentials for the web origins registered on the tenant's clients. */
  cors?: boolean;
}

/**
 * Every path Tessera serves, with every alias, in one table (DESIGN.md §1 URL layout).
 * Each route is served under `/realms/{tenant}` and the legacy `/auth/realms/{tenant}`.
 */
export const ROUTES: Route[] = [
  { methods: ['GET'], path: '/.well-known/openid-configuration', handler: discoveryEndpoint, metadata: true, defaultAliases: ['/.well-known/openid-configuration'] },
  { methods: ['GET'], path: '/.well-known/oauth-authorization-server', handler: discoveryEndpoint, metadata: true, defaultAliases: ['/.well-known/oauth-authorization-server'] },
  { methods: ['GET', 'POST'], path: '/protocol/openid-connect/auth', handler: authorizeEndpoint, browser: true, defaultAliases: ['/authorize', '/oauth2/authorize'] },
  { methods: ['POST'], path: '/protocol/openid-connect/token', handler: tokenEndpoint, cors: true, defaultAliases: ['/oauth/token', '/oauth2/token'] },
  { methods: ['POST'], path: '/protocol/openid-connect/revoke', handler: revocationEndpoint, cors: true, defaultAliases: ['/oauth/revoke', '/oauth2/revoke'] },
  { methods: ['POST'], path: '/protocol/openid-connect/token/introspect', handler: introspectionEndpoint },
  // RFC 8628: the device asks for codes; the user enters the code on the device page.
  { methods: ['POST'], path: '/protocol/openid-connect/auth/device', handler: deviceAuthorizationEndpoint },
  { methods: ['GET', 'POST'], path: '/device', handler: deviceEndpoint, browser: true },
  { methods: ['POST'], path: '/protocol/openid-connect/ext/par/request', handler: pushedAuthorizationEndpoint, cors: true },
  { methods: ['GET'], path: '/protocol/openid-connect/validate', handler: validateEndpoint, defaultAliases: ['/oauth2/validate'] },
  { methods: ['GET'], path: '/protocol/openid-connect/certs', handler: jwksEndpoint, defaultAliases: ['/.well-known/jwks.json'] },
  { methods: ['GET', 'POST'], path: '/protocol/openid-connect/userinfo', handler: userinfoEndpoint, cors: true, defaultAliases: ['/userinfo'] },
  { methods: ['GET', 'POST'], path: '/protocol/openid-connect/logout', handler: endSessionEndpoint, browser: true, cors: true },
  { methods: ['GET'], path: '/protocol/openid-connect/registrations', handler: registrationsEndpoint, browser: true },
  { methods: ['GET', 'POST'], path: '/login-actions/authenticate', handler: loginActionEndpoint, browser: true },
  { methods: ['GET', 'POST'], path: '/login-actions/registration', handler: registrationActionEndpoint, browser: true },
  { methods: ['GET', 'POST'], path: '/login-actions/reset-credentials', handler: resetCredentialsEndpoint, browser: true },
  // Links sent by mail (accounts/action_token.ts).
  { methods: ['GET', 'POST'], path: '/login-actions/sign-up', handler: signUpLinkEndpoint, browser: true },
  { methods: ['GET', 'POST'], path: '/login-actions/verify-email', handler: verifyEmailLinkEndpoint, browser: true },
  { methods: ['GET', 'POST'], path: '/login-actions/reset-password', handler: resetPasswordLinkEndpoint, browser: true },
  { methods: ['POST'], path: '/login-actions/consent', handler: consentEndpoint, browser: true },
  // "Choose a new password" before a sign-in completes (users with must_change_password).
  { methods: ['POST'], path: '/login-actions/required-action', handler: requiredActionEndpoint, browser: true },
  // The second step of a sign-in (TOTP, recovery code) and enrolment at sign-in (src/mfa/).
  { methods: ['POST'], path: '/login-actions/mfa', handler: mfaStepEndpoint, browser: true },
  // Passwordless sign-in with a passkey (discoverable WebAuthn credential), and the pages' passkey script.
  { methods: ['POST'], path: '/login-actions/passkey', handler: passkeyLoginEndpoint, browser: true },
  { methods: ['GET'], path: WEBAUTHN_SCRIPT_PATH, handler: webauthnScriptEndpoint },
  { methods: ['GET', 'POST'], path: '/account', handler: accountEndpoint, browser: true },
  // Two-step verification on the account page: authenticator apps, recovery codes.
  { methods: ['GET', 'POST'], path: '/account/security', handler: accountSecurityEndpoint, browser: true },
  // RFC 7591 registration and RFC 7592 management of registered clients (Keycloak's paths); off by default per tenant.
  { methods: ['POST'], path: REGISTRATION_PATH, handler: clientRegistrationEndpoint },
  { methods: ['GET', 'PUT', 'DELETE'], path: `${REGISTRATION_PATH}/:clientId`, handler: clientConfigurationEndpoint },
];

/** The request reached a tenant that has its own hostname through some other host. */
const offCanonicalHost = (ctx: TenantContext, req: FastifyRequest): boolean => ctx.tenant.hostname !== null && requestHost(req) !== ctx.tenant.hostname;

/** The same route (and query) under the tenant's issuer. */
function canonicalUrl(ctx: TenantContext, path: string, requestUrl: string): string {
  const q = requestUrl.indexOf('?');
  return `${ctx.issuer}${path}${q === -1 ? '' : requestUrl.slice(q)}`;
}

const ALL_METHODS: HTTPMethods[] = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];

/**
 * CORS for browser apps (SECURITY-CHECKLIST 48): only an origin registered on one of the
 * tenant's clients (`--cors-origin`) is answered, with credentials; any other gets no CORS
 * headers at all. Returns whether the origin was allowed.
 */
async function allowCors(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  const origin = req.headers.origin;
  // No Origin, no CORS work: server-to-server token requests stay on the fast path.
  if (!origin) return false;
  reply.header('vary', 'Origin');
  if (!(await ctx.services.cache.corsOrigins(ctx.tenant.id)).has(origin)) return false;
  reply
    .header('access-control-allow-origin', origin)
    .header('access-control-allow-credentials', 'true')
    .header('access-control-expose-headers', 'WWW-Authenticate, DPoP-Nonce');
  return true;
}

export function registerRoutes(app: FastifyInstance, services: Services): void {
  const serve = (url: string, route: Route, fixedTenant?: string) => {
    const commaScopes = url.startsWith('/oauth2/');
    app.route({
      method: route.methods,
      url,
      // Read by the error handler: a database outage on a browser route is a page, not JSON.
      config: { browser: route.browser === true },
      handler: async (req, reply) => {
        let ctx;
        try {
          ctx = await resolveTenant(services, req, fixedTenant, commaScopes);
        } catch (err) {
          if (route.browser && err instanceof OAuthError) return sendErrorPage(reply, err);
          throw err;
        }
        // A tenant with its own hostname reached through another host: metadata and pages move to
        // the canonical URL (one issuer per tenant; cookies belong to that host). API calls are
        // served there too, with the canonical issuer, so back ends configured earlier keep working.
        if ((route.metadata || route.browser) && offCanonicalHost(ctx, req)) return reply.redirect(canonicalUrl(ctx, route.path, req.url), 308);
        if (route.cors && req.headers.origin) await allowCors(ctx, req, reply);
        return route.handler(ctx, req, reply);
      },
    });
    if (route.cors) {
      app.options(url, async (req, reply) => {
        const ctx = await resolveTenant(services, req, fixedTenant, commaScopes);
        if (await allowCors(ctx, req, reply)) {
          reply
            .header('access-control-allow-methods', route.methods.join(', '))
            .header('access-control-allow-headers', 'authorization, content-type, dpop')
            .header('access-control-max-age', '600');
        }
        return reply.code(204).send();
      });
    }
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
    app.get(url, async (req, reply) => reply.redirect(`${(await resolveTenant(services, req, fixedTenant)).issuer}${path}`, 308));

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
