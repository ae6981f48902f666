import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKeyRecord } from '../../src/manage/keys.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import type { Api, Artifact, Client, Tenant } from '../../src/storage/types.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers.js';

const run = promisify(execFile);
const T0 = 1_800_000_000;

const tenant = (id: string): Tenant => ({ id, displayName: id, defaultAudience: null, createdAt: T0, updatedAt: T0 });

const client = (tenantId: string, clientId: string): Client => ({
  tenantId, clientId, name: `client ${clientId}`, secretDigest: 'digest', tokenEndpointAuthMethod: 'client_secret_basic',
  grantTypes: ['client_credentials'], redirectUris: ['https://app.example/cb'], postLogoutRedirectUris: [], corsOrigins: ['https://app.example'],
  scopes: ['read:avatars'], accessTokenFormat: 'jwt', accessTokenTtl: 600, consent: 'required', webPage: true,
  sessionRefreshTokens: false, jwks: null, jwksUri: null, createdAt: T0, updatedAt: T0,
});

const api = (tenantId: string, id: string, audience: string, scopes: string[]): Api => ({
  tenantId, id, audience, name: audience, accessTokenTtl: null,
  scopes: scopes.map((name) => ({ name, description: `the ${name} scope` })), createdAt: T0, updatedAt: T0,
});

const artifact = (digest: string, grantId: string | null, expiresAt = T0 + 60): Artifact => ({
  digest, tenantId: 't1', kind: 'authorization_code', grantId, clientId: 'c1', data: { redirect_uri: 'https://app.example/cb' },
  createdAt: T0, expiresAt, usedAt: null,
});

describe.each(BACKENDS)('storage contract on %s', (backend) => {
  let db: TestDatabase;
  let s: Storage;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    s = await openStorage(db.url);
    await s.tenants.create(tenant('t1'), [newKeyRecord('t1', 'access', 'ES256', T0, T0)]);
    await s.tenants.create(tenant('t2'), []);
  });
  afterAll(async () => {
    await s?.close();
    await db?.drop();
  });

  it('creates tenants atomically with their keys and refuses a duplicate id', async () => {
    expect(await s.tenants.get('t1')).toEqual(tenant('t1'));
    expect((await s.keys.list('t1')).map((k) => [k.tenantId, k.purpose, k.alg])).toEqual([['t1', 'access', 'ES256']]);
    await expect(s.tenants.create(tenant('t1'), [])).rejects.toThrow('tenant t1 already exists');
    expect((await s.tenants.list()).map((t) => t.id)).toEqual(['t1', 't2']);
  });

  it('stores clients per tenant and never shows one tenant the client of another', async () => {
    await s.clients.create(client('t1', 'c1'));
    expect(await s.clients.get('t1', 'c1')).toEqual(client('t1', 'c1'));
    expect(await s.clients.get('t2', 'c1')).toBeUndefined();
    expect(await s.clients.update({ ...client('t1', 'c1'), name: 'renamed', scopes: [] })).toBe(true);
    expect((await s.clients.get('t1', 'c1'))?.name).toBe('renamed');
    expect(await s.clients.update(client('t2', 'c1'))).toBe(false);
    await expect(s.clients.create(client('t1', 'c1'))).rejects.toThrow('already exists');
  });

  it('keeps scope names unique within a tenant and replaces scope lists atomically', async () => {
    await s.apis.create(api('t1', 'a1', 'https://avatars.example/', ['read:avatars', 'write:avatars']));
    await expect(s.apis.create(api('t1', 'a2', 'https://other.example/', ['read:avatars']))).rejects.toThrow('already exists');
    expect(await s.apis.get('t1', 'a2')).toBeUndefined();
    await expect(s.apis.create(api('t1', 'a3', 'https://avatars.example/', []))).rejects.toThrow('already exists');
    await s.apis.create(api('t2', 'a4', 'https://avatars.example/', ['read:avatars']));
    expect(await s.apis.update({ ...api('t1', 'a1', 'https://avatars.example/', ['read:avatars']), name: 'Avatars' })).toBe(true);
    expect(await s.apis.get('t1', 'a1')).toEqual({ ...api('t1', 'a1', 'https://avatars.example/', ['read:avatars']), name: 'Avatars' });
    expect((await s.apis.list('t2')).map((a) => a.id)).toEqual(['a4']);
  });

  it('bumps the config version with every change to tenants, clients, APIs and keys', async () => {
    const v0 = await s.configVersion.current();
    await s.tenants.update('t2', { displayName: 'Tenant two' }, T0 + 1);
    const v1 = await s.configVersion.current();
    await s.keys.insert(newKeyRecord('t2', 'id', 'RS256', T0, T0));
    const v2 = await s.configVersion.current();
    expect(v1).toBeGreaterThan(v0);
    expect(v2).toBeGreaterThan(v1);
  });

  it('revokes a key at once and wipes its private part', async () => {
    const [k] = await s.keys.list('t2');
    expect(await s.keys.revoke('t2', k.kid, T0 + 5)).toBe(true);
    expect(await s.keys.revoke('t2', k.kid, T0 + 6)).toBe(false);
    expect(await s.keys.list('t2')).toEqual([]);
  });

  it('consumes an artifact once: a second consume gets nothing and the row stays, marked used', async () => {
    await s.grants.ensure({ id: 'g1', tenantId: 't1', clientId: 'c1', subject: 'u1', scope: 'read:avatars', createdAt: T0, expiresAt: T0 + 3600, revokedAt: null });
    await s.artifacts.create(artifact('code-1', 'g1'));
    await expect(s.artifacts.create(artifact('code-1', 'g1'))).rejects.toThrow('already exists');
    expect(await s.artifacts.consume('authorization_code', 'code-1', T0 + 1)).toEqual({ ...artifact('code-1', 'g1'), usedAt: T0 + 1 });
    expect(await s.artifacts.consume('authorization_code', 'code-1', T0 + 2)).toBeUndefined();
    expect(await s.artifacts.find('authorization_code', 'code-1')).toEqual({ ...artifact('code-1', 'g1'), usedAt: T0 + 1 });
    expect(await s.artifacts.consume('refresh_token', 'code-1', T0 + 2)).toBeUndefined();
  });

  it('does not consume an expired artifact', async () => {
    await s.artifacts.create(artifact('code-expired', null, T0 + 10));
    expect(await s.artifacts.consume('authorization_code', 'code-expired', T0 + 10)).toBeUndefined();
    expect((await s.artifacts.find('authorization_code', 'code-expired'))?.usedAt).toBeNull();
  });

  it('gives exactly one of 50 concurrent consumers the artifact', async () => {
    await s.artifacts.create(artifact('code-race', 'g1'));
    const results = await Promise.all(Array.from({ length: 50 }, () => s.artifacts.consume('authorization_code', 'code-race', T0 + 1)));
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('gives exactly one of 50 consumers in two processes the artifact', async () => {
    await s.artifacts.create(artifact('code-race-2p', 'g1'));
    // Each process opens its own connection(s) and fires 25 concurrent consumes.
    const script = `
      const { openStorage } = await import(${JSON.stringify(new URL('../../dist/storage/index.js', import.meta.url).href)});
      const s = await openStorage(process.argv[1], { migrate: false });
      const r = await Promise.all(Array.from({ length: 25 }, () => s.artifacts.consume('authorization_code', 'code-race-2p', ${T0 + 1})));
      console.log(r.filter(Boolean).length);
      await s.close();`;
    const outs = await Promise.all([0, 1].map(() => run(process.execPath, ['--input-type=module', '-e', script, db.url])));
    const wins = outs.map((o) => Number(o.stdout.trim()));
    expect(wins.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('revoking a grant revokes its opaque tokens and unused artifacts, and keeps used ones for reuse detection', async () => {
    await s.grants.ensure({ id: 'g2', tenantId: 't1', clientId: 'c1', subject: 'u1', scope: 's', createdAt: T0, expiresAt: T0 + 3600, revokedAt: null });
    await s.accessTokens.insert({ digest: 'at-1', tenantId: 't1', grantId: 'g2', clientId: 'c1', subject: 'u1', scope: 's', audience: ['https://avatars.example/'], issuedAt: T0, expiresAt: T0 + 600, revokedAt: null });
    await s.artifacts.create(artifact('rt-unused', 'g2'));
    expect(await s.grants.revoke('g2', T0 + 5)).toBe(true);
    expect(await s.grants.revoke('g2', T0 + 6)).toBe(false);
    expect((await s.grants.get('g2'))?.revokedAt).toBe(T0 + 5);
    expect(await s.accessTokens.find('at-1')).toEqual({
      digest: 'at-1', tenantId: 't1', grantId: 'g2', clientId: 'c1', subject: 'u1', scope: 's', audience: ['https://avatars.example/'],
      issuedAt: T0, expiresAt: T0 + 600, revokedAt: T0 + 5,
    });
    expect(await s.artifacts.consume('authorization_code', 'rt-unused', T0 + 6)).toBeUndefined();
  });

  it('ensure() leaves an existing grant unchanged', async () => {
    await s.grants.ensure({ id: 'g2', tenantId: 't1', clientId: 'c1', subject: 'other', scope: 'x', createdAt: T0 + 9, expiresAt: null, revokedAt: null });
    expect((await s.grants.get('g2'))?.subject).toBe('u1');
  });

  it('cleanup removes expired tokens and artifacts but keeps used artifacts of a live grant', async () => {
    // code-1 (grant g1, live until T0+3600) expired at T0+60 but stays; code-expired (no grant) goes.
    const removed = await s.cleanup.expired(T0 + 700);
    expect(removed).toBeGreaterThanOrEqual(2);
    expect(await s.artifacts.find('authorization_code', 'code-1')).toBeDefined();
    expect(await s.artifacts.find('authorization_code', 'code-expired')).toBeUndefined();
    expect(await s.accessTokens.find('at-1')).toBeUndefined();
    await s.cleanup.expired(T0 + 3601);
    expect(await s.grants.get('g1')).toBeUndefined();
    expect(await s.artifacts.find('authorization_code', 'code-1')).toBeUndefined();
  });

  it('deleting a client removes its grants and everything under them', async () => {
    await s.grants.ensure({ id: 'g3', tenantId: 't1', clientId: 'c1', subject: null, scope: '', createdAt: T0, expiresAt: null, revokedAt: null });
    expect(await s.clients.delete('t1', 'c1')).toBe(true);
    expect(await s.clients.get('t1', 'c1')).toBeUndefined();
    expect(await s.grants.get('g3')).toBeUndefined();
    expect(await s.clients.delete('t1', 'c1')).toBe(false);
  });

  it('deleting a tenant removes everything in it', async () => {
    expect(await s.tenants.delete('t1')).toBe(true);
    expect(await s.tenants.get('t1')).toBeUndefined();
    expect(await s.keys.list('t1')).toEqual([]);
    expect(await s.apis.list('t1')).toEqual([]);
    expect((await s.apis.list('t2')).map((a) => a.id)).toEqual(['a4']);
    expect(await s.tenants.delete('t1')).toBe(false);
  });
});
