import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { GrantStore } from '../stores.js';
import { artifactRow } from './artifacts.js';
import type { Q } from './common.js';

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
    async ensure(g, artifacts = []) {
      const insert = (q: Q) =>
        q
          .insertInto('grants')
          .values({
            id: g.id, tenant_id: g.tenantId, client_id: g.clientId, subject: g.subject, scope: g.scope,
            created_at: g.createdAt, expires_at: g.expiresAt, revoked_at: g.revokedAt,
          })
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
      if (artifacts.length === 0) {
        await insert(db);
        return;
      }
      await db.transaction().execute(async (trx) => {
        await insert(trx);
        await trx.insertInto('artifacts').values(artifacts.map(artifactRow)).execute();
      });
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
    async listLive(tenantId, subject, now) {
      const rows = await db
        .selectFrom('grants')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('subject', '=', subject)
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return rows.map((r) => ({
        id: r.id, tenantId: r.tenant_id, clientId: r.client_id, subject: r.subject, scope: r.scope,
        createdAt: r.created_at, expiresAt: r.expires_at, revokedAt: r.revoked_at,
      }));
    },
    revokeForClient: (tenantId, subject, clientId, now) =>
      db.transaction().execute(async (trx) => {
        const revoked = await trx
          .updateTable('grants')
          .set({ revoked_at: now })
          .where('tenant_id', '=', tenantId)
          .where('subject', '=', subject)
          .where('client_id', '=', clientId)
          .where('revoked_at', 'is', null)
          .returning('id')
          .execute();
        const ids = revoked.map((r) => r.id);
        if (ids.length === 0) return 0;
        await trx.updateTable('access_tokens').set({ revoked_at: now }).where('grant_id', 'in', ids).where('revoked_at', 'is', null).execute();
        await trx.updateTable('artifacts').set({ used_at: now }).where('grant_id', 'in', ids).where('used_at', 'is', null).execute();
        return ids.length;
      }),
  };
}
