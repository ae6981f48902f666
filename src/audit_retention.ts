import { seconds, type Clock } from './clock.js';
import type { Storage } from './storage/index.js';

/**
 * Audit retention (TESSERA_AUDIT_RETENTION_DAYS, default 90): the cleanup job removes every
 * tenant's events older than that. Returns how many went.
 */
export async function removeOldAuditEvents(deps: { storage: Pick<Storage, 'audit'>; clock: Clock }, retentionDays: number): Promise<number> {
  return deps.storage.audit.deleteBefore(seconds(deps.clock) - retentionDays * 86400);
}
