/**
 * Whether an error means the database cannot be reached right now (an outage, not a bug or
 * bad input): the request is answered 503 with `Retry-After` (http/error_handler.ts) and the
 * next request tries again, since pg's pool opens new connections once the server is back.
 */

/** Node socket errors on the way to the database. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * PostgreSQL SQLSTATEs: class 08 connection exceptions; 57P01 admin_shutdown, 57P02
 * crash_shutdown, 57P03 cannot_connect_now (starting up or in recovery).
 */
const PG_STATES = /^(08...|57P0[123])$/;

/** SQLite: locked beyond busy_timeout, disk I/O failure, file that cannot be opened. */
const SQLITE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN)(_|$)/;

/** Messages pg raises without a code: a connection dropped mid-query, or connectionTimeoutMillis reached. */
const PG_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection closed)/;

export function isStorageUnavailable(err: unknown): boolean {
  // Wrapped errors (kysely, libsql) keep the original as `cause`; a short walk, never a cycle.
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (SOCKET_CODES.has(code) || PG_STATES.test(code) || SQLITE_CODES.test(code))) return true;
    if (typeof message === 'string' && PG_MESSAGES.test(message)) return true;
  }
  return false;
}
