import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/manage/clients.js';
import { createTenant, deleteTenant } from '../../src/manage/tenants.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import type { InitialAccessToken } from '../../src/storage/types.js';
import { BACKENDS, createTestDatabase, FakeClock, type TestDatabase } from '../helpers.js';

const T0 = Math.floor(Date.UTC(2026, 0, 1) / 1000);

const token = (id: string, over: Partial<InitialAccessToken> = {}): InitialAccessToken => ({
  id, tenantId: 't1', expiresAt: null, maxUses: null, uses: 0, revoked: false, createdAt: T0, ...over,
});

describe.each(BACKENDS)('dynamic registration storage contract on %s', (backend) => {
  let db: TestDatabase;
  let s: Storage;
  const deps = () => ({ storage: s, clock: new FakeClock(), random: (n: number) => randomBytes(n) });

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    s = await openStorage(db.url);
    await createTenant(deps(), { id: 't1' });
    await createTenant(deps(), { id: 't2' });
  }, 60_000);
  afterAll(async () => {
    await s?.close();
    await db?.drop();
  });

  it('finds a live initial access token by digest within its tenant only', async () => {
    await s.dcr.createInitialToken(token('a', { expiresAt: T0 + 60 }), 'digest-a');
    expect(await s.dcr.findInitialToken('t1', 'digest-a', T0)).toEqual(token('a', { expiresAt: T0 + 60 }));
    expect(await s.dcr.findInitialToken('t2', 'digest-a', T0)).toBeUndefined();
    expect(await s.dcr.findInitialToken('t1', 'digest-a', T0 + 60)).toBeUndefined();
    expect(await s.dcr.useInitialToken('t1', 'a', T0 + 60)).toBe(false);
  });

  it('counts uses with a conditional update: concurrent uses never exceed max_uses', async () => {
    await s.dcr.createInitialToken(token('b', { maxUses: 3 }), 'digest-b');
    const wins = await Promise.all(Array.from({ length: 10 }, () => s.dcr.useInitialToken('t1', 'b', T0)));
    expect(wins.filter(Boolean)).toHaveLength(3);
    expect(await s.dcr.findInitialToken('t1', 'digest-b', T0)).toBeUndefined();
  });

  it('revokes a token and lists every token of the tenant', async () => {
    await s.dcr.createInitialToken(token('c'), 'digest-c');
    expect(await s.dcr.revokeInitialToken('t1', 'c')).toBe(true);
    expect(await s.dcr.revokeInitialToken('t2', 'c')).toBe(false);
    expect(await s.dcr.useInitialToken('t1', 'c', T0)).toBe(false);
    expect((await s.dcr.listInitialTokens('t1')).map((t) => [t.id, t.uses, t.revoked])).toEqual([['a', 0, false], ['b', 3, false], ['c', 0, true]]);
  });

  it('keeps one registration access token digest per client, replaced on rotation, gone with the client or the tenant', async () => {
    const { client } = await createClient(deps(), 't1', { name: 'registered' }, 3600);
    await s.dcr.setRegistration('t1', client.clientId, 'rat-1');
    await s.dcr.setRegistration('t1', client.clientId, 'rat-2');
    expect(await s.dcr.registrationDigest('t1', client.clientId)).toBe('rat-2');
    const rotations = await Promise.all(['rat-3a', 'rat-3b', 'rat-3c'].map((d) => s.dcr.rotateRegistration('t1', client.clientId, 'rat-2', d)));
    expect(rotations.filter(Boolean)).toHaveLength(1);
    expect(await s.dcr.rotateRegistration('t1', client.clientId, 'rat-2', 'rat-4')).toBe(false);
    expect(await s.dcr.registrationDigest('t2', client.clientId)).toBeUndefined();
    await s.clients.delete('t1', client.clientId);
    expect(await s.dcr.registrationDigest('t1', client.clientId)).toBeUndefined();

    const other = (await createClient(deps(), 't2', { name: 'other' }, 3600)).client;
    await s.dcr.setRegistration('t2', other.clientId, 'rat-3');
    await s.dcr.createInitialToken(token('d', { tenantId: 't2' }), 'digest-d');
    await deleteTenant(deps(), 't2');
    expect(await s.dcr.registrationDigest('t2', other.clientId)).toBeUndefined();
    expect(await s.dcr.listInitialTokens('t2')).toEqual([]);
  });
});
