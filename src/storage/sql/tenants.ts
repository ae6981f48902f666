import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { TenantStore } from '../stores.js';
import type { Tenant } from '../types.js';
import { bumpConfigVersion, bumpIfChanged, uniquely } from './common.js';
import { insertKey } from './keys.js';
import type { KeySealer } from '../../crypto/sealed_keys.js';

const toTenant = (r: Database['tenants']): Tenant => ({
  id: r.id,
  displayName: r.display_name,
  sessionIdleSeconds: r.session_idle_seconds,
  sessionMaxSeconds: r.session_max_seconds,
  personalTokenMaxDays: r.personal_token_max_days,
  notBefore: Number(r.not_before),
  registration: r.registration === 1,
  requireVerifiedEmail: r.require_verified_email === 1,
  emailFrom: r.email_from,
  hostname: r.hostname ?? null,
  dcr: r.dcr ? (JSON.parse(r.dcr) as Tenant['dcr']) : null,
  defaultAudience: r.default_audience,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export function tenantStore(db: Kysely<Database>, sealer?: KeySealer): TenantStore {
  return {
    async get(id) {
      const r = await db.selectFrom('tenants').selectAll().where('id', '=', id).executeTakeFirst();
      return r && toTenant(r);
    },
    async list() {
      return (await db.selectFrom('tenants').selectAll().orderBy('id').execute()).map(toTenant);
    },
    create: (t, keys) =>
      uniquely(`tenant ${t.id}`, () =>
        db.transaction().execute(async (trx) => {
          await trx
            .insertInto('tenants')
            .values({
              id: t.id, display_name: t.displayName, default_audience: t.defaultAudience,
              session_idle_seconds: t.sessionIdleSeconds, session_max_seconds: t.sessionMaxSeconds, personal_token_max_days: t.personalTokenMaxDays, not_before: t.notBefore,
              registration: t.registration ? 1 : 0, require_verified_email: t.requireVerifiedEmail ? 1 : 0, email_from: t.emailFrom, hostname: t.hostname, dcr: t.dcr && JSON.stringify(t.dcr), created_at: t.createdAt, updated_at: t.updatedAt,
            })
            .execute();
          for (const k of keys) await insertKey(trx, k, sealer);
          await bumpConfigVersion(trx);
        }),
      ),
    update: (id, patch, now) =>
      uniquely(`hostname ${patch.hostname}`, () => db.transaction().execute(async (trx) => {
        const r = await trx
          .updateTable('tenants')
          .set({
            ...(patch.displayName !== undefined && { display_name: patch.displayName }),
            ...(patch.defaultAudience !== undefined && { default_audience: patch.defaultAudience }),
            ...(patch.sessionIdleSeconds !== undefined && { session_idle_seconds: patch.sessionIdleSeconds }),
            ...(patch.sessionMaxSeconds !== undefined && { session_max_seconds: patch.sessionMaxSeconds }),
            ...(patch.personalTokenMaxDays !== undefined && { personal_token_max_days: patch.personalTokenMaxDays }),
            ...(patch.notBefore !== undefined && { not_before: patch.notBefore }),
            ...(patch.registration !== undefined && { registration: patch.registration ? 1 : 0 }),
            ...(patch.requireVerifiedEmail !== undefined && { require_verified_email: patch.requireVerifiedEmail ? 1 : 0 }),
            ...(patch.emailFrom !== undefined && { email_from: patch.emailFrom }),
            ...(patch.hostname !== undefined && { hostname: patch.hostname }),
            ...(patch.dcr !== undefined && { dcr: patch.dcr && JSON.stringify(patch.dcr) }),
            updated_at: now,
          })
          .where('id', '=', id)
          .executeTakeFirst();
        return bumpIfChanged(trx, r.numUpdatedRows);
      })),
    delete: (id) =>
      // Foreign keys cascade to clients, APIs, keys, grants, artifacts and tokens.
      db.transaction().execute(async (trx) => {
        await trx.deleteFrom('api_scopes').where('tenant_id', '=', id).execute();
        await trx.deleteFrom('revoked_jtis').where('tenant_id', '=', id).execute();
        const r = await trx.deleteFrom('tenants').where('id', '=', id).executeTakeFirst();
        return bumpIfChanged(trx, r.numDeletedRows);
      }),
  };
}
