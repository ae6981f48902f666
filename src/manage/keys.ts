import { seconds } from '../clock.js';
import { InputError } from '../errors.js';
import { buildKeyRing } from '../crypto/key_ring.js';
import { generateSigningKey, SIGNING_ALGS, type SigningAlg } from '../crypto/jwk.js';
import type { KeyPurpose, SigningKeyRecord } from '../storage/types.js';
import type { ManageDeps } from './tenants.js';
import { requireTenant } from './tenants.js';

export interface KeyPolicy {
  /** A rotated-in key waits this long before it signs (the JWKS cache lifetime). */
  jwksCacheSeconds: number;
  /** How long a superseded key stays published (the longest token lifetime). */
  retentionSeconds: number;
}

const DEFAULT_ALG: Record<KeyPurpose, SigningAlg> = { access: 'ES256', id: 'RS256', refresh: 'HS256' };

export function newKeyRecord(tenantId: string, purpose: KeyPurpose, alg: SigningAlg, now: number, activatesAt: number): SigningKeyRecord {
  const { privateJwk, publicJwk } = generateSigningKey(alg);
  return {
    tenantId, kid: publicJwk.kid, alg, purpose, privateJwk, publicJwk: publicJwk as unknown as Record<string, unknown>,
    createdAt: now, activatesAt, revokedAt: null,
  };
}

export interface KeyView {
  kid: string;
  alg: string;
  purpose: KeyPurpose;
  /** pending: published, not yet signing; active: signing; retiring: published for verification only. */
  status: 'pending' | 'active' | 'retiring';
  created_at: number;
  activates_at: number;
}

export async function listKeys(deps: ManageDeps, tenantId: string, policy: KeyPolicy): Promise<KeyView[]> {
  await requireTenant(deps, tenantId);
  const now = seconds(deps.clock);
  const records = await deps.storage.keys.list(tenantId);
  const ring = buildKeyRing(records, now, policy.retentionSeconds);
  const isActive = (k: SigningKeyRecord) => ring.signer(k.purpose, k.alg as SigningAlg)?.kid === k.kid;
  return records.map((k) => ({
    kid: k.kid,
    alg: k.alg,
    purpose: k.purpose,
    status: isActive(k) ? 'active' : k.activatesAt > now ? 'pending' : 'retiring',
    created_at: k.createdAt,
    activates_at: k.activatesAt,
  }));
}

/**
 * Adds a new key for each purpose (or the one named). It is published at once and signs
 * after the JWKS cache lifetime, so no relying party sees a token signed by a key it has
 * not fetched; `immediately` is for emergencies.
 */
export async function rotateKeys(
  deps: ManageDeps,
  tenantId: string,
  policy: KeyPolicy,
  options: { immediately?: boolean; purpose?: KeyPurpose; alg?: string } = {},
): Promise<KeyView[]> {
  await requireTenant(deps, tenantId);
  if (options.purpose === 'refresh' && options.alg !== undefined && options.alg !== 'HS256') throw new InputError('the refresh-token key is HS256 (it is never published)');
  if (options.purpose !== 'refresh' && options.alg !== undefined && !SIGNING_ALGS.includes(options.alg as SigningAlg)) {
    throw new InputError(`unsupported key algorithm ${options.alg} (use ${SIGNING_ALGS.join(', ')})`);
  }
  if (options.alg !== undefined && !options.purpose) throw new InputError('--alg needs --purpose access or id');
  const now = seconds(deps.clock);
  const activatesAt = options.immediately ? now : now + policy.jwksCacheSeconds;
  const purposes: KeyPurpose[] = options.purpose ? [options.purpose] : ['access', 'id'];
  const added: string[] = [];
  const existing = await deps.storage.keys.list(tenantId);
  for (const purpose of purposes) {
    const mine = existing.filter((k) => k.purpose === purpose);
    // ID-token keys rotate per algorithm (clients choose theirs); others by the newest key's.
    const algs: SigningAlg[] = options.alg
      ? [options.alg as SigningAlg]
      : purpose === 'id'
        ? [...new Set(mine.map((k) => k.alg as SigningAlg))]
        : [(mine.at(-1)?.alg as SigningAlg | undefined) ?? DEFAULT_ALG[purpose]];
    for (const alg of algs.length ? algs : [DEFAULT_ALG[purpose]]) {
      const record = newKeyRecord(tenantId, purpose, alg, now, activatesAt);
      await deps.storage.keys.insert(record);
      added.push(record.kid);
    }
  }
  return (await listKeys(deps, tenantId, policy)).filter((k) => added.includes(k.kid));
}

/**
 * Pulls a compromised key at once: it leaves the JWKS and signs nothing more. If no key
 * of its purpose is left to sign with, a replacement becomes active immediately.
 */
export async function revokeKey(deps: ManageDeps, tenantId: string, kid: string, policy: KeyPolicy): Promise<{ revoked: string; replacement?: KeyView }> {
  await requireTenant(deps, tenantId);
  const record = (await deps.storage.keys.list(tenantId)).find((k) => k.kid === kid);
  if (!record || !(await deps.storage.keys.revoke(tenantId, kid, seconds(deps.clock)))) {
    throw new InputError(`tenant ${tenantId} has no key ${kid}`, 'not_found');
  }
  const now = seconds(deps.clock);
  const remaining = (await deps.storage.keys.list(tenantId)).filter(
    (k) => k.purpose === record.purpose && (record.purpose !== 'id' || k.alg === record.alg) && k.activatesAt <= now,
  );
  if (remaining.length > 0) return { revoked: kid };
  const replacement = newKeyRecord(tenantId, record.purpose, record.alg as SigningAlg, now, now);
  await deps.storage.keys.insert(replacement);
  return { revoked: kid, replacement: (await listKeys(deps, tenantId, policy)).find((k) => k.kid === replacement.kid) };
}

/** Deletes keys whose retention has passed; part of the built-in cleanup. */
export async function removeExpiredKeys(deps: ManageDeps, tenantId: string, policy: KeyPolicy): Promise<number> {
  const ring = buildKeyRing(await deps.storage.keys.list(tenantId), seconds(deps.clock), policy.retentionSeconds);
  await deps.storage.keys.remove(tenantId, ring.expired());
  return ring.expired().length;
}
