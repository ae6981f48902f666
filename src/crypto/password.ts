import { randomBytes } from 'node:crypto';
import { type Algorithm, hash, parseOptions, verify } from '@node-rs/argon2';

/**
 * User passwords: argon2id with OWASP's baseline parameters (m = 19 MiB, t = 2, p = 1),
 * about 15 ms per hash on one core (DESIGN.md §2). Hashing runs on libuv's thread pool,
 * so it never blocks the event loop; still, it belongs only on requests that carry a password.
 */
const OPTIONS = {
  // Algorithm is a const enum whose runtime object is empty: a compiler that does not inline
  // it (vitest's esbuild) would pass undefined.
  algorithm: 2 as Algorithm.Argon2id,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
};

/**
 * The most a stored hash may ask for. Ours never exceed OPTIONS; a hash imported from
 * elsewhere, or edited in the database, must not make one sign-in allocate gigabytes.
 */
const LIMITS = { memoryCost: 262_144, timeCost: 16, parallelism: 16 };

export const PASSWORD_MIN_LENGTH = 8;
/** Long passphrases are welcome; the cap only bounds the work one request can cause. */
export const PASSWORD_MAX_LENGTH = 1024;

/** NIST SP 800-63B §5.1.1.2: normalize (NFKC), so the same password typed on another keyboard or OS matches. */
const normalize = (password: string): string => password.normalize('NFKC');

/** Length in characters as a user counts them (code points, not UTF-16 units). */
const lengthOf = (password: string): number => [...normalize(password)].length;

/**
 * NIST SP 800-63B §5.1.1.2: refuse passwords known to be common. The first ones every
 * guessing list tries, of at least the minimum length; a full breach corpus is the operator's
 * choice to add, not a download we make.
 */
const COMMON = new Set([
  'password', 'password1', 'password12', 'password123', 'passw0rd', 'p@ssw0rd', 'p@ssword', '12345678', '123456789', '1234567890',
  '0123456789', '87654321', '11111111', '00000000', '12341234', '11223344', 'abcd1234', '1q2w3e4r', '1q2w3e4r5t', 'qwertyui',
  'qwerty123', 'qwertyuiop', 'asdfghjkl', 'zxcvbnm1', '1qaz2wsx', 'iloveyou', 'iloveyou1', 'sunshine', 'princess', 'football',
  'baseball', 'superman', 'trustno1', 'letmein1', 'welcome1', 'welcome123', 'whatever', 'starwars', 'computer', 'michelle',
  'jennifer', 'charlie1', 'dragon12', 'monkey12', 'master12', 'shadow12', 'changeme', 'changeme1', 'admin123', 'administrator',
  'qwerty12', 'qwerty1234', 'q1w2e3r4', 'a1b2c3d4', 'abc12345', 'abcdefgh', 'aaaaaaaa', 'passpass', 'secret12', 'letmein123',
]);

/** The problem with a new password, as a sentence to show; undefined if it is acceptable. */
export function checkPasswordPolicy(password: string, username: string): string | undefined {
  const length = lengthOf(password);
  if (length < PASSWORD_MIN_LENGTH) return `password must be at least ${PASSWORD_MIN_LENGTH} characters long`;
  if (length > PASSWORD_MAX_LENGTH) return `password must be at most ${PASSWORD_MAX_LENGTH} characters long`;
  const lower = normalize(password).toLowerCase();
  if (lower === normalize(username).toLowerCase()) return 'password must not be the same as the username';
  if (COMMON.has(lower) || /^(.)\1*$/su.test(lower)) return 'this password is too common; choose one that is harder to guess';
  return undefined;
}

/** An argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) with a fresh random salt. */
export function hashPassword(password: string): Promise<string> {
  return hash(normalize(password), OPTIONS);
}

let dummy: Promise<string> | undefined;

/**
 * Spends what checking a password against a real hash spends, then answers false: for an
 * unknown username, so the response time does not tell which accounts exist. The hash is
 * made once, of a random password, with the same parameters as every stored one.
 */
export async function verifyDummy(password: string): Promise<false> {
  dummy ??= hashPassword(randomBytes(16).toString('base64url'));
  try {
    await verify(await dummy, normalize(password));
  } catch {
    // Nothing to report: the answer is false whatever happened.
  }
  return false;
}

/**
 * Whether `password` matches the stored hash. False, never an exception, for a missing,
 * malformed or over-expensive hash — after the same time a real check takes.
 */
export async function verifyPassword(storedHash: string | null, password: string): Promise<boolean> {
  if (storedHash === null || !withinLimits(storedHash)) return verifyDummy(password);
  try {
    return await verify(storedHash, normalize(password));
  } catch {
    return verifyDummy(password);
  }
}

function withinLimits(storedHash: string): boolean {
  try {
    const o = parseOptions(storedHash);
    return o.memoryCost <= LIMITS.memoryCost && o.timeCost <= LIMITS.timeCost && o.parallelism <= LIMITS.parallelism;
  } catch {
    return false;
  }
}
