import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { KeyStore } from '../stores.js';
import type { KeyPurpose, SigningKeyRecord } from '../types.js';
import { PLAINTEXT_KEYS, type KeySealer } from '../../crypto/sealed_keys.js';
import { bumpConfigVersion, bumpIfChanged, json, parse, type Q } from './common.js';

/** `sealer` seals the private part when TESSERA_MASTER_KEY is set (crypto/sealed_keys.ts). */
export async function insertKey(trx: Q, k: SigningKeyRecord, sealer: KeySealer = PLAINTEXT_KEYS): Promise<void> {
  const last = await trx.selectFrom('signing_keys').select((eb) => eb.fn.max('seq').as('seq')).where('tenant_id', '=', k.tenantId).executeTakeFirst();
  await trx
    .insertInto('signing_keys')
    .values({
      tenant_id: k.tenantId, kid: k.kid, alg: k.alg, purpose: k.purpose,
      private_jwk: sealer.seal(json(k.privateJwk), k), public_jwk: json(k.publicJwk),
      created_at: k.createdAt, activates_at: k.activatesAt, revoked_at: k.revokedAt, seq: Number(last?.seq ?? 0) + 1,
    })
    .execute();
}

export function keyStore(db: Kysely<Database>, sealer: KeySealer = PLAINTEXT_KEYS): KeyStore {
  return {
    async list(tenantId) {
      const rows = await db
        .selectFrom('signing_keys')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('revoked_at', 'is', null)
        .orderBy('activates_at')
        .orderBy('seq')
        .execute();
      return rows.map(
        (r): SigningKeyRecord => ({
          tenantId: r.tenant_id,
          kid: r.kid,
          alg: r.alg,
          purpose: r.purpose as KeyPurpose,
          privateJwk: parse(sealer.open(r.private_jwk, { tenantId: r.tenant_id, kid: r.kid })),
          publicJwk: parse(r.public_jwk),
          createdAt: r.created_at,
          activatesAt: r.activates_at,
          revokedAt: r.revoked_at,
          seq: r.seq,
        }),
      );
    },
    insert: (k) =>
      db.transaction().execute(async (trx) => {
        await insertKey(trx, k, sealer);
        await bumpConfigVersion(trx);
      }),
    async reseal() {
      const rows = await db.selectFrom('signing_keys').select(['tenant_id', 'kid', 'private_jwk']).where('revoked_at', 'is', null).execute();
      let changed = 0;
      for (const r of rows) {
        const sealed = sealer.reseal(r.private_jwk, { tenantId: r.tenant_id, kid: r.kid });
        if (sealed === undefined) continue;
        // Only if the row still holds what was read: a concurrent revoke (which blanks the key) is never undone.
        const u = await db
          .updateTable('signing_keys')
          .set({ private_jwk: sealed })
          .where('tenant_id', '=', r.tenant_id)
          .where('kid', '=', r.kid)
          .where('private_jwk', '=', r.private_jwk)
          .executeTakeFirst();
        changed += Number(u.numUpdatedRows);
      }
      return changed;
    },
    revoke: (tenantId, kid, now) =>
      db.transaction().execute(async (trx) => {
        const r = await trx
          .updateTable('signing_keys')
          .set({ revoked_at: now, private_jwk: '{}' }) // a compromised key's private part is of no further use
          .where('tenant_id', '=', tenantId)
          .where('kid', '=', kid)
          .where('revoked_at', 'is', null)
          .executeTakeFirst();
        return bumpIfChanged(trx, r.numUpdatedRows);
      }),
    remove: async (tenantId, kids) => {
      if (kids.length === 0) return;
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('signing_keys').where('tenant_id', '=', tenantId).where('kid', 'in', kids).execute();
        await bumpConfigVersion(trx);
      });
    },
  };
}
