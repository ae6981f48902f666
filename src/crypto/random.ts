import type { Random } from '../clock.js';

/** 256-bit opaque values: client secrets, opaque access tokens (SECURITY-CHECKLIST 21). */
export const secretValue = (random: Random): string => random(32).toString('base64url');

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Identifiers (`jti`, client ids, API ids): 22 base64url characters, ~132 random bits
 * (≥128). The first is alphanumeric, drawn from its own byte, so an id never starts with
 * "-" (which a command line takes for an option) or "_"; the other 21 carry 126 bits.
 * Deterministic in its input, so an injected fixed random source cannot make it loop.
 */
export const identifier = (random: Random): string => {
  const bytes = random(17);
  return ALPHANUMERIC[bytes[0] % ALPHANUMERIC.length] + bytes.toString('base64url', 1).slice(0, 21);
};
