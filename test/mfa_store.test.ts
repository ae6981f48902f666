/**
 * The MfaStore contract on both backends, with two stores on one database standing in for two
 * nodes: a TOTP step, a recovery code and a passkey counter are each accepted exactly once
 * under concurrency; factors and codes go with their user; policies are per tenant and client.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/manage/clients.js';
import { createTenant } from '../src/manage/tenants.js';
import { createUser, deleteUser } from '../src/manage/users.js';
import { recoveryDigest } from '../src/mfa/factors.js';
import { openStorage, type Storage } from '../src/storage/index.js';
import type { MfaFactor, User } from '../src/storage/types.js';
import { BACKENDS, createTestDatabase, FakeClock, type TestDatabase } from './helpers.js';

const T0 = Math.floor(Date.UTC(2026, 0, 1) / 1000);

describe.each(BACKENDS)('second-factor storage on %s', (backend) => {
  let db: TestDatabase;
  let a: Storage;
  let b: Storage;
  let alice: User;
  const deps = () => ({ storage: a, clock: new FakeClock(), random: (n: number) => randomBytes(n) });

  const totp = (id: string, userId: string, lastStep: number | null = null): MfaFactor => ({
    id, tenantId: 't1', userId, type: 'totp', label: 'Phone', secret: 'JBSWY3DPEHPK3PXP', lastStep, createdAt: T0, lastUsedAt: null,
  });
  const passkey = (id: string, userId: string, credentialId: string, counter: number): MfaFactor => ({
    id, tenantId: 't1', userId, type: 'webauthn', label: 'Laptop', credentialId, publicKey: 'pk', counter, transports: ['internal'], createdAt: T0, lastUsedAt: null,
  });

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    a = await openStorage(db.url);
    b = await openStorage(db.url, { migrate: false });
    await createTenant(deps(), { id: 't1' });
    alice = await createUser(deps(), 't1', { username: 'alice', password: 'correct horse battery' });
  }, 60_000);
  afterAll(async () => {
    await b?.close();
    await a?.close();
    await db?.drop();
  });

  it('stores factors and lists them oldest first, without mixing users or types', async () => {
    await a.mfa.create(totp('f1', alice.id));
    await a.mfa.create(passkey('f2', alice.id, 'cred-1', 0));
    expect(await b.mfa.list('t1', alice.id)).toEqual([totp('f1', alice.id), passkey('f2', alice.id, 'cred-1', 0)]);
    expect(await b.mfa.findCredential('t1', 'cred-1')).toEqual(passkey('f2', alice.id, 'cred-1', 0));
    expect(await b.mfa.findCredential('t2', 'cred-1')).toBeUndefined();
    await expect(a.mfa.create(passkey('f3', alice.id, 'cred-1', 0))).rejects.toThrow('factor already exists');
  });

  it('accepts a TOTP step once: of concurrent claims on two nodes exactly one wins, and older steps lose', async () => {
    const step = Math.floor(T0 / 30);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).mfa.useTotpStep('f1', step, T0)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await a.mfa.useTotpStep('f1', step - 1, T0)).toBe(false);
    expect(await a.mfa.useTotpStep('f1', step + 1, T0)).toBe(true);
    expect((await a.mfa.list('t1', alice.id))[0]).toMatchObject({ lastStep: step + 1, lastUsedAt: T0 });
  });

  it('uses each recovery code once across nodes; a new set replaces the old', async () => {
    const codes = ['aaaaa-bbbbb', 'ccccc-ddddd'];
    await a.mfa.replaceRecoveryCodes('t1', alice.id, codes.map(recoveryDigest), T0);
    expect(await b.mfa.recoveryCodesLeft('t1', alice.id)).toBe(2);
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).mfa.useRecoveryCode('t1', alice.id, recoveryDigest('AAAAA BBBBB'), T0)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await a.mfa.recoveryCodesLeft('t1', alice.id)).toBe(1);
    await a.mfa.replaceRecoveryCodes('t1', alice.id, [recoveryDigest('eeeee-fffff')], T0);
    expect(await a.mfa.useRecoveryCode('t1', alice.id, recoveryDigest('ccccc-ddddd'), T0)).toBe(false);
    expect(await a.mfa.useRecoveryCode('t2', alice.id, recoveryDigest('eeeee-fffff'), T0)).toBe(false);
    expect(await a.mfa.useRecoveryCode('t1', alice.id, recoveryDigest('eeeee-fffff'), T0)).toBe(true);
  });

  it('moves a passkey counter only forward (a replayed counter loses); 0 stays acceptable for counterless authenticators', async () => {
    expect(await a.mfa.useWebauthnCounter('f2', 0, T0)).toBe(true);
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).mfa.useWebauthnCounter('f2', 5, T0)));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await a.mfa.useWebauthnCounter('f2', 4, T0)).toBe(false);
    expect(await a.mfa.useWebauthnCounter('f2', 0, T0)).toBe(false);
  });

  it('keeps the tenant’s and each client’s policy', async () => {
    const c = await createClient(deps(), 't1', { name: 'Payouts', redirectUris: ['https://app.example/cb'] }, 3600);
    expect(await a.mfa.tenantPolicy('t1')).toBe('optional');
    expect(await a.mfa.tenantPolicy('nope')).toBeUndefined();
    expect(await a.mfa.setTenantPolicy('t1', 'required')).toBe(true);
    expect(await b.mfa.tenantPolicy('t1')).toBe('required');
    expect(await a.mfa.setTenantPolicy('nope', 'required')).toBe(false);
    expect(await a.mfa.clientRequires('t1', c.client.clientId)).toBe(false);
    expect(await a.mfa.setClientRequires('t1', c.client.clientId, true)).toBe(true);
    expect(await b.mfa.clientRequires('t1', c.client.clientId)).toBe(true);
    expect(await a.mfa.clientRequires('t2', c.client.clientId)).toBeUndefined();
    // An ordinary update of the client leaves the requirement alone.
    expect(await a.clients.update({ ...c.client, name: 'Payouts 2' })).toBe(true);
    expect(await a.mfa.clientRequires('t1', c.client.clientId)).toBe(true);
  });

  it('resets a user’s factors and codes at once, and a deleted user takes them along', async () => {
    expect(await a.mfa.reset('t1', alice.id)).toBe(2);
    expect(await a.mfa.list('t1', alice.id)).toEqual([]);
    expect(await a.mfa.recoveryCodesLeft('t1', alice.id)).toBe(0);
    const bob = await createUser(deps(), 't1', { username: 'bob', password: 'correct horse battery' });
    await a.mfa.create(totp('f9', bob.id));
    await a.mfa.replaceRecoveryCodes('t1', bob.id, [recoveryDigest('aaaaa-aaaaa')], T0);
    await deleteUser(deps(), 't1', 'bob');
    expect(await a.mfa.list('t1', bob.id)).toEqual([]);
    expect(await a.mfa.recoveryCodesLeft('t1', bob.id)).toBe(0);
  });
});
