import { PostgresDialect } from 'kysely';
import { createRequire } from 'node:module';
import type pg from 'pg';

const INT8_OID = 20;

/**
 * PostgreSQL for scale-out: any number of stateless Tessera processes share one database.
 * Times are stored as bigint seconds; pg returns int8 as strings by default, so they are
 * parsed to numbers here (seconds since the epoch fit a double exactly).
 */
export function createPostgresDialect(connectionString: string, max = 10): { dialect: PostgresDialect; pool: pg.Pool } {
  // Required here, not imported at the top: a SQLite deployment never loads the driver.
  const pg = createRequire(import.meta.url)('pg') as typeof import('pg');
  const pool = new pg.Pool({
    connectionString,
    max,
    // Fail fast while the database is unreachable (a 503 the client can retry) rather than
    // hold requests open; the pool opens new connections by itself once it is back.
    connectionTimeoutMillis: 5000,
    types: {
      getTypeParser: ((oid: number, format?: string) =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as never)) as never,
    },
  });
  // An idle client losing its connection (database restart) must not crash the process;
  // the pool replaces it and the next query reports the outage as a 503.
  pool.on('error', () => {});
  // A checked-out client (kysely holds one from pool.connect() through its query) losing its
  // connection rejects the query and then also emits 'error' on the client, which pg-pool
  // listens for only while the client is idle: without this listener that event would be an
  // uncaught exception and end the process mid-outage.
  pool.on('connect', (client) => client.on('error', () => {}));
  return { dialect: new PostgresDialect({ pool }), pool };
}
