import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Clock, Random } from '../clock.js';
import type { Config } from '../config.js';
import { OAuthError } from '../errors.js';
import type { MailQueue } from '../mail/queue.js';
import type { Metrics } from '../metrics/registry.js';
import type { ConfigCache } from '../storage/cache.js';
import type { Storage } from '../storage/index.js';
import type { Tenant } from '../storage/types.js';
import { isLoopbackDevelopment } from './outbound.js';
import type { ClientAuthThrottle } from './client_auth_throttle.js';
import type { ClientRateLimiter } from './client_rate_limit.js';
import type { SignInThrottle, ThrottleStore } from './throttle.js';

/** What every endpoint may use; built once per process. */
export interface Services {
  config: Config;
  storage: Storage;
  cache: ConfigCache;
  clock: Clock;
  random: Random;
  log: FastifyBaseLogger;
  /** Failed sign-ins per account and per IP, with growing delays. */
  throttle: SignInThrottle;
  /** Sign-ups and password-reset requests per address/account and per IP: each one sends mail. */
  accountThrottle: SignInThrottle;
  /** Wrong user codes on the device page, per signed-in user and per IP (RFC 8628 §5.1). */
  deviceThrottle: SignInThrottle;
  /** Failed client authentication per client and per IP (SECURITY-CHECKLIST 25). */
  clientAuthThrottle: ClientAuthThrottle;
  /** Per-client limits on successful requests, for clients that have one (http/client_rate_limit.ts). */
  clientRateLimit: ClientRateLimiter;
  /** The store every throttle counts in, shared by all nodes (http/throttle_stores.ts). */
  throttleStore: ThrottleStore & { close(): Promise<void> };
  /** Outgoing mail, sent after the response (never awaited by a request). */
  mail: MailQueue;
  /** Counters and histograms served at /metrics (metrics/registry.ts). */
  metrics: Metrics;
}

/** The tenant a request addresses, resolved from the route, and the route's options. */
export interface TenantContext {
  tenant: Tenant;
  /** `issuerOf(...)`: the one issuer of the tenant, whatever alias or host was used. */
  issuer: string;
  /** Pulsoid's `/oauth2/*` aliases accept comma-separated scopes; nowhere else (DESIGN.md §1). */
  commaScopes: boolean;
  services: Services;
}

/**
 * The one issuer of a tenant, wherever it is built (endpoints, views, CLI, mail links):
 * `{PUBLIC_URL}/realms/{id}`, or `https://{hostname}/realms/{id}` for a tenant with its own
 * hostname (DESIGN.md §1: a tenant has exactly one issuer).
 */
export const issuerOf = (publicUrl: string, tenant: Pick<Tenant, 'id' | 'hostname'>): string =>
  `${tenant.hostname ? hostOrigin(publicUrl, tenant.hostname) : publicUrl}/realms/${encodeURIComponent(tenant.id)}`;

/**
 * The origin of a tenant hostname: always https (a proxy terminates TLS), except in plain-http
 * loopback development (the exception of outbound.ts), where the public URL's port is kept.
 */
function hostOrigin(publicUrl: string, hostname: string): string {
  if (!isLoopbackDevelopment(publicUrl)) return `https://${hostname}`;
  const port = new URL(publicUrl).port;
  return `http://${hostname}${port ? `:${port}` : ''}`;
}

/** The request's host name as fastify resolved it (X-Forwarded-Host only from trusted proxies). */
export const requestHost = (req: FastifyRequest): string => (req.hostname ?? '').toLowerCase();

/** Endpoint paths under an issuer, Keycloak's layout (DESIGN.md §1). */
export const endpointUrl = (issuer: string, path: string): string => `${issuer}/protocol/openid-connect/${path}`;

export async function resolveTenant(
  services: Services,
  req: FastifyRequest,
  fixedTenant: string | undefined,
  commaScopes = false,
): Promise<TenantContext> {
  const id = fixedTenant ?? (req.params as { tenant?: string }).tenant ?? '';
  // A tenant's own hostname serves that tenant only: another tenant's path there is unknown.
  const hostTenant = (services.cache.peekHostnames() ?? (await services.cache.hostnames())).get(requestHost(req));
  if (hostTenant !== undefined && hostTenant !== id) throw new OAuthError('not_found', `tenant ${JSON.stringify(id)} does not exist`);
  const tenant = services.cache.peekTenant(id) ?? (await services.cache.tenant(id));
  if (!tenant) throw new OAuthError('not_found', `tenant ${JSON.stringify(id)} does not exist`);
  return { tenant, issuer: issuerOf(services.config.publicUrl, tenant), commaScopes, services };
}
