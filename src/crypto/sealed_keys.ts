import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Private key material at rest (signing keys and the tenants' refresh-token HMAC keys), sealed
 * with TESSERA_MASTER_KEY: AES-256-GCM under a key derived by HKDF-SHA256 (RFC 5869), the row's
 * tenant and kid as additional data, so a sealed value copied onto another row does not open.
 *
 * Stored form: `enc:v1:` + base64url(iv ‖ ciphertext ‖ tag). Anything else is a plaintext row
 * (written before a master key was set, or without one) and loads as it is; `tessera keys rewrap`
 * seals those. Keys are opened once per key-ring load, never per request (the ring is cached).
 */
export interface KeySealer {
  seal(plaintext: string, owner: KeyOwner): string;
  /** The plaintext; throws a clear error if the row is sealed under a key this process lacks. */
  open(stored: string, owner: KeyOwner): string;
  /**
   * For `keys rewrap`: the row sealed under the current master key, or undefined if it already is.
   * Throws as `open` does; without a master key there is nothing to seal with.
   */
  reseal(stored: string, owner: KeyOwner): string | undefined;
}

export interface KeyOwner {
  tenantId: string;
  kid: string;
}

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** HKDF's info: a new format or purpose gets a new derived key. A wrong master key shows as a failed GCM tag. */
const INFO = 'tessera sealed keys v1 (aes-256-gcm)';

export const isSealed = (stored: string): boolean => stored.startsWith(PREFIX);

const derive = (masterKey: string): Buffer => Buffer.from(hkdfSync('sha256', Buffer.from(masterKey, 'utf8'), 'tessera', INFO, 32));

const aadOf = (owner: KeyOwner): Buffer => Buffer.from(`${owner.tenantId}\u0000${owner.kid}`, 'utf8');

function sealWith(key: Buffer, plaintext: string, owner: KeyOwner): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(aadOf(owner));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
}

function openWith(key: Buffer, stored: string, owner: KeyOwner): string | undefined {
  const raw = Buffer.from(stored.slice(PREFIX.length), 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES)).setAAD(aadOf(owner));
    decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** The sealer for a configuration's master keys; without one, rows are written in plaintext (and sealed rows refuse to load). */
export function createKeySealer(masterKey: { current: string; previous?: string | undefined } | undefined): KeySealer {
  const current = masterKey && derive(masterKey.current);
  const previous = masterKey?.previous !== undefined ? derive(masterKey.previous) : undefined;
  const open = (stored: string, owner: KeyOwner): string => {
    if (!isSealed(stored)) return stored;
    const what = `the private key ${owner.kid} of tenant ${owner.tenantId}`;
    if (!current) throw new Error(`${what} is encrypted at rest: set TESSERA_MASTER_KEY to the master key it was sealed with`);
    const plaintext = openWith(current, stored, owner) ?? (previous && openWith(previous, stored, owner));
    if (plaintext !== undefined) return plaintext;
    throw new Error(
      `${what} cannot be decrypted with TESSERA_MASTER_KEY${previous ? ' or TESSERA_MASTER_KEY_PREVIOUS' : ''}: ` +
        'the master key is wrong (while rotating it, give the old one as TESSERA_MASTER_KEY_PREVIOUS)',
    );
  };
  return {
    seal: (plaintext, owner) => (current ? sealWith(current, plaintext, owner) : plaintext),
    open,
    reseal(stored, owner) {
      if (!current) throw new Error('keys rewrap needs TESSERA_MASTER_KEY: the master key to seal every private key with');
      if (isSealed(stored) && openWith(current, stored, owner) !== undefined) return undefined;
      return sealWith(current, open(stored, owner), owner);
    },
  };
}

/** Without a master key: plaintext in, plaintext out. */
export const PLAINTEXT_KEYS: KeySealer = createKeySealer(undefined);
