import { audit } from '../audit.js';
import { seconds } from '../clock.js';
import type { TenantContext } from '../http/context.js';
import { isLoopbackDevelopment, OUTBOUND_TIMEOUT_MS, OutboundError, postForm, type OutboundOptions } from '../http/outbound.js';
import { issueLogoutToken } from '../tokens/logout_token.js';

/**
 * OpenID Connect Back-Channel Logout 1.0: when a session ends, every client the user has a
 * live grant with and that registered a `backchannel_logout_uri` is sent a logout token.
 * Always outside the request that ended the session (DESIGN.md §2, SECURITY-CHECKLIST 57):
 * the caller queues the work and answers at once; a slow or failing receiver delays nobody.
 */

/** Delays before the retries of a failed delivery: at most two retries, then it is given up. */
export const RETRY_DELAYS_MS = [1000, 4000];

/**
 * Delivery settings of this process. Tests shorten them; nothing else changes them.
 * `resolver` undefined means the system's (dns.lookup).
 */
export const deliverySettings: Pick<OutboundOptions, 'resolver' | 'timeoutMs'> & { retryDelaysMs: number[] } = {
  timeoutMs: OUTBOUND_TIMEOUT_MS,
  retryDelaysMs: RETRY_DELAYS_MS,
};

export interface DeliveryOptions extends OutboundOptions {
  retryDelaysMs?: number[];
}

export interface DeliveryResult {
  ok: boolean;
  attempts: number;
  /** Why the last attempt failed (never the token). */
  reason?: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/**
 * POSTs `logout_token=…` to the URI under the outbound rules (https, public address, timeout,
 * no redirects). A refusal or a 4xx is final; a timeout, network error or 5xx is retried
 * after each of `retryDelaysMs`, and then given up.
 */
export async function deliverLogoutToken(uri: string, logoutToken: string, options: DeliveryOptions): Promise<DeliveryResult> {
  const delays = options.retryDelaysMs ?? RETRY_DELAYS_MS;
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      await postForm(uri, { logout_token: logoutToken }, options);
      return { ok: true, attempts };
    } catch (err) {
      const reason = err instanceof OutboundError ? err.message : `unexpected error (${(err as Error).message})`;
      const permanent = err instanceof OutboundError && err.permanent;
      if (permanent || attempts > delays.length) return { ok: false, attempts, reason };
      await sleep(delays[attempts - 1]);
    }
  }
}

const pending = new Set<Promise<void>>();

/** Resolves once every queued back-channel logout has finished (delivered or given up). For tests and shutdown. */
export async function backchannelIdle(): Promise<void> {
  while (pending.size) await Promise.allSettled([...pending]);
}

export interface EndedSession {
  userId: string;
  /** The session's public id, the `sid` of its ID tokens. */
  sid: string;
}

/**
 * Queues the logout tokens for a session that has just ended and returns at once: the
 * lookups, signing and delivery all run after the current request has been answered.
 */
export function queueBackchannelLogout(ctx: TenantContext, ended: EndedSession): void {
  const job: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
    .then(() => notifyClients(ctx, ended))
    .catch((err) => ctx.services.log.error({ err, tenant: ctx.tenant.id }, 'back-channel logout could not be sent'))
    .finally(() => pending.delete(job));
  pending.add(job);
}

async function notifyClients(ctx: TenantContext, ended: EndedSession): Promise<void> {
  const { storage, cache, config, log } = ctx.services;
  // The clients this user signed in to: those holding a live grant of theirs.
  const grants = await storage.grants.listLive(ctx.tenant.id, ended.userId, seconds(ctx.services.clock));
  const clientIds = [...new Set(grants.map((g) => g.clientId))];
  const allowLoopback = isLoopbackDevelopment(config.publicUrl);
  await Promise.all(
    clientIds.map(async (clientId) => {
      const client = await cache.client(ctx.tenant.id, clientId);
      if (!client?.backchannelLogoutUri) return;
      const uri = client.backchannelLogoutUri;
      const token = await issueLogoutToken(ctx, { client, sub: ended.userId, sid: ended.sid });
      const result = await deliverLogoutToken(uri, token, { ...deliverySettings, allowLoopback });
      const host = hostOf(uri);
      if (result.ok) {
        log.debug({ tenant: ctx.tenant.id, client: clientId, host, attempts: result.attempts }, 'back-channel logout delivered');
        return;
      }
      log.warn({ tenant: ctx.tenant.id, client: clientId, host, attempts: result.attempts, reason: result.reason }, 'back-channel logout failed');
      await audit(ctx, {
        type: 'logout.backchannel_failed', actor: ended.userId, clientId, userId: ended.userId,
        detail: { host, attempts: result.attempts, reason: result.reason },
      });
    }),
  );
}

const hostOf = (uri: string): string => {
  try {
    return new URL(uri).host;
  } catch {
    return '(invalid)';
  }
};
