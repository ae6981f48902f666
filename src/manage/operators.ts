import { OPERATOR, recordAudit } from '../audit.js';
import { InputError } from '../errors.js';
import { ADMIN_TENANT, type ManageDeps } from './tenants.js';

/**
 * Checks the tenants a scoped operator is to manage: the user is an operator (of the `admin`
 * tenant), and every tenant exists and is not `admin` (managing operators is for global ones).
 */
export async function checkOperatorScope(deps: ManageDeps, userTenant: string, tenants: string[] | null): Promise<void> {
  if (userTenant !== ADMIN_TENANT) throw new InputError('an operator scope applies to users of the admin tenant only');
  for (const id of tenants ?? []) {
    if (id === ADMIN_TENANT) throw new InputError('an operator of the admin tenant is a global operator (no scope)');
    if (!(await deps.storage.tenants.get(id))) throw new InputError(`tenant ${id} does not exist`);
  }
}

/** Sets whom an operator manages: some tenants, or every one (null). */
export async function setOperatorScope(deps: ManageDeps, userTenant: string, userId: string, tenants: string[] | null): Promise<void> {
  await checkOperatorScope(deps, userTenant, tenants);
  await deps.storage.operators.setScope(userId, tenants);
  await recordAudit(deps, ADMIN_TENANT, { type: 'operator.scope_changed', actor: deps.actor ?? OPERATOR, userId, detail: { tenants: tenants ?? 'all' } });
}
