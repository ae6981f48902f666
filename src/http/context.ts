import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Clock, Random } from '../clock.js';
import type { Config } from '../config.js';
import { OAuthError } from '../errors.js';
import type { MailQueue } from '../mail/queue.js';
import type { ConfigCache } from '../storage/cache.js';
import type { Storage } from '../storage/index.js';
import type { Tenant } from '../storage/types.js';
import type { SignInThrottle } from './throttle.js';

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
  /** Outgoing mail, sent after the response (never awaited by a request). */
  mail: MailQueue;
}

/** The tenant a request addresses, resolved from the route, and the route's options. */
export interface TenantContext {
  tenant: Tenant;
  /** `{PUBLIC_URL}/realms/{id}`: the one issuer of the tenant, whatever alias was used. */
  issuer: string;
  /** Pulsoid's `/oauth2/*` aliases accept comma-separated scopes; nowhere else (DESIGN.md §1). */
  commaScopes: boolean;
  services: Services;
}

export const issuerOf = (publicUrl: string, tenantId: string): string => `${publicUrl}/realms/${encodeURIComponent(tenantId)}`;

/** Endpoint paths under an issuer, Keycloak's layout (DESIGN.md §1). */
export const endpointUrl = (issuer: string, path: string): string => `${issuer}/protocol/openid-connect/${path}`;

export async function resolveTenant(
  services: Services,
  req: FastifyRequest,
  fixedTenant: string | undefined,
  commaScopes = false,
): Promise<TenantContext> {
  const id = fixedTenant ?? (req.params as { tenant?: string }).tenant ?? '';
  const tenant = services.cache.peekTenant(id) ?? (await services.cache.tenant(id));
  if (!tenant) throw new OAuthError('not_found', `tenant ${JSON.stringify(id)} does not exist`);
  return { tenant, issuer: issuerOf(services.config.publicUrl, tenant.id), commaScopes, services };
}
