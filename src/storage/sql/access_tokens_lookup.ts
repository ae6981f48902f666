import type { CompiledQuery, Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { AccessTokenRecord } from '../types.js';
import { parse } from './common.js';

export type AccessTokenWithGrant = AccessTokenRecord & { grantRevokedAt: number | null };

/** Digests per statement, far below both backends' parameter limits. */
const MAX_BATCH = 128;

type Row = Omit<Database['access_tokens'], 'revoked_at'> & { revoked_at: number | null; grant_revoked_at: number | null };
type Waiter = { resolve: (token: AccessTokenWithGrant | undefined) => void; reject: (err: unknown) => void };

/** Each caller gets its own record, so no caller can change what another one reads. */
const toRecord = (r: Row): AccessTokenWithGrant => ({
  digest: r.digest, tenantId: r.tenant_id, grantId: r.grant_id, clientId: r.client_id, subject: r.subject,
  scope: r.scope, audience: parse(r.audience), issuedAt: r.issued_at, expiresAt: r.expires_at, revokedAt: r.revoked_at,
  grantRevokedAt: r.grant_revoked_at,
  ...(r.jkt !== null && { jkt: r.jkt }),
});

/**
 * `AccessTokenStore.lookup`: a token and its grant in one joined statement, and lookups that
 * arrive in the same turn of the event loop share it (`WHERE digest IN (…)`), as inserts share
 * a commit (storage/batch.ts). Measured on the introspection bench, two queries per request
 * through the query builder cost ~70 µs of a ~200 µs request; one statement per batch costs
 * a few µs per request. No token state is kept: a batch's statement starts after every call
 * in it was made, and a later call waits for the next statement.
 */
export function accessTokenLookup(db: Kysely<Database>): (digest: string) => Promise<AccessTokenWithGrant | undefined> {
  let pending = new Map<string, Waiter[]>();

  // Built and compiled once per batch size: building a query costs more than running it here.
  // Its only parameters are the IN list's, so a batch's digests replace them in order.
  const statements = new Map<number, CompiledQuery<Row>>();
  const statement = (size: number): CompiledQuery<Row> => {
    let compiled = statements.get(size);
    if (!compiled) {
      compiled = db
        .selectFrom('access_tokens as a')
        .innerJoin('grants as g', 'g.id', 'a.grant_id')
        .select([
          'a.digest', 'a.tenant_id', 'a.grant_id', 'a.client_id', 'a.subject', 'a.scope', 'a.audience', 'a.issued_at', 'a.expires_at', 'a.revoked_at', 'a.jkt',
          'g.revoked_at as grant_revoked_at',
        ])
        .where('a.digest', 'in', new Array<string>(size).fill(''))
        .compile();
      statements.set(size, compiled);
    }
    return compiled;
  };

  const select = async (digests: string[]): Promise<Row[]> => {
    // Padded to a power of two with repeats (IN ignores them): 8 statements serve every batch
    // size, and SQLite's statement cache keeps them prepared.
    const size = 2 ** Math.ceil(Math.log2(digests.length));
    const keys = digests.length === size ? digests : digests.concat(new Array<string>(size - digests.length).fill(digests[0]));
    return (await db.executeQuery<Row>({ ...statement(size), parameters: keys })).rows;
  };

  const answer = async (digests: string[], waiters: Map<string, Waiter[]>) => {
    try {
      const rows = new Map((await select(digests)).map((r) => [r.digest, r]));
      for (const d of digests) {
        const row = rows.get(d);
        for (const w of waiters.get(d)!) w.resolve(row && toRecord(row));
      }
    } catch (err) {
      for (const d of digests) for (const w of waiters.get(d)!) w.reject(err);
    }
  };

  const flush = () => {
    const waiters = pending;
    pending = new Map();
    const digests = [...waiters.keys()];
    for (let i = 0; i < digests.length; i += MAX_BATCH) void answer(digests.slice(i, i + MAX_BATCH), waiters);
  };

  return (digest) =>
    new Promise((resolve, reject) => {
      const waiting = pending.get(digest);
      if (waiting) return void waiting.push({ resolve, reject });
      // After the current I/O phase: every request parsed in it joins this statement.
      if (pending.size === 0) setImmediate(flush);
      pending.set(digest, [{ resolve, reject }]);
    });
}
