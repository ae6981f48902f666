import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { PersonalTokenStore } from '../stores.js';
import { uniquely } from './common.js';

export function personalTokenStore(db: Kysely<Database>): PersonalTokenStore {
  return {
    async create(t) {
      await uniquely('a personal token for this grant', () =>
        db
          .insertInto('personal_tokens')
          .values({
            grant_id: t.grantId, tenant_id: t.tenantId, user_id: t.userId, client_id: t.clientId, name: t.name,
            scope: t.scopes.join(' '), created_at: t.createdAt, expires_at: t.expiresAt,
          })
          .execute(),
      );
    },
    async listLive(tenantId, userId, now) {
      // The grant decides whether the token lives: revoking it (here, through /revoke, or by
      // revoking the app) shows at once.
      const rows = await db
        .selectFrom('personal_tokens as p')
        .innerJoin('grants as g', 'g.id', 'p.grant_id')
        .selectAll('p')
        .where('p.tenant_id', '=', tenantId)
        .where('p.user_id', '=', userId)
        .where('p.expires_at', '>', now)
        .where('g.revoked_at', 'is', null)
        .orderBy('p.created_at', 'desc')
        .orderBy('p.grant_id')
        .execute();
      return rows.map((r) => ({
        grantId: r.grant_id, tenantId: r.tenant_id, userId: r.user_id, clientId: r.client_id, name: r.name,
        scopes: r.scope ? r.scope.split(' ') : [], createdAt: r.created_at, expiresAt: r.expires_at,
      }));
    },
  };
}
