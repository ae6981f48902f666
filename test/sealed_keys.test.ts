/**
 * Secrets at rest (TESSERA_MASTER_KEY): AES-256-GCM with the row's tenant and key id as
 * associated data, so a sealed value copied onto another row (another tenant's key, another
 * kid) does not open there, and a changed byte never decrypts.
 */
import { describe, expect, it } from 'vitest';
import { createKeySealer, isSealed } from '../src/crypto/sealed_keys.js';

const OWNER = { tenantId: 'acme', kid: 'k1' };
const SECRET = '{"kty":"EC","d":"private part"}';

describe('sealed keys', () => {
  const sealer = createKeySealer({ current: 'master key one, long enough' });

  it('opens what it sealed for the same row, and writes no plaintext', () => {
    const stored = sealer.seal(SECRET, OWNER);
    expect({ sealed: isSealed(stored), containsSecret: stored.includes('private part'), opened: sealer.open(stored, OWNER) }).toEqual({
      sealed: true, containsSecret: false, opened: SECRET,
    });
  });

  it('refuses a sealed value moved to another tenant or another key id', () => {
    const stored = sealer.seal(SECRET, OWNER);
    expect(() => sealer.open(stored, { tenantId: 'other', kid: 'k1' })).toThrow(
      'the private key k1 of tenant other cannot be decrypted with TESSERA_MASTER_KEY: the master key is wrong (while rotating it, give the old one as TESSERA_MASTER_KEY_PREVIOUS)',
    );
    expect(() => sealer.open(stored, { tenantId: 'acme', kid: 'k2' })).toThrow('the private key k2 of tenant acme cannot be decrypted');
  });

  it('refuses a changed byte', () => {
    const stored = sealer.seal(SECRET, OWNER);
    const i = stored.length - 30;
    const tampered = stored.slice(0, i) + (stored[i] === 'A' ? 'B' : 'A') + stored.slice(i + 1);
    expect(() => sealer.open(tampered, OWNER)).toThrow('cannot be decrypted');
  });

  it('opens under the previous master key while rotating, and reseals under the current one', () => {
    const old = createKeySealer({ current: 'the old master key' }).seal(SECRET, OWNER);
    const rotating = createKeySealer({ current: 'master key one, long enough', previous: 'the old master key' });
    const resealed = rotating.reseal(old, OWNER);
    expect({ opened: rotating.open(old, OWNER), resealedOpens: resealed && sealer.open(resealed, OWNER), again: rotating.reseal(resealed!, OWNER) }).toEqual({
      opened: SECRET, resealedOpens: SECRET, again: undefined,
    });
  });
});
