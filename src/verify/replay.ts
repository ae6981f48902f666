import { TtlCache } from './cache.js';

/**
 * Where DPoP proof ids are remembered (RFC 9449 §11.1: a proof is accepted once). The
 * in-memory default protects one process; an API running as several processes passes a
 * shared implementation (Redis `SET key 1 NX PXAT expiresAt`, a database table with a
 * unique key), since a proof replayed to another process would otherwise be accepted there.
 */
export interface ReplayCache {
  /**
   * Records `key` until `expiresAt` (milliseconds since the epoch). Returns true if it was
   * new, false if it had been recorded before and has not expired. Must be atomic: of
   * concurrent calls with one key, exactly one gets true.
   */
  remember(key: string, expiresAt: number): boolean | Promise<boolean>;
}

/**
 * The default replay cache: a bounded in-memory map. Entries live only as long as a proof
 * with that id could still pass the `iat` check, so the map holds at most the proofs of one
 * acceptance window; past `maxEntries` the oldest are dropped (they are the first to expire).
 */
export function memoryReplayCache(options: { maxEntries?: number; now?: () => number } = {}): ReplayCache {
  const seen = new TtlCache<true>(options.maxEntries ?? 100_000, options.now ?? Date.now);
  return {
    remember(key, expiresAt) {
      // Single-threaded: the check and the write cannot interleave with another request's.
      if (seen.has(key)) return false;
      seen.set(key, true, expiresAt);
      return true;
    },
  };
}
