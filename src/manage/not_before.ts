import { OPERATOR, recordAudit } from '../audit.js';
import { seconds } from '../clock.js';
import { InputError } from '../errors.js';
import { requireClient } from './clients.js';
import { requireTenant, type ManageDeps } from './tenants.js';

export interface NotBeforeResult {
  tenant: string;
  clientId?: string;
  /** Epoch seconds; tokens whose `iat` is earlier are inactive. 0 = no policy. */
  notBefore: number;
}

/**
 * Keycloak's not-before policy ("Revocation → Set to now"): every token of the tenant, or of
 * one client, issued before `time` becomes inactive at once — access tokens wherever they
 * are read, refresh tokens at the refresh grant. `now` covers the current second as a whole
 * (`iat` has one-second resolution, so a token minted a moment before the command shares
 * its second); an explicit time is taken as given, and 0 lifts the policy.
 */
export async function revokeBefore(deps: ManageDeps, tenantId: string, options: { clientId?: string; time?: number | 'now' }): Promise<NotBeforeResult> {
  const now = seconds(deps.clock);
  const time = options.time === undefined || options.time === 'now' ? now + 1 : options.time;
  if (!Number.isSafeInteger(time) || time < 0) throw new InputError('the time must be now or whole seconds since the epoch');
  if (options.clientId !== undefined) {
    await requireClient(deps, tenantId, options.clientId);
    if (!(await deps.storage.clients.setNotBefore(tenantId, options.clientId, time, now))) throw new InputError(`tenant ${tenantId} has no client ${options.clientId}`, 'not_found');
  } else {
    await requireTenant(deps, tenantId);
    await deps.storage.tenants.update(tenantId, { notBefore: time }, now);
  }
  await recordAudit(deps, tenantId, {
    type: 'token.revoked', actor: deps.actor ?? OPERATOR, clientId: options.clientId, detail: { reason: 'not_before_policy', not_before: time },
  });
  return { tenant: tenantId, ...(options.clientId !== undefined && { clientId: options.clientId }), notBefore: time };
}
