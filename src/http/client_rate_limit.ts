import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.js';
import type { Client } from '../storage/types.js';
import type { Services } from './context.js';
import type { ThrottleStore } from './throttle.js';

/** Refuses (429) a request of an authenticated client that is over its own rate limit, if it has one. */
export type ClientRateLimiter = (req: FastifyRequest, client: Client) => Promise<void>;

/** Until the app registers the real one (and in the CLI, which serves no requests). */
export const noClientRateLimit: ClientRateLimiter = async () => {};

/**
 * Per-client limits on successful traffic (`tessera client create --rate-limit N/WINDOW`), off
 * by default so a busy service is never throttled for being busy. Built on @fastify/rate-limit
 * with a store over the shared throttle store, so the count is one across nodes. It runs after
 * client authentication, keyed by the authenticated client (never by a claimed id, which would
 * let anyone spend a client's allowance), and only for a client that has a limit: everyone
 * else pays nothing, and a limited client pays one store round trip per request.
 */
export async function registerClientRateLimit(app: FastifyInstance, services: Services): Promise<ClientRateLimiter> {
  // Its own key space in the shared store (as throttle_stores.ts `namespaced` does).
  const store: ThrottleStore = { update: (key, now, change) => services.throttleStore.update(`rate:${key}`, now, change) };
  const clock = services.clock;
  await app.register(rateLimit, {
    global: false,
    store: class {
      constructor() {
        return sharedRateLimitStore(store, () => clock.now() / 1000);
      }
    } as never,
    // A store that cannot answer lets the request through: this limit is about fair use, and
    // the failed-authentication throttle, which is about security, does not depend on it.
    skipOnError: true,
  });
  const clients = new WeakMap<FastifyRequest, Client>();
  const limitOf = (req: FastifyRequest) => clients.get(req)!.rateLimit!;
  const limiter = app.createRateLimit({
    keyGenerator: (req) => {
      const c = clients.get(req)!;
      return `${c.tenantId.length}:${c.tenantId}:${c.clientId}`;
    },
    max: (req) => limitOf(req).max,
    timeWindow: (req) => limitOf(req).windowSeconds * 1000,
  });
  return async (req, client) => {
    if (!client.rateLimit) return;
    clients.set(req, client);
    const r = await limiter(req);
    if (r.isAllowed || !r.isExceeded) return;
    // RFC 6585 §4: 429 with Retry-After.
    const retryAfter = Math.max(1, r.ttlInSeconds);
    // The wait is in Retry-After only: the description stays the same for every refusal of the window.
    throw new OAuthError('too_many_requests', `the client's rate limit of ${r.max} requests per ${r.timeWindow / 1000} seconds is reached`, {
      headers: { 'retry-after': String(retryAfter) },
    });
  };
}

/**
 * @fastify/rate-limit's store contract over a ThrottleStore: a fixed window from the key's
 * first request, counted atomically (ThrottleStore.update), with the window's rest as `ttl` (ms).
 */
export function sharedRateLimitStore(store: ThrottleStore, now: () => number): FastifyRateLimitStore {
  const self: FastifyRateLimitStore = {
    incr(key, callback, timeWindow) {
      const at = now();
      let current = 0;
      let expires = 0;
      store
        .update(key, at, (e) => {
          const next = e ? { ...e, failures: e.failures + 1, last: at } : { failures: 1, pending: 0, last: at, expires: at + timeWindow / 1000 };
          current = next.failures;
          expires = next.expires;
          return next;
        })
        .then(() => callback(null, { current, ttl: Math.max(0, Math.ceil((expires - at) * 1000)) }), (err: Error) => callback(err));
    },
    child: () => self,
  };
  return self;
}
