import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Random } from '../clock.js';

/** RFC 6238 §4: time step X = 30 s, T0 = 0; 6 digits, HMAC-SHA-1 (what every authenticator app does by default). */
export const TOTP_PERIOD = 30;
export const TOTP_DIGITS = 6;
/** RFC 6238 §5.2: accept one step either side, for clock drift and the time the user takes to type. */
const WINDOW = 1;

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 base32 without padding: the secret format of otpauth:// URIs. */
export function base32Encode(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of clean) {
    const i = ALPHABET.indexOf(c);
    if (i < 0) throw new Error('not base32');
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** A new shared secret: 160 bits, the HMAC-SHA-1 block size RFC 4226 §4 recommends. */
export const newTotpSecret = (random: Random): string => base32Encode(random(20));

/** RFC 4226 §5.3 HOTP with dynamic truncation. */
export function hotp(secret: Buffer, counter: number): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', secret).update(msg).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 10 ** TOTP_DIGITS;
  return String(n).padStart(TOTP_DIGITS, '0');
}

/** RFC 6238 §4.2: T = floor((now − T0) / X). */
export const timeStep = (nowSeconds: number): number => Math.floor(nowSeconds / TOTP_PERIOD);

export const totpAt = (secret: string, nowSeconds: number): string => hotp(base32Decode(secret), timeStep(nowSeconds));

/**
 * The time step whose code `code` is, within the window around now; undefined if none.
 * The caller still has to claim the step (MfaStore.useTotpStep) so a code works only once.
 */
export function matchTotp(secret: string, code: string, nowSeconds: number): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const key = base32Decode(secret);
  const now = timeStep(nowSeconds);
  let found: number | undefined;
  // Every candidate is computed and compared, so timing says nothing about which one matched.
  for (let step = now - WINDOW; step <= now + WINDOW; step++) {
    if (timingSafeEqual(Buffer.from(hotp(key, step)), Buffer.from(code)) && found === undefined) found = step;
  }
  return found;
}

/** The Key Uri Format of Google Authenticator, which every authenticator app reads from the QR code. */
export function otpauthUri(opts: { issuer: string; account: string; secret: string }): string {
  const label = `${encodeURIComponent(opts.issuer)}:${encodeURIComponent(opts.account)}`;
  const q = new URLSearchParams({ secret: opts.secret, issuer: opts.issuer, algorithm: 'SHA1', digits: String(TOTP_DIGITS), period: String(TOTP_PERIOD) });
  return `otpauth://totp/${label}?${q}`;
}
