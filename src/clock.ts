import { randomBytes } from 'node:crypto';

/** Injected time source (DESIGN.md §3.5): expiry tests move a fake clock instead of sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export const seconds = (clock: Clock): number => Math.floor(clock.now() / 1000);

/** Injected randomness: `random(n)` returns n cryptographically random bytes. */
export type Random = (bytes: number) => Buffer;

const POOL_SIZE = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/**
 * CSPRNG bytes served from a pooled buffer: one `randomBytes` call per 4 KiB instead of one
 * per token keeps the token endpoint's per-request cost down. Each slice is copied out
 * and never handed out twice.
 */
export const systemRandom: Random = (n) => {
  if (n > POOL_SIZE) return randomBytes(n);
  if (offset + n > pool.length) {
    pool = randomBytes(POOL_SIZE);
    offset = 0;
  }
  const out = Buffer.from(pool.subarray(offset, offset + n));
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
};
