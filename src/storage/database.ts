import { Kysely } from 'kysely';
import type { Database } from './schema.js';
import { createSqliteDialect } from './sqlite/dialect.js';
import { createPostgresDialect } from './postgres/dialect.js';
import { migrateToLatest } from './migrations.js';

export type Backend = 'sqlite' | 'postgres';

export interface Db {
  kysely: Kysely<Database>;
  backend: Backend;
  /** The connection pool's state, for /metrics (PostgreSQL; SQLite has no pool). */
  poolStats?: () => { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

/** Opens `sqlite:PATH` or `postgres://…` (DESIGN.md §1 Configuration). */
export function openDatabase(url: string): Db {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    const kysely = new Kysely<Database>({ dialect: createSqliteDialect(path) });
    return { kysely, backend: 'sqlite', close: () => kysely.destroy() };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { dialect, pool } = createPostgresDialect(url);
    const kysely = new Kysely<Database>({ dialect });
    const poolStats = () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount });
    return { kysely, backend: 'postgres', poolStats, close: () => kysely.destroy() };
  }
  throw new Error('DATABASE_URL must be sqlite:PATH or postgres://…');
}

export { migrateToLatest };

/** True when `err` is a unique or primary-key violation on either backend. */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
