import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { GrantStore } from '../stores.js';

export function grantStore(db: Kysely<Database>): GrantStore {
  return {
    async get(id) {
      const r = await db.selectFrom('grants').selectAll().where('id', '=', id).executeTakeFirst();
      return (
        r && {
          id: r.id, tenantId: r.tenant_id, clientId: r.client_id, subject: r.subject, scope: r.scope,
          createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at,
        }
      );
    },
    async ensure(g) {
      await db
        .insertInto('grants')
        .values({
          id: g.id, tenant_id: g.tenantId, client_id: g.clientId, subject: g.subject, scope: g.scope,
          created_at: g.createdAt, expires_at: g.expiresAt, revoked_at: g.revokedAt,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    },
    revoke: (id, now) =>
      db.transaction().execute(async (trx) => {
        const r = await trx.updateTable('grants').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
        if (Number(r.numUpdatedRows) === 0) return false;
        await trx.updateTable('access_tokens').set({ revoked_at: now }).where('grant_id', '=', id).where('revoked_at', 'is', null).execute();
        // Unused artifacts can no longer be redeemed; used ones stay for reuse detection.
        await trx.updateTable('artifacts').set({ used_at: now }).where('grant_id', '=', id).where('used_at', 'is', null).execute();
        return true;
      }),
  };
}
