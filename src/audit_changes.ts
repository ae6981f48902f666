import { OPERATOR, recordAudit } from './audit.js';
import { ADMIN_TENANT, type ManageDeps } from './manage/tenants.js';
import type { Api } from './storage/types.js';

/**
 * Audit events of management changes that the admin API records in its routes (src/admin/)
 * and the CLI in its commands (src/cli/commands/), shaped alike on both paths: tenants, APIs
 * and keys. (Clients, users, sessions, grants, operators, DCR tokens and personal tokens are
 * recorded inside the management functions themselves, src/manage/, which both paths call.)
 * The actor is the admin API's operator (`operator:ID`) or `operator` for the CLI.
 */

/** Tenant events go to the `admin` tenant: a deleted tenant's own events go with it. */
export const auditTenantChange = (deps: ManageDeps, type: 'tenant.created' | 'tenant.updated' | 'tenant.deleted', tenantId: string, detail: Record<string, unknown> = {}) =>
  recordAudit(deps, ADMIN_TENANT, { type, actor: deps.actor ?? OPERATOR, detail: { tenant: tenantId, ...detail } });

export const auditApiChange = (deps: ManageDeps, tenantId: string, type: 'api.created' | 'api.updated' | 'api.deleted', api: Pick<Api, 'id' | 'audience'>, detail: Record<string, unknown> = {}) =>
  recordAudit(deps, tenantId, { type, actor: deps.actor ?? OPERATOR, detail: { api: api.id, audience: api.audience, ...detail } });

export const auditKeysRotated = (deps: ManageDeps, tenantId: string, kids: string[], immediately: boolean) =>
  recordAudit(deps, tenantId, { type: 'key.rotated', actor: deps.actor ?? OPERATOR, detail: { kids, immediately } });

export const auditKeyRevoked = (deps: ManageDeps, tenantId: string, kid: string, replacement: string | undefined) =>
  recordAudit(deps, tenantId, { type: 'key.revoked', actor: deps.actor ?? OPERATOR, detail: { kid, replacement } });

/** What selects the thing changed, or how the CLI prints: not a changed field. */
const NOT_FIELDS = new Set(['tenant', 'json', 'help']);

/** Names of the options a CLI update was given, as the admin API's field names (`display-name` → `display_name`). */
export function changedOptions(values: Record<string, unknown>, group: (name: string) => string = (n) => n): string[] {
  return [...new Set(Object.keys(values).filter((k) => values[k] !== undefined && !NOT_FIELDS.has(k)).map((k) => group(k).replace(/-/g, '_')))].sort();
}
