import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { DcrStore } from '../stores.js';
import type { InitialAccessToken } from '../types.js';

const toToken = (r: Database['dcr_initial_tokens']): InitialAccessToken => ({
  id: r.id,
  tenantId: r.tenant_id,
  expiresAt: r.expires_at === null ? null : Number(r.expires_at),
  maxUses: r.max_uses,
  uses: Number(r.uses),
  revoked: r.revoked === 1,
  createdAt: Number(r.created_at),
});

export function dcrStore(db: Kysely<Database>): DcrStore {
  return {
    async createInitialToken(t, digest) {
      await db
        .insertInto('dcr_initial_tokens')
        .values({ id: t.id, tenant_id: t.tenantId, digest, expires_at: t.expiresAt, max_uses: t.maxUses, uses: 0, revoked: 0, created_at: t.createdAt })
        .execute();
    },
    async findInitialToken(tenantId, digest, now) {
      const r = await db.selectFrom('dcr_initial_tokens').selectAll().where('tenant_id', '=', tenantId).where('digest', '=', digest).executeTakeFirst();
      if (!r) return undefined;
      const t = toToken(r);
      const live = !t.revoked && (t.expiresAt === null || t.expiresAt > now) && (t.maxUses === null || t.uses < t.maxUses);
      return live ? t : undefined;
    },
    async useInitialToken(tenantId, id, now) {
      // One conditional UPDATE: the use counts only while the token is live and has uses left.
      const r = await db
        .updateTable('dcr_initial_tokens')
        .set((eb) => ({ uses: eb('uses', '+', 1) }))
        .where('tenant_id', '=', tenantId)
        .where('id', '=', id)
        .where('revoked', '=', 0)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .where((eb) => eb.or([eb('max_uses', 'is', null), eb('uses', '<', eb.ref('max_uses'))]))
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    async revokeInitialToken(tenantId, id) {
      const r = await db.updateTable('dcr_initial_tokens').set({ revoked: 1 }).where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
    async listInitialTokens(tenantId) {
      return (await db.selectFrom('dcr_initial_tokens').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at').orderBy('id').execute()).map(toToken);
    },
    async setRegistration(tenantId, clientId, tokenDigest) {
      await db
        .insertInto('dcr_registrations')
        .values({ client_id: clientId, tenant_id: tenantId, token_digest: tokenDigest })
        .onConflict((oc) => oc.column('client_id').doUpdateSet((eb) => ({ token_digest: eb.ref('excluded.token_digest') })))
        .execute();
    },
    async registrationDigest(tenantId, clientId) {
      const r = await db.selectFrom('dcr_registrations').select('token_digest').where('tenant_id', '=', tenantId).where('client_id', '=', clientId).executeTakeFirst();
      return r?.token_digest;
    },
    async rotateRegistration(tenantId, clientId, oldDigest, newDigest) {
      const r = await db
        .updateTable('dcr_registrations')
        .set({ token_digest: newDigest })
        .where('tenant_id', '=', tenantId)
        .where('client_id', '=', clientId)
        .where('token_digest', '=', oldDigest)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
  };
}
