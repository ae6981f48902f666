import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { UserStore } from '../stores.js';
import type { User } from '../types.js';
import { InputError } from '../../errors.js';
import { isUniqueViolation } from '../database.js';

type Row = Database['users'];

/** Emails are unique per tenant under the same rule as usernames (NFC, then lowercased). */
export const emailKey = (email: string): string => email.normalize('NFC').toLowerCase();

/** A unique violation names what was taken: the email's index or (otherwise) the username's. */
async function uniquely<T>(u: User, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    const message = String((err as Error).message);
    if (message.includes('email_lower') || message.includes('users_tenant_email')) throw new InputError(`email ${u.email} is already in use`, 'email_conflict');
    throw new InputError(`user ${u.username} already exists`, 'conflict');
  }
}

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
  mustChangePassword: r.must_change_password === 1,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toRow = (u: User): Row => ({
  tenant_id: u.tenantId,
  id: u.id,
  username: u.username,
  username_lower: usernameKey(u.username),
  email: u.email,
  email_lower: u.email === null ? null : emailKey(u.email),
  email_verified: u.emailVerified ? 1 : 0,
  name: u.name,
  password_hash: u.passwordHash,
  disabled: u.disabled ? 1 : 0,
  must_change_password: u.mustChangePassword ? 1 : 0,
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
    async findByEmail(tenantId, email) {
      const r = await db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).where('email_lower', '=', emailKey(email)).executeTakeFirst();
      return r && toUser(r);
    },
    async list(tenantId) {
      const rows = await db.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).orderBy('username_lower').orderBy('id').execute();
      return rows.map(toUser);
    },
    create: (u) =>
      uniquely(u, async () => {
        await db.insertInto('users').values(toRow(u)).execute();
      }),
    update: (u) =>
      uniquely(u, async () => {
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
