/**
 * Users: password hashing (src/crypto/password.ts) and user management (src/manage/users.ts)
 * in process — what is refused with which message, what is stored, and what a change
 * does to the user's sessions.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPasswordPolicy, hashPassword, verifyDummy, verifyPassword } from '../src/crypto/password.js';
import { ensureDefaultTenant, type ManageDeps } from '../src/manage/tenants.js';
import { createUser, deleteUser, requireUser, updateUser, userView } from '../src/manage/users.js';
import { openStorage, type Storage } from '../src/storage/index.js';
import type { Session } from '../src/storage/types.js';
import { BACKENDS, createTestDatabase, FakeClock, type TestDatabase } from './helpers.js';

const PHC = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/;

async function elapsed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe('password hashing', () => {
  let stored: string;
  beforeAll(async () => {
    stored = await hashPassword('correct horse battery staple');
  });

  it('hashes with argon2id at OWASP baseline parameters and a fresh salt each time', async () => {
    expect(stored).toMatch(PHC);
    const again = await hashPassword('correct horse battery staple');
    expect(again).toMatch(PHC);
    expect(again).not.toBe(stored);
  });

  it('verifies the right password and refuses a wrong one', async () => {
    expect(await verifyPassword(stored, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(stored, 'correct horse battery stapl')).toBe(false);
    expect(await verifyPassword(stored, 'Correct horse battery staple')).toBe(false);
    expect(await verifyPassword(stored, '')).toBe(false);
  });

  it('matches a password however its Unicode is composed (NFKC, NIST SP 800-63B §5.1.1.2)', async () => {
    const h = await hashPassword('caf\u00e9-\ufb01le-pass');
    expect(await verifyPassword(h, 'cafe\u0301-file-pass')).toBe(true);
  });

  it('answers false, without throwing, for a missing, malformed or over-expensive hash', async () => {
    const bad = [
      null,
      '',
      'not a hash',
      '$argon2id$v=19$m=19456,t=2,p=1$truncated',
      '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy',
      stored.replace('m=19456', 'm=4194304'),
      stored.replace('$argon2id$', '$argon9$'),
    ];
    for (const h of bad) expect(await verifyPassword(h, 'correct horse battery staple'), String(h)).toBe(false);
    expect(await verifyDummy('anything')).toBe(false);
  });

  it('spends as long on an unknown user (verifyDummy) or a malformed hash as on a real check', async () => {
    await verifyDummy('warm-up'); // the dummy hash is made on first use
    const real: number[] = [];
    const dummy: number[] = [];
    const malformed: number[] = [];
    for (let i = 0; i < 5; i++) {
      real.push(await elapsed(() => verifyPassword(stored, 'wrong password guess')));
      dummy.push(await elapsed(() => verifyDummy('wrong password guess')));
      malformed.push(await elapsed(() => verifyPassword('not a hash', 'wrong password guess')));
    }
    expect(median(dummy)).toBeGreaterThanOrEqual(median(real) / 2);
    expect(median(malformed)).toBeGreaterThanOrEqual(median(real) / 2);
  });

  it('requires 8–1024 characters, not the username, not a common or one-character password, counting characters rather than UTF-16 units', () => {
    expect(checkPasswordPolicy('Sm0ke-pass-123', 'smoke')).toBeUndefined();
    expect(checkPasswordPolicy('short', 'alice')).toBe('password must be at least 8 characters long');
    // Seven emoji are 14 UTF-16 units but seven characters.
    expect(checkPasswordPolicy('😀😃😀😃😀😃😀', 'alice')).toBe('password must be at least 8 characters long');
    expect(checkPasswordPolicy('😀😃😀😃😀😃😀😃', 'alice')).toBeUndefined();
    expect(checkPasswordPolicy('xy'.repeat(512), 'alice')).toBeUndefined();
    expect(checkPasswordPolicy('😀'.repeat(8), 'alice')).toBe('this password is too common; choose one that is harder to guess');
    expect(checkPasswordPolicy('Password123', 'alice')).toBe('this password is too common; choose one that is harder to guess');
    expect(checkPasswordPolicy('12345678', 'alice')).toBe('this password is too common; choose one that is harder to guess');
    expect(checkPasswordPolicy('x'.repeat(1025), 'alice')).toBe('password must be at most 1024 characters long');
    expect(checkPasswordPolicy('Alice.Liddell', 'alice.liddell')).toBe('password must not be the same as the username');
  });
});

describe.each(BACKENDS)('user management on %s', (backend) => {
  let db: TestDatabase;
  let storage: Storage;
  let deps: ManageDeps;
  const clock = new FakeClock();
  const now = () => Math.floor(clock.now() / 1000);
  const session = (key: string, userId: string): Session => ({
    key, id: `sid-${key}`, tenantId: 'default', userId, authTime: now(), amr: ['pwd'], createdAt: now(),
    idleExpiresAt: now() + 1800, expiresAt: now() + 36_000, revokedAt: null,
  });

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    storage = await openStorage(db.url);
    deps = { storage, clock, random: (n) => randomBytes(n) };
    await ensureDefaultTenant(deps);
  });
  afterAll(async () => {
    await storage?.close();
    await db?.drop();
  });

  it('creates a user with a hashed password, and shows every field but the hash', async () => {
    const u = await createUser(deps, 'default', { username: 'Alice', password: 'wonderland-42', email: ' alice@example.test ', name: ' Alice L. ', emailVerified: true });
    expect(u.passwordHash).toMatch(PHC);
    expect(await verifyPassword(u.passwordHash, 'wonderland-42')).toBe(true);
    expect(userView(u)).toEqual({
      id: expect.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{21}$/), tenant: 'default', username: 'Alice', email: 'alice@example.test',
      email_verified: true, name: 'Alice L.', disabled: false, must_change_password: false, created_at: now(), updated_at: now(),
    });
    expect(await requireUser(deps, 'default', 'ALICE')).toEqual(u);
    expect(await requireUser(deps, 'default', u.id)).toEqual(u);
    const bare = await createUser(deps, 'default', { username: 'no-password' });
    expect(bare).toMatchObject({ passwordHash: null, email: null, emailVerified: false, name: null });
  });

  it('refuses bad input with a message naming the field, and stores nothing', async () => {
    const create = (input: Parameters<typeof createUser>[2], tenant = 'default') => createUser(deps, tenant, input).then(() => 'created', (e: Error) => e.message);
    expect(await Promise.all([
      create({ username: 'x', password: 'long-enough' }, 'nope'),
      create({ password: 'long-enough' }),
      create({ username: '' }),
      create({ username: 'a'.repeat(101) }),
      create({ username: 'two words' }),
      create({ username: 'tab\there' }),
      create({ username: 'zero\u200bwidth' }),
      create({ username: '-option' }),
      create({ username: 'bob', password: 'short' }),
      create({ username: 'bob', password: 'bob-the-builder' }),
      create({ username: 'bobbybobby', password: 'BobbyBobby' }),
      create({ username: 'bob', email: 'not-an-email' }),
      create({ username: 'bob', email: 'a@b.c', name: 'n'.repeat(201) }),
      create({ username: 'bob', emailVerified: true }),
      create({ username: 'aLiCe', password: 'another-pass' }),
    ])).toEqual([
      'tenant nope does not exist',
      'username is required',
      'username must be 1–100 characters',
      'username must be 1–100 characters',
      'username must not contain spaces or control characters',
      'username must not contain spaces or control characters',
      'username must not contain spaces or control characters',
      'username must not start with "-"',
      'password must be at least 8 characters long',
      'created',
      'password must not be the same as the username',
      'email "not-an-email" is not a valid email address',
      'name must be at most 200 characters',
      'email_verified needs an email',
      'tenant default already has a user named aLiCe (usernames are case-insensitive)',
    ]);
    expect((await storage.users.list('default')).map((u) => u.username)).toEqual(['Alice', 'bob', 'no-password']);
  });

  it('updates only what it is given; a new email is unverified; a rename must stay unique', async () => {
    const before = await requireUser(deps, 'default', 'alice');
    clock.advance(10);
    const renamed = await updateUser(deps, 'default', 'alice', { username: 'alice.l', name: '' });
    expect(renamed).toEqual({ ...before, username: 'alice.l', name: null, updatedAt: now() });
    const sameEmail = await updateUser(deps, 'default', 'alice.l', { email: 'alice@example.test' });
    expect(sameEmail.emailVerified).toBe(true);
    const moved = await updateUser(deps, 'default', 'alice.l', { email: 'alice@new.example' });
    expect(moved).toMatchObject({ email: 'alice@new.example', emailVerified: false });
    expect(await updateUser(deps, 'default', 'alice.l', { emailVerified: true })).toMatchObject({ emailVerified: true });
    await expect(updateUser(deps, 'default', 'alice.l', { username: 'BOB' })).rejects.toThrow('tenant default already has a user named BOB (usernames are case-insensitive)');
    await expect(updateUser(deps, 'default', 'alice.l', { email: '', emailVerified: true })).rejects.toThrow('email_verified needs an email');
    await expect(updateUser(deps, 'default', 'nobody', { name: 'x' })).rejects.toThrow('tenant default has no user nobody');
    expect(await requireUser(deps, 'default', 'alice.l')).toMatchObject({ username: 'alice.l', email: 'alice@new.example', emailVerified: true });
  });

  it('signs a user out everywhere when their password changes or they are disabled, not on other changes', async () => {
    const alice = await requireUser(deps, 'default', 'alice.l');
    await storage.sessions.create(session('a1', alice.id));
    await updateUser(deps, 'default', alice.id, { name: 'Alice' });
    expect((await storage.sessions.get('a1'))?.revokedAt).toBeNull();

    const changed = await updateUser(deps, 'default', alice.id, { password: 'new-wonderland-43' });
    expect(await verifyPassword(changed.passwordHash, 'new-wonderland-43')).toBe(true);
    expect((await storage.sessions.get('a1'))?.revokedAt).toBe(now());
    await expect(updateUser(deps, 'default', alice.id, { password: 'short' })).rejects.toThrow('password must be at least 8 characters long');
    await expect(updateUser(deps, 'default', alice.id, { username: 'alice-liddell', password: 'Alice-Liddell' })).rejects.toThrow('password must not be the same as the username');

    await storage.sessions.create(session('a2', alice.id));
    expect(await updateUser(deps, 'default', alice.id, { disabled: true })).toMatchObject({ disabled: true });
    expect((await storage.sessions.get('a2'))?.revokedAt).toBe(now());
    expect(await updateUser(deps, 'default', alice.id, { disabled: false })).toMatchObject({ disabled: false });
  });

  it('deletes a user found by username with their sessions, and frees the username', async () => {
    const bob = await requireUser(deps, 'default', 'bob');
    await storage.sessions.create(session('b1', bob.id));
    expect(await deleteUser(deps, 'default', 'BOB')).toEqual(bob);
    expect(await storage.sessions.get('b1')).toBeUndefined();
    await expect(deleteUser(deps, 'default', 'bob')).rejects.toThrow('tenant default has no user bob');
    expect((await createUser(deps, 'default', { username: 'bob' })).id).not.toBe(bob.id);
  });
});
