import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { KeyRing } from '../crypto/key_ring.js';
import { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import { signerFor } from '../tokens/signing_key.js';

/**
 * A nonce is good for the window it was made in and the next one: 5 to 10 minutes. Every
 * response to a DPoP token request carries the current one (RFC 9449 §8.2), so a client in
 * use never holds a stale one; an idle client pays one retry.
 */
export const NONCE_WINDOW_SECONDS = 300;

/** Nonce keys per key ring: a ring is rebuilt when the tenant's keys change, and so is its key. */
const nonceKeys = new WeakMap<KeyRing, Buffer>();

/**
 * The tenant's nonce key, derived (HKDF, its own label) from the tenant's active refresh-token
 * HMAC key: a secret every node reads from the database and that is never published. So
 * nonces need no state of their own and hold on every node. Rotating that key (`keys rotate`)
 * turns outstanding nonces stale: each client then retries once with the new nonce.
 */
async function nonceKey(ctx: TenantContext): Promise<Buffer> {
  const { cache } = ctx.services;
  let ring = cache.peekKeyRing(ctx.tenant.id) ?? (await cache.keyRing(ctx.tenant.id));
  let signer = ring.signer('refresh');
  if (!signer) {
    signer = await signerFor(ctx, 'refresh');
    ring = await cache.keyRing(ctx.tenant.id);
  }
  let key = nonceKeys.get(ring);
  if (!key) {
    const secret = ring.refreshKey(signer.kid);
    if (!secret) throw new OAuthError('server_error', 'the tenant has no refresh-token key to make DPoP nonces with', { detail: ctx.tenant.id });
    key = Buffer.from(hkdfSync('sha256', secret.export(), Buffer.alloc(0), `tessera dpop nonce ${ctx.tenant.id}`, 32));
    nonceKeys.set(ring, key);
  }
  return key;
}

const windowOf = (ctx: TenantContext): number => Math.floor(ctx.services.clock.now() / 1000 / NONCE_WINDOW_SECONDS);

/** RFC 9449 §8.1: 43 base64url characters (a subset of the NQCHAR the nonce syntax allows). */
const nonceFor = (key: Buffer, window: number): string => createHmac('sha256', key).update(`dpop-nonce.${window}`).digest('base64url');

/** The nonce to hand out now (the `DPoP-Nonce` header). */
export async function currentNonce(ctx: TenantContext): Promise<string> {
  return nonceFor(await nonceKey(ctx), windowOf(ctx));
}

/** Whether `value` is a nonce of this tenant from the current or the previous window. */
export async function isCurrentNonce(ctx: TenantContext, value: unknown): Promise<boolean> {
  if (typeof value !== 'string' || value.length !== 43) return false;
  const key = await nonceKey(ctx);
  const window = windowOf(ctx);
  const given = Buffer.from(value);
  return [window, window - 1].some((w) => timingSafeEqual(given, Buffer.from(nonceFor(key, w))));
}
