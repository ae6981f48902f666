import type { Config } from '../config.js';
import type { Storage } from '../storage/index.js';
import { ClientAuthThrottle } from './client_auth_throttle.js';
import { noClientRateLimit } from './client_rate_limit.js';
import { SignInThrottle, type ThrottleStore } from './throttle.js';
import { RedisThrottleStore } from './throttle_redis.js';

/**
 * The one shared throttle store of a process (DESIGN.md §2: counts must hold across nodes):
 * Redis when REDIS_URL is set, else the database (PostgreSQL for scale-out; SQLite shares it
 * between the processes on one file). `close` ends the Redis connection, if any.
 */
export function sharedThrottleStore(config: Pick<Config, 'redisUrl' | 'redisKeyPrefix'>, storage: Pick<Storage, 'throttle'>): ThrottleStore & { close(): Promise<void> } {
  if (config.redisUrl) return RedisThrottleStore.connect(config.redisUrl, `${config.redisKeyPrefix}throttle:`);
  return { update: (key, now, change) => storage.throttle.update(key, now, change), close: async () => {} };
}

/**
 * A view of a store under a prefix: each throttle (sign-in, sign-up mail, device codes, client
 * authentication) counts in its own key space, so the login page's per-address count and
 * the device page's never add up.
 */
export const namespaced = (store: ThrottleStore, prefix: string): ThrottleStore => ({
  update: (key, now, change) => store.update(`${prefix}:${key}`, now, change),
});

/** The throttles of a process, all counting in `store` (each in its own key space). */
export function throttles(config: Pick<Config, 'clientAuthThrottle'>, store: ThrottleStore & { close(): Promise<void> }) {
  return {
    throttleStore: store,
    throttle: new SignInThrottle({ store: namespaced(store, 'signin') }),
    // Each sign-up or reset request sends mail to the named address: counted per name from
    // every address alike (no sign-in to lock out here, so no per-address allowance).
    accountThrottle: new SignInThrottle({ store: namespaced(store, 'mail'), accountThreshold: 3, accountTotalThreshold: 3 }),
    deviceThrottle: new SignInThrottle({ store: namespaced(store, 'device') }),
    clientAuthThrottle: new ClientAuthThrottle(namespaced(store, 'client'), config.clientAuthThrottle),
    // Replaced by buildApp once the rate-limit plugin is registered (http/client_rate_limit.ts).
    clientRateLimit: noClientRateLimit,
  };
}
