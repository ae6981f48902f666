import type { Random } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { identifier } from '../crypto/random.js';
import type { Storage } from '../storage/index.js';
import type { MfaFactor } from '../storage/types.js';
import { base32Encode, matchTotp } from './totp.js';

/** Recovery codes handed out at once; each works once (GitHub and Auth0 give 10–16). */
export const RECOVERY_CODE_COUNT = 10;

/**
 * Ten base32 characters (50 bits) shown as `xxxxx-xxxxx`. A fast digest is enough: guessing is
 * throttled like passwords, and 2^50 is far out of reach at that rate.
 */
export function newRecoveryCodes(random: Random): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const s = base32Encode(random(7)).slice(0, 10).toLowerCase();
    return `${s.slice(0, 5)}-${s.slice(5)}`;
  });
}

/** What the user typed, however spaced, dashed or capitalised. */
export const recoveryDigest = (code: string): string => digest(`recovery:${code.replace(/[\s-]/g, '').toLowerCase()}`);

export type SecondFactorCheck = { ok: true; method: 'otp' | 'recovery_code'; factorId?: string } | { ok: false; reason: 'invalid_code' | 'replayed_code' };

/**
 * Checks a TOTP code against each of the user's TOTP factors, or else a recovery code. A TOTP
 * code counts only if its time step is claimed atomically (RFC 6238 §5.2: a verifier must not
 * accept the second attempt of the same OTP), so a replay inside the window is refused on
 * every node.
 */
export async function checkSecondFactor(storage: Storage, factors: MfaFactor[], user: { tenantId: string; id: string }, input: string, now: number): Promise<SecondFactorCheck> {
  const code = input.replace(/\s/g, '');
  if (/^\d{6}$/.test(code)) {
    let replayed = false;
    for (const f of factors) {
      if (f.type !== 'totp') continue;
      const step = matchTotp(f.secret, code, now);
      if (step === undefined) continue;
      if (await storage.mfa.useTotpStep(f.id, step, now)) return { ok: true, method: 'otp', factorId: f.id };
      replayed = true;
    }
    return { ok: false, reason: replayed ? 'replayed_code' : 'invalid_code' };
  }
  if (code.length >= 10 && code.length <= 12 && (await storage.mfa.useRecoveryCode(user.tenantId, user.id, recoveryDigest(code), now))) {
    return { ok: true, method: 'recovery_code' };
  }
  return { ok: false, reason: 'invalid_code' };
}

/**
 * Saves a confirmed TOTP factor. Its first step is the one just confirmed, so the confirmation
 * code cannot be replayed at sign-in. Returns new recovery codes when the user had none left
 * (to show once), else undefined.
 */
export async function saveTotpFactor(
  deps: { storage: Storage; random: Random },
  user: { tenantId: string; id: string },
  opts: { secret: string; step: number; label: string; now: number },
): Promise<{ factor: MfaFactor; recoveryCodes?: string[] }> {
  const factor: MfaFactor = {
    id: identifier(deps.random), tenantId: user.tenantId, userId: user.id, type: 'totp', label: opts.label,
    secret: opts.secret, lastStep: opts.step, createdAt: opts.now, lastUsedAt: opts.now,
  };
  await deps.storage.mfa.create(factor);
  return { factor, recoveryCodes: await ensureRecoveryCodes(deps, user, opts.now) };
}

/** New recovery codes when the user has none left; undefined when they still have some. */
export async function ensureRecoveryCodes(deps: { storage: Storage; random: Random }, user: { tenantId: string; id: string }, now: number): Promise<string[] | undefined> {
  if ((await deps.storage.mfa.recoveryCodesLeft(user.tenantId, user.id)) > 0) return undefined;
  return replaceRecoveryCodes(deps, user, now);
}

/** A fresh set of recovery codes; the old ones stop working. Only digests are stored. */
export async function replaceRecoveryCodes(deps: { storage: Storage; random: Random }, user: { tenantId: string; id: string }, now: number): Promise<string[]> {
  const codes = newRecoveryCodes(deps.random);
  await deps.storage.mfa.replaceRecoveryCodes(user.tenantId, user.id, codes.map(recoveryDigest), now);
  return codes;
}

/** A factor as lists and APIs show it: never its secret or key. */
export const factorView = (f: MfaFactor) => ({
  id: f.id, type: f.type, label: f.label, created_at: f.createdAt, last_used_at: f.lastUsedAt,
});
