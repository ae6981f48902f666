import { type Clock, type Random } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { secretValue } from '../crypto/random.js';

/** Width of the time prefix: milliseconds in hex, fixed width until the year 10889. */
const PREFIX = 12;

/**
 * A new opaque value (access token, and the other single-use values later): a 12-hex-digit
 * millisecond timestamp, then 256 random bits in base64url. The prefix is not secret (a
 * JWT's `iat` says as much); it makes storage keys arrive in order.
 */
export function newOpaqueValue(clock: Clock, random: Random): string {
  return clock.now().toString(16).padStart(PREFIX, '0') + secretValue(random);
}

/**
 * The key a value is stored under: its time prefix followed by the SHA-256 digest of the
 * whole value — the value itself is never stored (DESIGN.md §2). Keys that grow with time
 * append to the right edge of the index instead of landing on a random page: measured,
 * that cut SQLite's CPU per opaque token by about a third (48 → 34 µs).
 */
export function storageKey(value: string): string {
  return value.slice(0, PREFIX) + digest(value);
}
