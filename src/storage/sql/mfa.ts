import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { MfaStore } from '../stores.js';
import type { MfaFactor } from '../types.js';
import { PLAINTEXT_KEYS, type KeySealer } from '../../crypto/sealed_keys.js';
import { bumpConfigVersion, bumpIfChanged, json, parse, uniquely } from './common.js';

type Row = Database['mfa_factors'];

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

/** A TOTP secret is sealed like a private key (TESSERA_MASTER_KEY), bound to its tenant and factor id. */
const secretOwner = (tenantId: string, id: string) => ({ tenantId, kid: `totp:${id}` });

function toFactorWith(r: Row, sealer: KeySealer): MfaFactor {
  const base = { id: r.id, tenantId: r.tenant_id, userId: r.user_id, label: r.label, createdAt: Number(r.created_at), lastUsedAt: num(r.last_used_at) };
  if (r.type === 'totp') return { ...base, type: 'totp', secret: sealer.open(r.secret ?? '', secretOwner(r.tenant_id, r.id)), lastStep: num(r.last_step) };
  return { ...base, type: 'webauthn', credentialId: r.credential_id ?? '', publicKey: r.public_key ?? '', counter: Number(r.counter ?? 0), transports: parse<string[]>(r.transports) ?? [] };
}

export function mfaStore(db: Kysely<Database>, sealer: KeySealer = PLAINTEXT_KEYS): MfaStore {
  const toFactor = (r: Row) => toFactorWith(r, sealer);
  return {
    async list(tenantId, userId) {
      const rows = await db.selectFrom('mfa_factors').selectAll().where('tenant_id', '=', tenantId).where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
      return rows.map(toFactor);
    },
    async findCredential(tenantId, credentialId) {
      const r = await db.selectFrom('mfa_factors').selectAll().where('tenant_id', '=', tenantId).where('credential_id', '=', credentialId).executeTakeFirst();
      return r && toFactor(r);
    },
    create: (f) =>
      uniquely('factor', async () => {
        await db
          .insertInto('mfa_factors')
          .values({
            id: f.id, tenant_id: f.tenantId, user_id: f.userId, type: f.type, label: f.label, created_at: f.createdAt, last_used_at: f.lastUsedAt,
            secret: f.type === 'totp' ? sealer.seal(f.secret, secretOwner(f.tenantId, f.id)) : null, last_step: f.type === 'totp' ? f.lastStep : null,
            credential_id: f.type === 'webauthn' ? f.credentialId : null, public_key: f.type === 'webauthn' ? f.publicKey : null,
            counter: f.type === 'webauthn' ? f.counter : null, transports: f.type === 'webauthn' ? json(f.transports) : null,
          })
          .execute();
      }),
    async resealSecrets() {
      const rows = await db.selectFrom('mfa_factors').select(['tenant_id', 'id', 'secret']).where('type', '=', 'totp').execute();
      let changed = 0;
      for (const r of rows) {
        const sealed = r.secret === null ? undefined : sealer.reseal(r.secret, secretOwner(r.tenant_id, r.id));
        if (sealed === undefined) continue;
        // Only if the row still holds what was read (a concurrent removal or re-enrolment wins).
        const u = await db.updateTable('mfa_factors').set({ secret: sealed }).where('id', '=', r.id).where('secret', '=', r.secret).executeTakeFirst();
        changed += Number(u.numUpdatedRows);
      }
      return changed;
    },
    async remove(tenantId, userId, id) {
      const r = await db.deleteFrom('mfa_factors').where('id', '=', id).where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    async useTotpStep(id, step, now) {
      const r = await db
        .updateTable('mfa_factors')
        .set({ last_step: step, last_used_at: now })
        .where('id', '=', id)
        .where('type', '=', 'totp')
        .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step)]))
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    async useWebauthnCounter(id, counter, now) {
      const r = await db
        .updateTable('mfa_factors')
        .set({ counter, last_used_at: now })
        .where('id', '=', id)
        .where('type', '=', 'webauthn')
        // WebAuthn §6.1.1: a counter of 0 means the authenticator keeps none.
        .where((eb) => (counter === 0 ? eb('counter', '=', 0) : eb('counter', '<', counter)))
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    replaceRecoveryCodes: (tenantId, userId, digests, now) =>
      db.transaction().execute(async (trx) => {
        await trx.deleteFrom('mfa_recovery_codes').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
        if (digests.length) await trx.insertInto('mfa_recovery_codes').values(digests.map((digest) => ({ user_id: userId, tenant_id: tenantId, digest, created_at: now, used_at: null }))).execute();
      }),
    async useRecoveryCode(tenantId, userId, digest, now) {
      const r = await db
        .updateTable('mfa_recovery_codes')
        .set({ used_at: now })
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .where('digest', '=', digest)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    async recoveryCodesLeft(tenantId, userId) {
      const r = await db
        .selectFrom('mfa_recovery_codes')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('tenant_id', '=', tenantId)
        .where('user_id', '=', userId)
        .where('used_at', 'is', null)
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },
    reset: (tenantId, userId) =>
      db.transaction().execute(async (trx) => {
        const r = await trx.deleteFrom('mfa_factors').where('tenant_id', '=', tenantId).where('user_id', '=', userId).executeTakeFirst();
        await trx.deleteFrom('mfa_recovery_codes').where('tenant_id', '=', tenantId).where('user_id', '=', userId).execute();
        return Number(r.numDeletedRows);
      }),
    async tenantPolicy(tenantId) {
      const r = await db.selectFrom('tenants').select('mfa').where('id', '=', tenantId).executeTakeFirst();
      return r && (r.mfa === 'required' ? 'required' : 'optional');
    },
    setTenantPolicy: (tenantId, policy) =>
      db.transaction().execute(async (trx) => {
        const r = await trx.updateTable('tenants').set({ mfa: policy }).where('id', '=', tenantId).executeTakeFirst();
        return bumpIfChanged(trx, r.numUpdatedRows);
      }),
    async clientRequires(tenantId, clientId) {
      const r = await db.selectFrom('clients').select('require_mfa').where('id', '=', clientId).where('tenant_id', '=', tenantId).executeTakeFirst();
      return r && r.require_mfa === 1;
    },
    setClientRequires: (tenantId, clientId, required) =>
      db.transaction().execute(async (trx) => {
        const r = await trx.updateTable('clients').set({ require_mfa: required ? 1 : 0 }).where('id', '=', clientId).where('tenant_id', '=', tenantId).executeTakeFirst();
        return bumpIfChanged(trx, r.numUpdatedRows);
      }),
  };
}
