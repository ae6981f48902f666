import type { Kysely } from 'kysely';
import type { ThrottleEntry, ThrottleStore } from '../../http/throttle.js';
import type { Database } from '../schema.js';

/** Compare-and-set rounds before an update gives up; each lost round means another update landed. */
const MAX_ROUNDS = 200;

/**
 * Throttle counters in the database, shared by every node (PostgreSQL) or every process on
 * the file (SQLite). `update` is optimistic: read the row, compute the next entry, write it
 * only if the row's `version` is still the one read (or insert only if there was no row), and
 * start again otherwise. So no update of a key is lost under concurrency, across processes too,
 * without holding a lock across the caller's `change` (ThrottleStore allows re-running it).
 */
export function sqlThrottleStore(db: Kysely<Database>): ThrottleStore {
  return {
    async update(key, now, change) {
      for (let round = 0; round < MAX_ROUNDS; round++) {
        const row = await db.selectFrom('throttle_entries').selectAll().where('key', '=', key).executeTakeFirst();
        const current: ThrottleEntry | undefined =
          row && row.expires > now ? { failures: row.failures, pending: row.pending, last: row.last, expires: row.expires } : undefined;
        const next = change(current);
        if (next === current && (row === undefined || current !== undefined)) return;
        if (!row) {
          if (!next) return;
          const r = await db
            .insertInto('throttle_entries')
            .values({ key, ...fields(next), version: 1 })
            .onConflict((oc) => oc.column('key').doNothing())
            .executeTakeFirst();
          if (Number(r.numInsertedOrUpdatedRows ?? 0) === 1) return;
          continue;
        }
        // An expired row that `change` left absent is removed, as the memory store prunes it.
        const done = next
          ? await db.updateTable('throttle_entries').set({ ...fields(next), version: row.version + 1 }).where('key', '=', key).where('version', '=', row.version).executeTakeFirst()
          : await db.deleteFrom('throttle_entries').where('key', '=', key).where('version', '=', row.version).executeTakeFirst();
        if (Number('numUpdatedRows' in done ? done.numUpdatedRows : done.numDeletedRows) === 1) return;
      }
      throw new Error(`throttle update of one key lost ${MAX_ROUNDS} rounds in a row`);
    },
  };
}

const fields = (e: ThrottleEntry) => ({ failures: e.failures, pending: e.pending, last: e.last, expires: e.expires });
