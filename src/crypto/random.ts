import type { Random } from '../clock.js';

/** 256-bit opaque values: client secrets, opaque access tokens (SECURITY-CHECKLIST 21). */
export const secretValue = (random: Random): string => random(32).toString('base64url');

/** 128-bit identifiers: `jti`, key ids, client ids. */
export const identifier = (random: Random): string => random(16).toString('base64url');
