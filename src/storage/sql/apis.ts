import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { ApiStore } from '../stores.js';
import type { Api } from '../types.js';
import { bumpConfigVersion, bumpIfChanged, type Q, uniquely } from './common.js';

async function withScopes(db: Q, rows: Database['apis'][]): Promise<Api[]> {
  if (rows.length === 0) return [];
  const scopes = await db
    .selectFrom('api_scopes')
    .selectAll()
    .where('api_id', 'in', rows.map((r) => r.id))
    .orderBy('name')
    .execute();
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    id: r.id,
    audience: r.audience,
    name: r.name,
    accessTokenTtl: r.access_token_ttl,
    secretDigest: r.secret_digest,
    scopes: scopes.filter((s) => s.api_id === r.id).map((s) => ({ name: s.name, description: s.description })),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  }));
}

async function insertScopes(trx: Q, api: Api): Promise<void> {
  if (api.scopes.length === 0) return;
  await trx
    .insertInto('api_scopes')
    .values(api.scopes.map((s) => ({ tenant_id: api.tenantId, api_id: api.id, name: s.name, description: s.description })))
    .execute();
}

export function apiStore(db: Kysely<Database>): ApiStore {
  return {
    async get(tenantId, id) {
      const rows = await db.selectFrom('apis').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).execute();
      return (await withScopes(db, rows))[0];
    },
    async list(tenantId) {
      const rows = await db.selectFrom('apis').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at').orderBy('id').execute();
      return withScopes(db, rows);
    },
    create: (api) =>
      uniquely(`an API with audience ${api.audience} or one of the scopes ${api.scopes.map((s) => s.name).join(', ')}`, () =>
        db.transaction().execute(async (trx) => {
          await trx
            .insertInto('apis')
            .values({
              tenant_id: api.tenantId, id: api.id, audience: api.audience, name: api.name,
              access_token_ttl: api.accessTokenTtl, secret_digest: api.secretDigest, created_at: api.createdAt, updated_at: api.updatedAt,
            })
            .execute();
          await insertScopes(trx, api);
          await bumpConfigVersion(trx);
        }),
      ),
    update: (api) =>
      uniquely(`an API with audience ${api.audience} or one of the scopes ${api.scopes.map((s) => s.name).join(', ')}`, () =>
        db.transaction().execute(async (trx) => {
          const r = await trx
            .updateTable('apis')
            .set({ audience: api.audience, name: api.name, access_token_ttl: api.accessTokenTtl, secret_digest: api.secretDigest, updated_at: api.updatedAt })
            .where('tenant_id', '=', api.tenantId)
            .where('id', '=', api.id)
            .executeTakeFirst();
          if (Number(r.numUpdatedRows) === 0) return false;
          await trx.deleteFrom('api_scopes').where('api_id', '=', api.id).execute();
          await insertScopes(trx, api);
          await bumpConfigVersion(trx);
          return true;
        }),
      ),
    delete: (tenantId, id) =>
      db.transaction().execute(async (trx) => {
        await trx.deleteFrom('api_scopes').where('api_id', '=', id).where('tenant_id', '=', tenantId).execute();
        const r = await trx.deleteFrom('apis').where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
        return bumpIfChanged(trx, r.numDeletedRows);
      }),
  };
}
