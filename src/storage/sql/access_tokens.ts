import type { Kysely } from 'kysely';
import { createBatcher } from '../batch.js';
import type { Database } from '../schema.js';
import type { AccessTokenStore } from '../stores.js';
import type { AccessTokenRecord } from '../types.js';
import { accessTokenLookup } from './access_tokens_lookup.js';
import { json, parse } from './common.js';

/** Rows per INSERT: 100 × 11 parameters stays far below both backends' limits. */
const MAX_BATCH = 100;

export function accessTokenStore(db: Kysely<Database>): AccessTokenStore {
  const insert = createBatcher<AccessTokenRecord>(async (tokens) => {
    await db
      .insertInto('access_tokens')
      .values(
        tokens.map((t) => ({
          digest: t.digest, tenant_id: t.tenantId, grant_id: t.grantId, client_id: t.clientId, subject: t.subject,
          scope: t.scope, audience: json(t.audience), issued_at: t.issuedAt, expires_at: t.expiresAt, revoked_at: t.revokedAt, jkt: t.jkt ?? null,
        })),
      )
      .execute();
  }, MAX_BATCH);
  return {
    insert,
    async find(digest) {
      const r = await db.selectFrom('access_tokens').selectAll().where('digest', '=', digest).executeTakeFirst();
      return (
        r && {
          digest: r.digest, tenantId: r.tenant_id, grantId: r.grant_id, clientId: r.client_id, subject: r.subject,
          scope: r.scope, audience: parse(r.audience), issuedAt: r.issued_at, expiresAt: r.expires_at, revokedAt: r.revoked_at,
          ...(r.jkt !== null && { jkt: r.jkt }),
        }
      );
    },
    lookup: accessTokenLookup(db),
    async revoke(digest, now) {
      const r = await db.updateTable('access_tokens').set({ revoked_at: now }).where('digest', '=', digest).where('revoked_at', 'is', null).executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
  };
}
