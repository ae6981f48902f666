import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { ConsentStore } from '../stores.js';

/** Retries of remember() lost to concurrent writers before giving up (each loss means another writer won). */
const MAX_ATTEMPTS = 50;

const splitScopes = (s: string): string[] => (s ? s.split(' ') : []);
const joinScopes = (scopes: Iterable<string>): string => [...new Set(scopes)].filter(Boolean).sort().join(' ');

export function consentStore(db: Kysely<Database>): ConsentStore {
  const row = (tenantId: string, userId: string, clientId: string) =>
    db.selectFrom('consents').selectAll().where('tenant_id', '=', tenantId).where('user_id', '=', userId).where('client_id', '=', clientId);

  return {
    async get(tenantId, userId, clientId) {
      const r = await row(tenantId, userId, clientId).executeTakeFirst();
      return (
        r && {
          tenantId: r.tenant_id, userId: r.user_id, clientId: r.client_id, scopes: splitScopes(r.scopes),
          createdAt: r.created_at, updatedAt: r.updated_at,
        }
      );
    },
    async remember(tenantId, userId, clientId, scopes, now) {
      // Compare-and-swap on the scope list, the same SQL on both backends: an insert that
      // loses to a concurrent insert, or an update whose expected old value another writer
      // replaced first, changes nothing and goes round again with what that writer stored.
      // (PostgreSQL re-checks an UPDATE's WHERE against the row a concurrent writer
      // committed; SQLite runs one writer at a time.) So the union of every call survives.
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const current = await row(tenantId, userId, clientId).executeTakeFirst();
        if (!current) {
          const r = await db
            .insertInto('consents')
            .values({ tenant_id: tenantId, user_id: userId, client_id: clientId, scopes: joinScopes(scopes), created_at: now, updated_at: now })
            .onConflict((oc) => oc.columns(['tenant_id', 'user_id', 'client_id']).doNothing())
            .executeTakeFirst();
          if (Number(r.numInsertedOrUpdatedRows ?? 0) > 0) return;
        } else {
          const r = await db
            .updateTable('consents')
            .set({ scopes: joinScopes([...splitScopes(current.scopes), ...scopes]), updated_at: now })
            .where('tenant_id', '=', tenantId)
            .where('user_id', '=', userId)
            .where('client_id', '=', clientId)
            .where('scopes', '=', current.scopes)
            .executeTakeFirst();
          if (Number(r.numUpdatedRows) > 0) return;
        }
      }
      throw new Error(`consent of user ${userId} for client ${clientId}: gave up after ${MAX_ATTEMPTS} concurrent updates`);
    },
    async revoke(tenantId, userId, clientId) {
      const r = await db
        .deleteFrom('consents')
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .where('client_id', '=', clientId)
        .executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    async listForUser(tenantId, userId) {
      const rows = await db.selectFrom('consents').selectAll().where('tenant_id', '=', tenantId).where('user_id', '=', userId).orderBy('client_id').execute();
      return rows.map((r) => ({
        tenantId: r.tenant_id, userId: r.user_id, clientId: r.client_id, scopes: splitScopes(r.scopes), createdAt: r.created_at, updatedAt: r.updated_at,
      }));
    },
  };
}
