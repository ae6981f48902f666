import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { OperatorStore } from '../stores.js';
import { json, parse } from './common.js';

export function operatorStore(db: Kysely<Database>): OperatorStore {
  return {
    async scope(userId) {
      const r = await db.selectFrom('operator_scopes').select('tenants').where('user_id', '=', userId).executeTakeFirst();
      return r ? parse<string[]>(r.tenants) : null;
    },
    async setScope(userId, tenants) {
      if (tenants === null) {
        await db.deleteFrom('operator_scopes').where('user_id', '=', userId).execute();
        return;
      }
      // One statement on both backends: two concurrent writers each leave a whole list, never a mix.
      await db
        .insertInto('operator_scopes')
        .values({ user_id: userId, tenants: json([...new Set(tenants)].sort()) })
        .onConflict((oc) => oc.column('user_id').doUpdateSet((eb) => ({ tenants: eb.ref('excluded.tenants') })))
        .execute();
    },
  };
}
