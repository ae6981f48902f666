import { OPERATOR, recordAudit } from '../audit.js';
import { InputError } from '../errors.js';
import { factorView } from '../mfa/factors.js';
import { requireTenant, type ManageDeps } from './tenants.js';
import { requireUser } from './users.js';

/**
 * Second-factor management for operators, shared by the CLI and the admin API (so both audit
 * alike): the tenant's and a client's policy, a user's factors, and the reset of a user who
 * lost theirs (Keycloak's "remove OTP" in the admin console).
 */

export type TenantMfaPolicy = 'optional' | 'required';

export function checkPolicy(value: string): TenantMfaPolicy {
  if (value !== 'optional' && value !== 'required') throw new InputError('mfa must be optional or required');
  return value;
}

export async function tenantMfa(deps: ManageDeps, tenantId: string): Promise<{ tenant: string; mfa: TenantMfaPolicy }> {
  await requireTenant(deps, tenantId);
  return { tenant: tenantId, mfa: (await deps.storage.mfa.tenantPolicy(tenantId)) ?? 'optional' };
}

/** Sets the tenant's policy; the change is an event of that tenant, for its operators to see. */
export async function setTenantMfa(deps: ManageDeps, tenantId: string, policy: TenantMfaPolicy): Promise<{ tenant: string; mfa: TenantMfaPolicy }> {
  await requireTenant(deps, tenantId);
  if (!(await deps.storage.mfa.setTenantPolicy(tenantId, policy))) throw new InputError(`tenant ${tenantId} does not exist`, 'not_found');
  await recordAudit(deps, tenantId, { type: 'mfa.policy_updated', actor: deps.actor ?? OPERATOR, detail: { mfa: policy } });
  return { tenant: tenantId, mfa: policy };
}

export async function clientMfa(deps: ManageDeps, tenantId: string, clientId: string): Promise<{ tenant: string; client_id: string; require_mfa: boolean }> {
  const required = await deps.storage.mfa.clientRequires(tenantId, clientId);
  if (required === undefined) throw new InputError(`client ${clientId} does not exist in tenant ${tenantId}`, 'not_found');
  return { tenant: tenantId, client_id: clientId, require_mfa: required };
}

export async function setClientMfa(deps: ManageDeps, tenantId: string, clientId: string, required: boolean): Promise<{ tenant: string; client_id: string; require_mfa: boolean }> {
  if (!(await deps.storage.mfa.setClientRequires(tenantId, clientId, required))) throw new InputError(`client ${clientId} does not exist in tenant ${tenantId}`, 'not_found');
  await recordAudit(deps, tenantId, { type: 'mfa.policy_updated', actor: deps.actor ?? OPERATOR, clientId, detail: { require_mfa: required } });
  return { tenant: tenantId, client_id: clientId, require_mfa: required };
}

/** The user's factors (never a secret or key) and how many recovery codes are left. */
export async function userMfa(deps: ManageDeps, tenantId: string, idOrUsername: string) {
  const user = await requireUser(deps, tenantId, idOrUsername);
  const [factors, left] = await Promise.all([deps.storage.mfa.list(tenantId, user.id), deps.storage.mfa.recoveryCodesLeft(tenantId, user.id)]);
  return { user_id: user.id, username: user.username, factors: factors.map(factorView), recovery_codes_left: left };
}

/**
 * Removes every factor and recovery code of the user, who then signs in with the password
 * alone (or enrols again where a factor is required). Audited, with how many factors went.
 */
export async function resetUserMfa(deps: ManageDeps, tenantId: string, idOrUsername: string) {
  const user = await requireUser(deps, tenantId, idOrUsername);
  const removed = await deps.storage.mfa.reset(tenantId, user.id);
  await recordAudit(deps, tenantId, { type: 'mfa.reset', actor: deps.actor ?? OPERATOR, userId: user.id, detail: { factors_removed: removed } });
  return { user_id: user.id, username: user.username, factors_removed: removed };
}
