/** The storage contract of what the admin API added: operators' scopes and a user's live sessions. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStorage, type Storage } from '../../src/storage/index.js';
import type { Session, Tenant, User } from '../../src/storage/types.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers.js';

const T0 = 1_800_000_000;

const tenant = (id: string): Tenant => ({ id, displayName: id, defaultAudience: null, sessionIdleSeconds: null, sessionMaxSeconds: null, personalTokenMaxDays: null, notBefore: 0,
  registration: false, requireVerifiedEmail: false, emailFrom: null, hostname: null, dcr: null, createdAt: T0, updatedAt: T0 });

const user = (tenantId: string, id: string): User => ({
  tenantId, id, username: id, email: null, emailVerified: false, name: null, passwordHash: null, disabled: false, mustChangePassword: false, createdAt: T0, updatedAt: T0,
});

const session = (key: string, userId: string, over: Partial<Session> = {}): Session => ({
  key, id: `sid-${key}`, tenantId: 't1', userId, authTime: T0, amr: ['pwd'], createdAt: T0, idleExpiresAt: T0 + 1800, expiresAt: T0 + 36_000, revokedAt: null, ...over,
});

describe.each(BACKENDS)('admin storage contract on %s', (backend) => {
  let db: TestDatabase;
  let s: Storage;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    s = await openStorage(db.url);
    await s.tenants.create(tenant('t1'), []);
    await s.users.create(user('t1', 'u1'));
    await s.users.create(user('t1', 'u2'));
  });
  afterAll(async () => {
    await s?.close();
    await db?.drop();
  });

  it('keeps the must-change-password flag', async () => {
    await s.users.update({ ...user('t1', 'u2'), mustChangePassword: true });
    expect(await s.users.get('t1', 'u2')).toEqual({ ...user('t1', 'u2'), mustChangePassword: true });
  });

  it('stores an operator’s scope: none is global, a list replaces the last, null removes it, and it goes with the user', async () => {
    expect(await s.operators.scope('u1')).toBeNull();
    await s.operators.setScope('u1', ['t2', 't1', 't2']);
    expect(await s.operators.scope('u1')).toEqual(['t1', 't2']);
    await s.operators.setScope('u1', []);
    expect(await s.operators.scope('u1')).toEqual([]);
    await Promise.all([s.operators.setScope('u1', ['a']), s.operators.setScope('u1', ['b'])]);
    expect([['a'], ['b']]).toContainEqual(await s.operators.scope('u1'));
    await s.operators.setScope('u1', null);
    expect(await s.operators.scope('u1')).toBeNull();
    await s.operators.setScope('u2', ['t1']);
    expect(await s.users.delete('t1', 'u2')).toBe(true);
    expect(await s.operators.scope('u2')).toBeNull();
  });

  it('lists a user’s live sessions newest first: not revoked, idle or absolutely expired, nor another user’s', async () => {
    await s.sessions.create(session('a', 'u1'));
    await s.sessions.create(session('b', 'u1', { createdAt: T0 + 10 }));
    await s.sessions.create(session('idle', 'u1', { idleExpiresAt: T0 + 50 }));
    await s.sessions.create(session('over', 'u1', { expiresAt: T0 + 60, idleExpiresAt: T0 + 60 }));
    await s.sessions.create(session('gone', 'u1'));
    await s.sessions.revoke('gone', T0 + 1);
    await s.users.create(user('t1', 'u3'));
    await s.sessions.create(session('other', 'u3'));
    expect((await s.sessions.listLive('t1', 'u1', T0 + 100)).map((x) => x.key)).toEqual(['b', 'a']);
    expect(await s.sessions.listLive('t1', 'u1', T0 + 100)).toEqual([session('b', 'u1', { createdAt: T0 + 10 }), session('a', 'u1')]);
    expect(await s.sessions.listLive('t2', 'u1', T0 + 100)).toEqual([]);
  });
});
