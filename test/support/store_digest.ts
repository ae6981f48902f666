/**
 * A digest of everything a store holds, table by table, to show that a refused request or
 * command changed nothing (issue 11, "bad input … leaves the store unchanged"). The idea of
 * test/fuzz/http.test.ts's stateDigest, for any test to share.
 */
import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { openDatabase } from '../../src/storage/database.js';

/**
 * Rows a refusal may add: the audit trail records refusals (failed client authentication,
 * sign-in failures, refused admin calls), and throttles count them. That is their record, not a change.
 */
export const RECORDS = /audit|throttle|rate_limit|attempt/;

/** Every table but the records, each as `rows:hash` of its rows in a stable order. */
export async function stateDigest(db: Kysely<any>, backend: 'sqlite' | 'postgres'): Promise<Record<string, string>> {
  const tables = backend === 'sqlite'
    ? (await sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite_%'`.execute(db)).rows.map((r) => r.name)
    : (await sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema()`.execute(db)).rows.map((r) => r.name);
  const out: Record<string, string> = {};
  for (const table of tables.filter((n) => !RECORDS.test(n)).sort()) {
    const rows = (await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(db)).rows.map((r) =>
      JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
    );
    out[table] = `${rows.length}:${createHash('sha256').update(rows.sort().join('\n')).digest('hex').slice(0, 16)}`;
  }
  return out;
}

/** A connection of its own to the store at `url`, for digests beside the code under test. */
export function storeDigester(url: string, backend: 'sqlite' | 'postgres') {
  const opened = openDatabase(url);
  return { digest: () => stateDigest(opened.kysely as Kysely<any>, backend), close: () => opened.close() };
}
