import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { auditThrottled } from '../audit_refusals.js';
import { seconds } from '../clock.js';
import { OAuthError } from '../errors.js';
import type { Client } from '../storage/types.js';
import { claimedClientId } from './client_auth.js';
import type { TenantContext } from './context.js';
import type { FormParams } from './form.js';
import type { ThrottleEntry, ThrottleStore } from './throttle.js';
import { throttleIpKey } from './throttle.js';

/** Failed client authentications allowed per fixed window (config.ts `clientAuthThrottle`). */
export interface ClientAuthLimits {
  /** Failures per client id (any address) in one window. */
  perClient: number;
  /** Failures per client address (any client; IPv6 per /64) in one window. */
  perIp: number;
  /** The window, in seconds; it starts at the key's first failure. */
  windowSeconds: number;
}

/** Per-node "blocked until" entries kept at most; the oldest goes first past it. */
const MAX_BLOCKED = 10_000;

/**
 * SECURITY-CHECKLIST 25: failed client authentication at the token, device authorization,
 * PAR, introspection and revocation endpoints, counted per client id and per address in the
 * shared throttle store. Past a limit, requests for that client or from that address are
 * refused with 429 `too_many_requests` and `Retry-After` until the window ends (it ends: the
 * limit slows guessing and keeps wrong-secret floods off the database, it locks nothing for good).
 *
 * The token endpoint's speed is the product, so a successful request never touches the store:
 * only a failure counts (one round trip per key), and when a count passes its limit the node
 * remembers "blocked until" in memory, which every request consults (two Map lookups). The
 * trade-off: a node learns of a block only at its own next failure for that key, so across
 * N nodes an attacker gets at most N − 1 extra answers per window, and a request with the
 * right secret reaching a node that has not seen a failure yet is served. Both are bounded,
 * and neither costs a successful request a database query.
 */
export class ClientAuthThrottle {
  /** Key → until (seconds). */
  private readonly blocked = new Map<string, number>();

  constructor(
    private readonly store: ThrottleStore,
    private readonly limits: ClientAuthLimits,
  ) {}

  /** Throws 429 when this node knows the client or the address to be over its limit. */
  assertOpen(tenant: string, clientId: () => string | undefined, ip: string, now: number): void {
    // The common case, nothing blocked: no key is even computed.
    if (this.blocked.size === 0) return;
    const id = clientId();
    const until = Math.max(this.until(throttleIpKey(ip), now), id === undefined ? 0 : this.until(clientKey(tenant, id), now));
    if (until > now) throw tooMany(until - now);
  }

  /**
   * Counts a failed authentication against the client (when the request named one) and the
   * address. Returns the 429 to answer instead of the 401 when a limit was already passed
   * (the block is now known here too), else undefined.
   */
  async failed(tenant: string, clientId: string | undefined, ip: string, now: number): Promise<OAuthError | undefined> {
    let until = await this.count(throttleIpKey(ip), this.limits.perIp, now);
    if (clientId !== undefined) until = Math.max(until, await this.count(clientKey(tenant, clientId), this.limits.perClient, now));
    return until > now ? tooMany(until - now) : undefined;
  }

  /** Counts one failure; returns when the key's block ends if this failure went past the limit (else 0). */
  private async count(key: string, limit: number, now: number): Promise<number> {
    let entry: ThrottleEntry | undefined;
    await this.store.update(key, now, (e) => {
      // A fixed window from the first failure: a steady trickle cannot keep a key blocked past it.
      entry = e ? { ...e, failures: e.failures + 1, last: now } : { failures: 1, pending: 0, last: now, expires: now + this.limits.windowSeconds };
      return entry;
    });
    if (entry!.failures < limit) return 0;
    this.block(key, entry!.expires, now);
    // The failure that reaches the limit is answered as it is (401); later ones get 429.
    return entry!.failures > limit ? entry!.expires : 0;
  }

  private until(key: string, now: number): number {
    const until = this.blocked.get(key);
    if (until === undefined) return 0;
    if (until <= now) this.blocked.delete(key);
    return until;
  }

  private block(key: string, until: number, now: number): void {
    if (this.blocked.size >= MAX_BLOCKED) {
      for (const [k, u] of this.blocked) if (u <= now) this.blocked.delete(k);
      if (this.blocked.size >= MAX_BLOCKED) this.blocked.delete(this.blocked.keys().next().value!);
    }
    this.blocked.set(key, until);
  }
}

/**
 * The claimed id is unverified input: a long one, or one with a NUL (which PostgreSQL text cannot
 * store; found by the fuzzer), is keyed by its digest, so keys stay small and storable.
 */
const clientKey = (tenant: string, clientId: string) =>
  `c:${tenant.length}:${tenant}:${clientId.length > 200 || clientId.includes('\u0000') ? `#${createHash('sha256').update(clientId).digest('base64url')}` : clientId}`;

/** RFC 6585 §4: 429 with Retry-After in whole seconds. The wait is no secret: an attacker can measure it anyway. */
function tooMany(wait: number): OAuthError {
  const retryAfter = Math.max(1, Math.ceil(wait));
  return new OAuthError('too_many_requests', `too many failed client authentications; try again in ${retryAfter} seconds`, {
    headers: { 'retry-after': String(retryAfter) },
  });
}

/**
 * Runs a client authentication under the failed-authentication throttle: a client or address
 * over its limit is refused before its credentials are looked at, and an `invalid_client` is
 * counted (or turned into the 429 once the limit is passed). A success costs two in-memory
 * lookups, no storage round trip — unless the client has a request rate limit of its own.
 */
export async function throttledAuthentication<T>(ctx: TenantContext, req: FastifyRequest, params: FormParams, authenticate: () => Promise<T>): Promise<T> {
  const { clientAuthThrottle, clock } = ctx.services;
  try {
    clientAuthThrottle.assertOpen(ctx.tenant.id, () => claimedClientId(req, params), req.ip, seconds(clock));
  } catch (refusal) {
    throw audited(ctx, req, params, refusal);
  }
  let result: T;
  try {
    result = await authenticate();
  } catch (err) {
    if (!(err instanceof OAuthError) || err.error !== 'invalid_client') throw err;
    let limited: OAuthError | undefined;
    try {
      limited = await clientAuthThrottle.failed(ctx.tenant.id, claimedClientId(req, params), req.ip, seconds(clock));
    } catch (storeError) {
      // The shared store is unreachable: the request still gets its 401 (a 500 would tell a
      // client nothing), and the failure goes uncounted until the store is back.
      req.log.warn({ err: storeError }, 'throttle store unavailable: a failed client authentication was not counted');
    }
    throw limited ? audited(ctx, req, params, limited) : err;
  }
  // The client's own limit on successful requests, if it has one (off by default).
  const client = (result as { client?: Client }).client;
  if (client?.rateLimit) await ctx.services.clientRateLimit(req, client);
  return result;
}

/** Records a 429 of this throttle in the audit log (`throttle.refused`, limit `client_auth`); returns it. */
function audited(ctx: TenantContext, req: FastifyRequest, params: FormParams, refusal: unknown): unknown {
  if (refusal instanceof OAuthError) {
    auditThrottled(ctx.services, ctx.tenant.id, {
      ip: req.ip, limit: 'client_auth', clientId: claimedClientId(req, params), endpoint: req.routeOptions?.url, retryAfterSeconds: Number(refusal.headers['retry-after']),
    });
  }
  return refusal;
}
