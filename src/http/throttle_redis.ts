import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { ThrottleEntry, ThrottleStore } from './throttle.js';

/** Compare-and-set rounds before an update gives up; each lost round means another update landed. */
const MAX_ROUNDS = 200;

/**
 * KEYS[1]: the key; ARGV[1]: the value read ('' when there was none); ARGV[2]: the value to
 * write ('' to delete); ARGV[3]: its time to live in ms. Writes only if the key still holds
 * what was read, in one atomic step (Redis runs a script alone). A value is the whole entry,
 * so "still holds what was read" means "no update landed in between" (an equal value is an
 * equal state).
 */
const CAS = `
local cur = redis.call('GET', KEYS[1])
if (cur or '') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1`;

/**
 * Throttle counters in Redis (REDIS_URL), shared by every node: an optimistic read, then a
 * compare-and-set script, retried when another update won (ThrottleStore allows re-running
 * `change`). One connection serves every update: WATCH/MULTI would need one per update.
 * Keys live under `prefix` and expire on their own (their entry's `expires`, as a TTL).
 */
export class RedisThrottleStore implements ThrottleStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'tessera:throttle:',
  ) {}

  static connect(url: string, prefix?: string): RedisThrottleStore {
    // Fail fast rather than queue requests behind a lost connection: a throttle that hangs
    // would hang sign-in and the token endpoint's failure path.
    // Lazy: a CLI process that builds services but never throttles opens no connection.
    // Required here, not imported at the top: only a server with REDIS_URL needs ioredis.
    const { Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
    const redis = new Redis(url, { maxRetriesPerRequest: 2, lazyConnect: true });
    redis.on('error', () => {
      // Reported by the failing command; without a listener ioredis prints every reconnect attempt.
    });
    return new RedisThrottleStore(redis, prefix);
  }

  async update(key: string, now: number, change: (current: ThrottleEntry | undefined) => ThrottleEntry | undefined): Promise<void> {
    const k = this.prefix + key;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const raw = (await this.redis.get(k)) ?? '';
      const stored = raw ? (JSON.parse(raw) as ThrottleEntry) : undefined;
      const current = stored && stored.expires > now ? stored : undefined;
      const next = change(current);
      if (next === current && (stored === undefined || current !== undefined)) return;
      const ttlMs = next ? Math.max(1, Math.ceil((next.expires - now) * 1000)) : 0;
      const won = await this.redis.eval(CAS, 1, k, raw, next ? JSON.stringify(next) : '', String(ttlMs));
      if (won === 1) return;
    }
    throw new Error(`throttle update of one key lost ${MAX_ROUNDS} rounds in a row`);
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}
