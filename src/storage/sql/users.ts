import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { UserStore } from '../stores.js';
import type { User } from '../types.js';
import { uniquely } from './common.js';

type Row = Database['users'];

/**
 * What makes two usernames the same: NFC so that a composed and a decomposed "é" agree,
 * then JavaScript's locale-independent lowercasing. Computed here, never by SQL, so both
 * backends (and every node's locale) draw the line in the same place.
 */
export const usernameKey = (username: string): string => username.normalize('NFC').toLowerCase();

const toUser = (r: Row): User => ({
  tenantId: r.tenant_id,
  id: r.id,
  username: r.username,
  email: r.email,
  emailVerified: r.email_verified === 1,
  name: r.name,
  passwordHash: r.password_hash,
  disabled: r.disabled === 1,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toRow = (u: User): Row => ({
  tenant_id: u.tenantId,
  id: u.id,
  username: u.username,
  username_lower: usernameKey(u.username),
  email: u.email,
  email_verified: u.emailVerified ? 1 : 0,
  name: u.name,
  password_hash: u.passwordHash,
  disabled: u.disabled ? 1 : 0,
  created_at: u.createdAt,
  updated_at: u.updatedAt,
});

export function userStore(db: Kysely<Database>): UserStore {
  return {
    async get(tenantId, id) {
      const r = await db.selectFrom('users').selectAll().where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
      return r && toUser(r);
    },
    async findByUsername(tenantId, username) {
      const r = await db
        .selectFrom('users')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('username_lower', '=', usernameKey(username))
        .executeTakeFirst();
      return r && toUser(r);
    },
    async list(tenantId) {
      const rows = await db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).orderBy('username_lower').orderBy('id').execute();
      return rows.map(toUser);
    },
    create: (u) =>
      uniquely(`user ${u.username}`, async () => {
        await db.insertInto('users').values(toRow(u)).execute();
      }),
    update: (u) =>
      uniquely(`user ${u.username}`, async () => {
        const { tenant_id, id, created_at, ...fields } = toRow(u);
        const r = await db.updateTable('users').set(fields).where('id', '=', id).where('tenant_id', '=', tenant_id).executeTakeFirst();
        return Number(r.numUpdatedRows) > 0;
      }),
    delete: (tenantId, id) =>
      db.transaction().execute(async (trx) => {
        // Grants carry the user as their subject, with no foreign key (a client_credentials
        // grant has none); their artifacts and opaque tokens cascade from them. Sessions and
        // consents cascade from the user row.
        const r = await trx.deleteFrom('users').where('id', '=', id).where('tenant_id', '=', tenantId).executeTakeFirst();
        if (Number(r.numDeletedRows) === 0) return false;
        await trx.deleteFrom('grants').where('tenant_id', '=', tenantId).where('subject', '=', id).execute();
        return true;
      }),
  };
}
