import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { SessionStore } from '../stores.js';
import type { Session } from '../types.js';
import { json, parse, uniquely } from './common.js';

const toSession = (r: Database['sessions']): Session => ({
  key: r.key,
  id: r.id,
  tenantId: r.tenant_id,
  userId: r.user_id,
  authTime: r.auth_time,
  amr: parse(r.amr),
  createdAt: r.created_at,
  idleExpiresAt: r.idle_expires_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
});

export function sessionStore(db: Kysely<Database>): SessionStore {
  return {
    create: (s) =>
      uniquely('session', async () => {
        await db
          .insertInto('sessions')
          .values({
            key: s.key, id: s.id, tenant_id: s.tenantId, user_id: s.userId, auth_time: s.authTime, amr: json(s.amr),
            created_at: s.createdAt, idle_expires_at: Math.min(s.idleExpiresAt, s.expiresAt), expires_at: s.expiresAt, revoked_at: s.revokedAt,
          })
          .execute();
      }),
    async get(key) {
      const r = await db.selectFrom('sessions').selectAll().where('key', '=', key).executeTakeFirst();
      return r && toSession(r);
    },
    async getById(tenantId, id) {
      // sessions.id is unique, so its index serves this lookup.
      const r = await db.selectFrom('sessions').selectAll().where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
      return r && toSession(r);
    },
    async touch(key, idleExpiresAt) {
      // One conditional UPDATE: a revoke that commits first wins (the row no longer
      // matches), and of two touches racing, the later expiry stays — never past the
      // absolute one.
      await db
        .updateTable('sessions')
        .set((eb) => ({
          idle_expires_at: eb.case().when('expires_at', '<', idleExpiresAt).then(eb.ref('expires_at')).else(idleExpiresAt).end(),
        }))
        .where('key', '=', key)
        .where('revoked_at', 'is', null)
        .where('idle_expires_at', '<', idleExpiresAt)
        .whereRef('idle_expires_at', '<', 'expires_at')
        .execute();
    },
    async revoke(key, now) {
      const r = await db.updateTable('sessions').set({ revoked_at: now }).where('key', '=', key).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    async revokeAllForUser(tenantId, userId, now, exceptKey) {
      // Expired sessions are revoked too, so no caller can revive one; only the ids of the
      // sessions that were still live are returned (they are the ones to announce).
      let update = db
        .updateTable('sessions')
        .set({ revoked_at: now })
        .where('user_id', '=', userId)
        .where('tenant_id', '=', tenantId)
        .where('revoked_at', 'is', null);
      if (exceptKey !== undefined) update = update.where('key', '!=', exceptKey);
      const rows = await update.returning(['id', 'idle_expires_at', 'expires_at']).execute();
      return rows.filter((r) => r.idle_expires_at > now && r.expires_at > now).map((r) => r.id).sort();
    },
    async listLive(tenantId, userId, now) {
      const rows = await db
        .selectFrom('sessions')
        .selectAll()
        .where('user_id', '=', userId)
        .where('tenant_id', '=', tenantId)
        .where('revoked_at', 'is', null)
        .where('idle_expires_at', '>', now)
        .where('expires_at', '>', now)
        .orderBy('created_at', 'desc')
        .orderBy('id')
        .execute();
      return rows.map(toSession);
    },
  };
}
