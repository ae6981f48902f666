import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { RevocationStore } from '../stores.js';

export function revocationStore(db: Kysely<Database>): RevocationStore {
  return {
    async revokeJti(tenantId, jti, expiresAt) {
      // A second revocation (a retry, two nodes at once) is no conflict: the first entry stands.
      await db
        .insertInto('revoked_jtis')
        .values({ tenant_id: tenantId, jti, expires_at: expiresAt })
        .onConflict((oc) => oc.columns(['tenant_id', 'jti']).doNothing())
        .execute();
    },
    async isJtiRevoked(tenantId, jti) {
      // The primary key (tenant_id, jti) serves this lookup.
      const r = await db.selectFrom('revoked_jtis').select('jti').where('tenant_id', '=', tenantId).where('jti', '=', jti).executeTakeFirst();
      return r !== undefined;
    },
  };
}
