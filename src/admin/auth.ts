import type { FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.js';
import { bearerError, headerBearerToken } from '../http/bearer.js';
import { issuerOf, type Services, type TenantContext } from '../http/context.js';
import { ADMIN_TENANT } from '../manage/tenants.js';
import { readAccessToken } from '../tokens/read_access_token.js';
import { ADMIN_SCOPE } from './bootstrap.js';
import type { Operator } from './route.js';

/** The `admin` tenant as a request context: admin API tokens are read as its tokens. */
export async function adminTenantContext(services: Services): Promise<TenantContext> {
  const tenant = services.cache.peekTenant(ADMIN_TENANT) ?? (await services.cache.tenant(ADMIN_TENANT));
  if (!tenant) throw new OAuthError('server_error', 'the admin tenant does not exist', { detail: 'ensureAdminTenant did not run' });
  return { tenant, issuer: issuerOf(services.config.publicUrl, tenant), commaScopes: false, services };
}

/**
 * The operator an admin API request comes from (DESIGN.md §1): an `Authorization: Bearer`
 * access token of the `admin` tenant (a token of any other tenant fails its issuer or tenant
 * check), live (readAccessToken checks revocation, grant and not-before), carrying scope
 * `admin` (RFC 6750 §3.1 insufficient_scope otherwise), and issued to a user of the admin
 * tenant who is still enabled — checked on every call, so disabling an operator takes effect
 * at once, whatever tokens they hold.
 */
export async function authenticateOperator(services: Services, req: FastifyRequest): Promise<Operator> {
  const ctx = await adminTenantContext(services);
  const token = headerBearerToken(req);
  if (!token) throw bearerError(ctx, 'invalid_token', 'an access token of the admin tenant is required', false);
  const info = await readAccessToken(ctx, token);
  if (!info) throw bearerError(ctx, 'invalid_token', 'the access token is invalid, expired or revoked, or not of the admin tenant', true);
  // RFC 9449 §7.2: a DPoP-bound token sent as a bearer token is refused (no proof of its key).
  if (info.jkt !== undefined) throw bearerError(ctx, 'invalid_token', 'the access token is DPoP-bound; the admin API takes bearer tokens only', true);
  if (!info.scopes.includes(ADMIN_SCOPE)) throw bearerError(ctx, 'insufficient_scope', 'the access token lacks scope admin', true);
  const user = await services.storage.users.get(ADMIN_TENANT, info.subject);
  // A client's own token (client_credentials) names no operator: the scope means nothing without one.
  if (!user) throw bearerError(ctx, 'invalid_token', 'the access token was not issued to an operator', true);
  if (user.disabled) throw bearerError(ctx, 'invalid_token', 'the operator is disabled', true);
  if (user.mustChangePassword) throw new OAuthError('access_denied', 'the operator must change their password first (sign in again)');
  return { user, tenants: await services.storage.operators.scope(user.id) };
}

/** Whether the operator may manage `tenantId`: global operators all; scoped ones theirs, never `admin`. */
export const mayManage = (op: Operator, tenantId: string): boolean => op.tenants === null || (tenantId !== ADMIN_TENANT && op.tenants.includes(tenantId));

/** Refuses a tenant outside the operator's scope, whether or not it exists (no existence oracle). */
export function requireTenantAccess(op: Operator, tenantId: string): void {
  if (!mayManage(op, tenantId)) throw new OAuthError('access_denied', `operator ${op.user.username} may not manage tenant ${tenantId}`);
}

export function requireGlobal(op: Operator): void {
  if (op.tenants !== null) throw new OAuthError('access_denied', `only a global operator may do this; ${op.user.username} manages ${op.tenants.join(', ') || 'no tenant'}`);
}
