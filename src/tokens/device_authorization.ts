import type { AuthContext } from './id_token.js';
import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { InputError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import type { Artifact, Client } from '../storage/types.js';
import { newOpaqueValue, storageKey } from './opaque.js';
import type { Target } from './target.js';

/** RFC 8628 §3.2 `expires_in`: time to find a phone, sign in and approve. */
export const DEVICE_CODE_TTL = 600;
/** §3.2 `interval`: the least seconds between polls; §3.5 `slow_down` adds SLOW_DOWN_STEP for good. */
export const POLL_INTERVAL = 5;
export const SLOW_DOWN_STEP = 5;

/**
 * §6.1: 8 characters from 20 consonants — no vowels, so no words; no digits, so nothing to
 * confuse with O, I or S — give 20^8 ≈ 2^34.6 codes, typed as XXXX-XXXX. Guessing is bounded
 * by the code's life and the device page's throttle (§5.1).
 */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const USER_CODE_LENGTH = 8;
const BASE = BigInt(USER_CODE_ALPHABET.length);
const CODE_SPACE = BASE ** BigInt(USER_CODE_LENGTH);

/** What the user decided on the device page; an approval keeps what the code flow's code would. */
export type DeviceDecision =
  | { approved: true; userId: string; authTime: number; sid: string; sessionExpiresAt: number; authContext?: AuthContext }
  | { approved: false; userId: string };

/** The state of a device code (artifact data), changed only by `swap` (compare-and-set). */
export interface DeviceData {
  scopes: string[];
  target: Target;
  /** Seconds the client must leave between polls; grows with every `slow_down`. */
  interval: number;
  /** The last poll answered `authorization_pending`; null before the first. */
  lastPollAt: number | null;
  decision: DeviceDecision | null;
}

/**
 * A user code drawn uniformly (a 64-bit draw reduced mod 20^8: bias below 2^-29), so an
 * injected fixed random source cannot make it loop.
 */
function newUserCode(ctx: TenantContext): string {
  let n = ctx.services.random(8).readBigUInt64BE() % CODE_SPACE;
  let code = '';
  for (let i = 0; i < USER_CODE_LENGTH; i++) {
    code += USER_CODE_ALPHABET[Number(n % BASE)];
    n /= BASE;
  }
  return code;
}

/** XXXX-XXXX, as shown to the user. */
export const formatUserCode = (code: string): string => `${code.slice(0, 4)}-${code.slice(4)}`;

/** The code as typed, without case, dashes or spaces; undefined when it cannot be a user code. */
export function normalizeUserCode(input: string): string | undefined {
  const code = input.replace(/[\s-]/g, '').toUpperCase();
  return code.length === USER_CODE_LENGTH && [...code].every((c) => USER_CODE_ALPHABET.includes(c)) ? code : undefined;
}

/** The user code's storage key: a digest, like every code's, per tenant so tenants never collide. */
const userCodeKey = (tenantId: string, code: string): string => digest(`device_user_code\0${tenantId}\0${code}`);

/**
 * RFC 8628 §3.2: a new device code (256 random bits, stored by digest) and user code for this
 * client. A user code taken in the tenant (the key exists) is drawn again.
 */
export async function startDeviceAuthorization(ctx: TenantContext, client: Client, scopes: string[], target: Target): Promise<{ deviceCode: string; userCode: string }> {
  const { storage, clock, random } = ctx.services;
  const now = seconds(clock);
  const deviceCode = newOpaqueValue(clock, random);
  const deviceKey = storageKey(deviceCode);
  const common = { tenantId: ctx.tenant.id, grantId: null, clientId: client.clientId, createdAt: now, expiresAt: now + DEVICE_CODE_TTL, usedAt: null };
  const data: DeviceData = { scopes, target, interval: POLL_INTERVAL, lastPollAt: null, decision: null };
  await storage.artifacts.create({ ...common, digest: deviceKey, kind: 'device_code', data: data as unknown as Record<string, unknown> });
  for (let attempt = 0; ; attempt++) {
    const userCode = newUserCode(ctx);
    try {
      await storage.artifacts.create({ ...common, digest: userCodeKey(ctx.tenant.id, userCode), kind: 'device_user_code', data: { deviceCode: deviceKey } });
      return { deviceCode, userCode: formatUserCode(userCode) };
    } catch (err) {
      if (!(err instanceof InputError && err.code === 'conflict') || attempt >= 4) throw err;
    }
  }
}

/** What a typed user code leads to. */
export type UserCodeLookup =
  | { status: 'unknown' }
  /** It was a code of this tenant, but it has expired or was already decided. */
  | { status: 'spent' }
  | { status: 'open'; device: Artifact; data: DeviceData; client: Client; userCode: string };

/** Finds the open device authorization a typed user code names, case- and dash-insensitively. */
export async function findByUserCode(ctx: TenantContext, input: string): Promise<UserCodeLookup> {
  const code = normalizeUserCode(input);
  if (code === undefined) return { status: 'unknown' };
  const { storage, cache, clock } = ctx.services;
  const now = seconds(clock);
  const pointer = await storage.artifacts.find('device_user_code', userCodeKey(ctx.tenant.id, code));
  if (!pointer || pointer.tenantId !== ctx.tenant.id) return { status: 'unknown' };
  const device = await storage.artifacts.find('device_code', String(pointer.data.deviceCode));
  const data = device?.data as DeviceData | undefined;
  if (!device || !data || device.usedAt !== null || device.expiresAt <= now || data.decision !== null) return { status: 'spent' };
  const client = device.clientId === null ? undefined : await cache.client(ctx.tenant.id, device.clientId);
  if (!client) return { status: 'spent' };
  return { status: 'open', device, data, client, userCode: formatUserCode(code) };
}

/**
 * Records the user's decision on an open device code. Polls change the code's data too, so
 * the swap is retried on a fresh read; a code decided, used or expired meanwhile is refused
 * (false): of two decisions exactly one is recorded.
 */
export async function recordDecision(ctx: TenantContext, deviceKey: string, decision: DeviceDecision): Promise<boolean> {
  const { storage, clock } = ctx.services;
  for (let attempt = 0; attempt < 10; attempt++) {
    const now = seconds(clock);
    const device = await storage.artifacts.find('device_code', deviceKey);
    if (!device || device.usedAt !== null || device.expiresAt <= now || (device.data as unknown as DeviceData).decision !== null) return false;
    if (await storage.artifacts.swap('device_code', deviceKey, device.data, { ...device.data, decision }, now)) return true;
  }
  return false;
}
