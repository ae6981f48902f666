import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { CompiledQuery, type DatabaseConnection, type Driver, SqliteDialect } from 'kysely';
import { createRequire } from 'node:module';
import type Database from 'libsql';

/**
 * SQLite through libsql (better-sqlite3's API with prebuilt binaries, so `npm install`
 * needs no compiler). WAL lets readers run beside the one writer; synchronous=NORMAL is
 * durable across process crashes in WAL mode (only an OS crash can lose the last commits).
 */
export function createSqliteDialect(path: string): SqliteDialect {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  // Required here, not imported at the top: a PostgreSQL deployment never loads the native module.
  const Sqlite = createRequire(import.meta.url)('libsql') as typeof Database;
  const database = new Sqlite(path);
  // Another process (the CLI, a second server) may hold the write lock: wait, don't fail.
  // First of all: even switching to WAL needs the lock, and without a busy timeout a process
  // opening the file while another writes fails at once with "database is locked".
  database.exec('PRAGMA busy_timeout = 10000');
  database.exec('PRAGMA journal_mode = WAL');
  database.exec('PRAGMA synchronous = NORMAL');
  database.exec('PRAGMA foreign_keys = ON');
  return new ImmediateSqliteDialect({ database: withStatementCache(database) as never });
}

type SqliteDatabase = InstanceType<typeof Database>;
type Statement = ReturnType<SqliteDatabase['prepare']>;

/** Prepared statements kept per SQL text: the query builder asks for one per query. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Kysely prepares every query anew; preparing is a measurable share of a token request.
 * Statements are reusable once run (Kysely never leaves one mid-iteration), so identical
 * SQL text gets the same statement, least recently used evicted first.
 */
function withStatementCache(database: SqliteDatabase): { prepare(sql: string): Statement; close(): void } {
  const cache = new Map<string, Statement>();
  return {
    prepare(sql) {
      let stmt = cache.get(sql);
      if (stmt) {
        cache.delete(sql);
      } else {
        stmt = database.prepare(sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      }
      cache.set(sql, stmt);
      return stmt;
    },
    close: () => database.close(),
  };
}

/**
 * Write transactions take the write lock at BEGIN. A deferred transaction that reads and
 * then writes can fail with SQLITE_BUSY at once when another process wrote in between;
 * BEGIN IMMEDIATE waits on busy_timeout instead.
 */
class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
}
