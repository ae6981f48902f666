import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKeyRecord } from '../../src/manage/keys.js';
import { openStorage, type Storage } from '../../src/storage/index.js';
import type { Api, Artifact, Client, Session, Tenant, User } from '../../src/storage/types.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../helpers.js';

const run = promisify(execFile);
const T0 = 1_800_000_000;

const tenant = (id: string): Tenant => ({ id, displayName: id, defaultAudience: null, sessionIdleSeconds: null, sessionMaxSeconds: null, personalTokenMaxDays: null, notBefore: 0,
  registration: false, requireVerifiedEmail: false, emailFrom: null, hostname: null, dcr: null, createdAt: T0, updatedAt: T0 });

const client = (tenantId: string, clientId: string): Client => ({
  tenantId, clientId, name: `client ${clientId}`, secretDigest: 'digest', tokenEndpointAuthMethod: 'client_secret_basic',
  grantTypes: ['client_credentials'], redirectUris: ['https://app.example/cb'], postLogoutRedirectUris: [], corsOrigins: ['https://app.example'],
  scopes: ['read:avatars'], accessTokenFormat: 'jwt', accessTokenTtl: 600, consent: 'required', webPage: true,
  sessionRefreshTokens: false, refreshGraceSeconds: 0, idTokenAlg: null, jwks: null, jwksUri: null,
  backchannelLogoutUri: 'https://app.example/backchannel-logout', backchannelLogoutSessionRequired: false, notBefore: 0, createdAt: T0, updatedAt: T0,
  requirePar: false, dpopBoundAccessTokens: false, tokenExchangeSubjectClients: [], tokenExchangeAudiences: [], assertionAudienceTokenEndpoint: false,
});

const api = (tenantId: string, id: string, audience: string, scopes: string[]): Api => ({
  tenantId, id, audience, name: audience, accessTokenTtl: null, secretDigest: null,
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

  it("swaps an artifact's data only from the data it still holds: one of 30 racing swaps wins; never on a used or expired one", async () => {
    const start = { interval: 5, lastPollAt: null, decision: null };
    await s.artifacts.create({ ...artifact('device-1', null), kind: 'device_code', data: start });
    const found = (await s.artifacts.find('device_code', 'device-1'))!;
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => s.artifacts.swap('device_code', 'device-1', found.data, { ...start, lastPollAt: i }, T0 + 1)));
    expect(results.filter(Boolean)).toHaveLength(1);
    const won = { ...start, lastPollAt: results.indexOf(true) };
    expect((await s.artifacts.find('device_code', 'device-1'))?.data).toEqual(won);
    // A stale expectation fails; the current one (as find returned it) succeeds.
    expect(await s.artifacts.swap('device_code', 'device-1', start, { ...start, interval: 10 }, T0 + 1)).toBe(false);
    const approved = { ...won, decision: { approved: true, userId: 'u1' } };
    expect(await s.artifacts.swap('device_code', 'device-1', (await s.artifacts.find('device_code', 'device-1'))!.data, approved, T0 + 1)).toBe(true);
    // Another kind, an expired or a used artifact: nothing changes.
    expect(await s.artifacts.swap('authorization_code', 'device-1', approved, start, T0 + 1)).toBe(false);
    expect(await s.artifacts.swap('device_code', 'device-1', approved, start, T0 + 60)).toBe(false);
    await s.artifacts.consume('device_code', 'device-1', T0 + 2);
    expect(await s.artifacts.swap('device_code', 'device-1', approved, start, T0 + 3)).toBe(false);
    expect(await s.artifacts.find('device_code', 'device-1')).toEqual({ ...artifact('device-1', null), kind: 'device_code', data: approved, usedAt: T0 + 2 });
  });

  it('lets exactly one of 30 swaps in two processes win', async () => {
    await s.artifacts.create({ ...artifact('device-2p', null), kind: 'device_code', data: { lastPollAt: null } });
    const script = `
      const { openStorage } = await import(${JSON.stringify(new URL('../../dist/storage/index.js', import.meta.url).href)});
      const s = await openStorage(process.argv[1], { migrate: false });
      const r = await Promise.all(Array.from({ length: 15 }, (_, i) => s.artifacts.swap('device_code', 'device-2p', { lastPollAt: null }, { lastPollAt: i }, ${T0 + 1})));
      console.log(r.filter(Boolean).length);
      await s.close();`;
    const outs = await Promise.all([0, 1].map(() => run(process.execPath, ['--input-type=module', '-e', script, db.url])));
    expect(outs.map((o) => Number(o.stdout.trim())).reduce((a, b) => a + b, 0)).toBe(1);
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

  it('revokes a JWT by jti idempotently (a repeat or 20 racing revocations all succeed), within its tenant only', async () => {
    expect(await s.revocations.isJtiRevoked('t1', 'jti-1')).toBe(false);
    await s.revocations.revokeJti('t1', 'jti-1', T0 + 600);
    await s.revocations.revokeJti('t1', 'jti-1', T0 + 900);
    await Promise.all(Array.from({ length: 20 }, () => s.revocations.revokeJti('t1', 'jti-2', T0 + 600)));
    expect(await Promise.all([
      s.revocations.isJtiRevoked('t1', 'jti-1'), s.revocations.isJtiRevoked('t1', 'jti-2'),
      s.revocations.isJtiRevoked('t2', 'jti-1'), s.revocations.isJtiRevoked('t1', 'jti-3'),
    ])).toEqual([true, true, false, false]);
  });

  it('revokes one opaque access token by its digest, once; its grant and siblings stay', async () => {
    await s.grants.ensure({ id: 'g4', tenantId: 't1', clientId: 'c1', subject: 'u1', scope: 's', createdAt: T0, expiresAt: T0 + 3600, revokedAt: null });
    const token = (digest: string) => ({ digest, tenantId: 't1', grantId: 'g4', clientId: 'c1', subject: 'u1', scope: 's', audience: [], issuedAt: T0, expiresAt: T0 + 600, revokedAt: null });
    await s.accessTokens.insert(token('at-4a'));
    await s.accessTokens.insert(token('at-4b'));
    expect(await s.accessTokens.revoke('at-4a', T0 + 7)).toBe(true);
    expect(await s.accessTokens.revoke('at-4a', T0 + 8)).toBe(false);
    expect(await s.accessTokens.revoke('absent', T0 + 8)).toBe(false);
    expect(await s.accessTokens.find('at-4a')).toEqual({ ...token('at-4a'), revokedAt: T0 + 7 });
    expect(await s.accessTokens.find('at-4b')).toEqual(token('at-4b'));
    expect((await s.grants.get('g4'))?.revokedAt).toBeNull();
  });

  it('looks a token up with its grant; a revoked token or grant shows at the next lookup; absent is undefined', async () => {
    await s.grants.ensure({ id: 'g5', tenantId: 't1', clientId: 'c1', subject: 'u1', scope: 's', createdAt: T0, expiresAt: T0 + 3600, revokedAt: null });
    const token = (digest: string) => ({ digest, tenantId: 't1', grantId: 'g5', clientId: 'c1', subject: 'u1', scope: 's', audience: ['https://a.example/'], issuedAt: T0, expiresAt: T0 + 600, revokedAt: null });
    await s.accessTokens.insert(token('at-5a'));
    await s.accessTokens.insert(token('at-5b'));
    expect(await s.accessTokens.lookup('at-5a')).toEqual({ ...token('at-5a'), grantRevokedAt: null });
    expect(await s.accessTokens.lookup('absent')).toBeUndefined();
    await s.accessTokens.revoke('at-5a', T0 + 7);
    expect(await s.accessTokens.lookup('at-5a')).toEqual({ ...token('at-5a'), revokedAt: T0 + 7, grantRevokedAt: null });
    await s.grants.revoke('g5', T0 + 8);
    expect(await s.accessTokens.lookup('at-5b')).toEqual({ ...token('at-5b'), revokedAt: T0 + 8, grantRevokedAt: T0 + 8 });
    // Stored after its grant was revoked (a racing replay): its own row says live, its grant does not.
    await s.accessTokens.insert(token('at-5c'));
    expect(await s.accessTokens.lookup('at-5c')).toEqual({ ...token('at-5c'), grantRevokedAt: T0 + 8 });
  });

  it('keeps the DPoP key thumbprint of a bound opaque token, for find and lookup; a bearer token has none', async () => {
    await s.grants.ensure({ id: 'g-dpop', tenantId: 't1', clientId: 'c1', subject: 'u1', scope: 's', createdAt: T0, expiresAt: T0 + 3600, revokedAt: null });
    const token = (digest: string) => ({ digest, tenantId: 't1', grantId: 'g-dpop', clientId: 'c1', subject: 'u1', scope: 's', audience: [], issuedAt: T0, expiresAt: T0 + 600, revokedAt: null });
    const jkt = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
    await s.accessTokens.insert({ ...token('at-dpop'), jkt });
    await s.accessTokens.insert(token('at-bearer'));
    expect(await s.accessTokens.find('at-dpop')).toStrictEqual({ ...token('at-dpop'), jkt });
    expect(await s.accessTokens.lookup('at-dpop')).toStrictEqual({ ...token('at-dpop'), jkt, grantRevokedAt: null });
    expect(await s.accessTokens.find('at-bearer')).toStrictEqual(token('at-bearer'));
    expect(await s.accessTokens.lookup('at-bearer')).toStrictEqual({ ...token('at-bearer'), grantRevokedAt: null });
  });

  it('answers 300 lookups made at once, repeats and absent digests included, each with its own row', async () => {
    await s.grants.ensure({ id: 'g6', tenantId: 't1', clientId: 'c1', subject: 'u1', scope: 's', createdAt: T0, expiresAt: T0 + 3600, revokedAt: null });
    const digests = Array.from({ length: 150 }, (_, i) => `at-6-${i}`);
    for (const d of digests.filter((_, i) => i % 2 === 0)) {
      await s.accessTokens.insert({ digest: d, tenantId: 't1', grantId: 'g6', clientId: 'c1', subject: d, scope: '', audience: [d], issuedAt: T0, expiresAt: T0 + 600, revokedAt: null });
    }
    const asked = [...digests, ...digests.slice().reverse()];
    const found = await Promise.all(asked.map((d) => s.accessTokens.lookup(d)));
    expect(found.map((r) => r?.subject)).toEqual(asked.map((d) => (Number(d.slice(5)) % 2 === 0 ? d : undefined)));
    expect(found[0]).not.toBe(found[299]);
    expect(found[0]?.audience).not.toBe(found[299]?.audience);
  });

  it('sees at once a token revoked by another process after this one looked it up', async () => {
    await s.grants.ensure({ id: 'g7', tenantId: 't1', clientId: 'c1', subject: 'u1', scope: 's', createdAt: T0, expiresAt: T0 + 3600, revokedAt: null });
    await s.accessTokens.insert({ digest: 'at-7', tenantId: 't1', grantId: 'g7', clientId: 'c1', subject: 'u1', scope: '', audience: [], issuedAt: T0, expiresAt: T0 + 600, revokedAt: null });
    expect((await s.accessTokens.lookup('at-7'))?.revokedAt).toBeNull();
    const script = `
      const { openStorage } = await import(${JSON.stringify(new URL('../../dist/storage/index.js', import.meta.url).href)});
      const s = await openStorage(process.argv[1], { migrate: false });
      console.log(await s.accessTokens.revoke('at-7', ${T0 + 9}));
      await s.close();`;
    expect((await run(process.execPath, ['--input-type=module', '-e', script, db.url])).stdout.trim()).toBe('true');
    expect((await s.accessTokens.lookup('at-7'))?.revokedAt).toBe(T0 + 9);
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

  it('cleanup drops a jti revocation once its token has expired, and keeps the others', async () => {
    await s.revocations.revokeJti('t1', 'jti-live', T0 + 10_000);
    await s.cleanup.expired(T0 + 3700);
    expect(await Promise.all([s.revocations.isJtiRevoked('t1', 'jti-1'), s.revocations.isJtiRevoked('t1', 'jti-live')])).toEqual([false, true]);
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
    expect(await s.revocations.isJtiRevoked('t1', 'jti-live')).toBe(false);
    expect((await s.apis.list('t2')).map((a) => a.id)).toEqual(['a4']);
    expect(await s.tenants.delete('t1')).toBe(false);
  });
});

const user = (tenantId: string, id: string, username: string): User => ({
  tenantId, id, username, email: `${id}@example.test`, emailVerified: false, name: null,
  passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA', disabled: false, mustChangePassword: false, createdAt: T0, updatedAt: T0,
});

const session = (key: string, userId: string, over: Partial<Session> = {}): Session => ({
  key, id: `sid-${key}`, tenantId: 't1', userId, authTime: T0, amr: ['pwd'], createdAt: T0,
  idleExpiresAt: T0 + 1800, expiresAt: T0 + 36_000, revokedAt: null, ...over,
});

describe.each(BACKENDS)('user, session and consent storage contract on %s', (backend) => {
  let db: TestDatabase;
  let s: Storage;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    s = await openStorage(db.url);
    await s.tenants.create(tenant('t1'), []);
    await s.tenants.create(tenant('t2'), []);
    await s.clients.create(client('t1', 'c1'));
    await s.clients.create(client('t1', 'c2'));
  });
  afterAll(async () => {
    await s?.close();
    await db?.drop();
  });

  it('finds users by id and by username case-insensitively, within their tenant only', async () => {
    await s.users.create(user('t1', 'u1', 'Alice'));
    await s.users.create(user('t1', 'u2', 'bob'));
    // "É" composed (U+00C9) here, decomposed (E + U+0301) in the lookup below.
    await s.users.create(user('t1', 'u3', '\u00c9lodie'));
    expect(await s.users.get('t1', 'u1')).toEqual(user('t1', 'u1', 'Alice'));
    expect(await s.users.get('t2', 'u1')).toBeUndefined();
    expect(await s.users.findByUsername('t1', 'aLICE')).toEqual(user('t1', 'u1', 'Alice'));
    expect((await s.users.findByUsername('t1', 'e\u0301lodie'))?.id).toBe('u3');
    expect(await s.users.findByUsername('t2', 'alice')).toBeUndefined();
    expect(await s.users.findByUsername('t1', 'alic')).toBeUndefined();
    expect((await s.users.list('t1')).map((u) => u.username)).toEqual(['Alice', 'bob', '\u00c9lodie']);
  });

  it('refuses a username taken in the tenant in any case, and allows it in another tenant', async () => {
    await expect(s.users.create(user('t1', 'u9', 'ALICE'))).rejects.toThrow('user ALICE already exists');
    await expect(s.users.create(user('t1', 'u9', 'E\u0301LODIE'))).rejects.toThrow('already exists');
    expect(await s.users.get('t1', 'u9')).toBeUndefined();
    await s.users.create(user('t2', 'u4', 'alice'));
    expect((await s.users.findByUsername('t2', 'Alice'))?.id).toBe('u4');
  });

  it('updates every field but the ids; refuses a taken username; false for an absent user', async () => {
    const changed: User = { ...user('t1', 'u2', 'Bobby'), email: null, emailVerified: true, name: 'Bob B.', passwordHash: null, disabled: true, mustChangePassword: true, updatedAt: T0 + 5 };
    expect(await s.users.update(changed)).toBe(true);
    expect(await s.users.get('t1', 'u2')).toEqual(changed);
    expect(await s.users.findByUsername('t1', 'bob')).toBeUndefined();
    expect((await s.users.findByUsername('t1', 'bobby'))?.id).toBe('u2');
    // A change of case only is no conflict with itself.
    expect(await s.users.update({ ...changed, username: 'BOBBY' })).toBe(true);
    await expect(s.users.update({ ...changed, username: 'alice' })).rejects.toThrow('user alice already exists');
    expect((await s.users.get('t1', 'u2'))?.username).toBe('BOBBY');
    expect(await s.users.update(user('t2', 'u2', 'x'))).toBe(false);
  });

  it('keeps sessions by key; caps the idle expiry at the absolute one; refuses a duplicate key', async () => {
    await s.sessions.create(session('k1', 'u1'));
    expect(await s.sessions.get('k1')).toEqual(session('k1', 'u1'));
    expect(await s.sessions.get('nope')).toBeUndefined();
    await expect(s.sessions.create(session('k1', 'u1', { id: 'other' }))).rejects.toThrow('already exists');
    await s.sessions.create(session('k-short', 'u1', { idleExpiresAt: T0 + 99_999 }));
    expect((await s.sessions.get('k-short'))?.idleExpiresAt).toBe(T0 + 36_000);
  });

  it('touch extends the idle expiry, never past the absolute expiry, never backwards, never of a revoked session', async () => {
    await s.sessions.touch('k1', T0 + 3600);
    expect((await s.sessions.get('k1'))?.idleExpiresAt).toBe(T0 + 3600);
    await s.sessions.touch('k1', T0 + 2000);
    expect((await s.sessions.get('k1'))?.idleExpiresAt).toBe(T0 + 3600);
    await s.sessions.touch('k1', T0 + 50_000);
    expect((await s.sessions.get('k1'))?.idleExpiresAt).toBe(T0 + 36_000);
    await s.sessions.create(session('k2', 'u1'));
    expect(await s.sessions.revoke('k2', T0 + 10)).toBe(true);
    expect(await s.sessions.revoke('k2', T0 + 11)).toBe(false);
    expect(await s.sessions.revoke('absent', T0 + 11)).toBe(false);
    await s.sessions.touch('k2', T0 + 3600);
    expect(await s.sessions.get('k2')).toEqual(session('k2', 'u1', { revokedAt: T0 + 10 }));
    await s.sessions.touch('absent', T0 + 3600);
  });

  it('getById finds a session by its public id within its tenant only, revoked or not', async () => {
    expect(await s.sessions.getById('t1', 'sid-k1')).toEqual(await s.sessions.get('k1'));
    expect(await s.sessions.getById('t1', 'sid-k2')).toEqual(session('k2', 'u1', { revokedAt: T0 + 10 }));
    await s.sessions.create(session('k-t2', 'u4', { tenantId: 't2' }));
    expect(await s.sessions.getById('t2', 'sid-k-t2')).toEqual(session('k-t2', 'u4', { tenantId: 't2' }));
    expect(await s.sessions.getById('t1', 'sid-k-t2')).toBeUndefined();
    expect(await s.sessions.getById('t1', 'k1')).toBeUndefined();
  });

  it('revokeAllForUser revokes every unrevoked session of that user alone and names the live ones', async () => {
    await s.sessions.create(session('k3', 'u1'));
    await s.sessions.create(session('k-idle', 'u1', { idleExpiresAt: T0 + 60 }));
    await s.sessions.create(session('k-bob', 'u2'));
    // Live at T0+100: k1, k-short, k3; k-idle is past its idle expiry; k2 was revoked before.
    expect(await s.sessions.revokeAllForUser('t1', 'u1', T0 + 100)).toEqual(['sid-k-short', 'sid-k1', 'sid-k3']);
    for (const key of ['k1', 'k-short', 'k3', 'k-idle']) expect((await s.sessions.get(key))?.revokedAt, key).toBe(T0 + 100);
    expect((await s.sessions.get('k2'))?.revokedAt).toBe(T0 + 10);
    expect((await s.sessions.get('k-bob'))?.revokedAt).toBeNull();
    expect(await s.sessions.revokeAllForUser('t2', 'u2', T0 + 100)).toEqual([]);
    expect(await s.sessions.revokeAllForUser('t1', 'u1', T0 + 101)).toEqual([]);
  });

  it('revokeAllForUser can spare one session (the one a password was changed in)', async () => {
    await s.sessions.create(session('k5', 'u1'));
    await s.sessions.create(session('k6', 'u1'));
    expect(await s.sessions.revokeAllForUser('t1', 'u1', T0 + 200, 'k6')).toEqual(['sid-k5']);
    expect((await s.sessions.get('k6'))?.revokedAt).toBeNull();
    expect((await s.sessions.get('k5'))?.revokedAt).toBe(T0 + 200);
  });

  it('remembers consent as the sorted union of every scope approved, per user and client', async () => {
    expect(await s.consents.get('t1', 'u1', 'c1')).toBeUndefined();
    await s.consents.remember('t1', 'u1', 'c1', ['read:avatars', 'openid'], T0);
    await s.consents.remember('t1', 'u1', 'c1', ['profile', 'openid'], T0 + 5);
    expect(await s.consents.get('t1', 'u1', 'c1')).toEqual({
      tenantId: 't1', userId: 'u1', clientId: 'c1', scopes: ['openid', 'profile', 'read:avatars'], createdAt: T0, updatedAt: T0 + 5,
    });
    await s.consents.remember('t1', 'u1', 'c2', [], T0);
    expect((await s.consents.get('t1', 'u1', 'c2'))?.scopes).toEqual([]);
    expect(await s.consents.get('t1', 'u2', 'c1')).toBeUndefined();
    expect(await s.consents.revoke('t1', 'u1', 'c2')).toBe(true);
    expect(await s.consents.revoke('t1', 'u1', 'c2')).toBe(false);
    expect(await s.consents.get('t1', 'u1', 'c2')).toBeUndefined();
  });

  it('loses no scope when 30 remember() calls race on one consent', async () => {
    const scopes = Array.from({ length: 30 }, (_, i) => `s${String(i).padStart(2, '0')}`);
    await Promise.all(scopes.map((scope, i) => s.consents.remember('t1', 'u2', 'c1', [scope, 'openid'], T0 + i)));
    expect((await s.consents.get('t1', 'u2', 'c1'))?.scopes).toEqual(['openid', ...scopes]);
  });

  it('loses no scope when two processes remember different scopes on one consent at once', async () => {
    const script = `
      const { openStorage } = await import(${JSON.stringify(new URL('../../dist/storage/index.js', import.meta.url).href)});
      const s = await openStorage(process.argv[1], { migrate: false });
      await Promise.all(Array.from({ length: 10 }, (_, i) => s.consents.remember('t1', 'u2', 'c2', [process.argv[2] + i], ${T0})));
      await s.close();`;
    await Promise.all(['a', 'b'].map((prefix) => run(process.execPath, ['--input-type=module', '-e', script, db.url, prefix])));
    const expected = ['a', 'b'].flatMap((p) => Array.from({ length: 10 }, (_, i) => `${p}${i}`)).sort();
    expect((await s.consents.get('t1', 'u2', 'c2'))?.scopes).toEqual(expected);
  });

  it('cleanup removes sessions past their absolute expiry, revoked or not, and keeps the others', async () => {
    await s.sessions.create(session('k-old', 'u2', { expiresAt: T0 + 200, idleExpiresAt: T0 + 200 }));
    await s.sessions.create(session('k-old-revoked', 'u2', { expiresAt: T0 + 200, idleExpiresAt: T0 + 100, revokedAt: T0 + 1 }));
    expect(await s.cleanup.expired(T0 + 200)).toBe(2);
    expect(await s.sessions.get('k-old')).toBeUndefined();
    expect(await s.sessions.get('k-old-revoked')).toBeUndefined();
    expect(await s.sessions.get('k-bob')).toBeDefined();
  });

  it('deleting a user removes their sessions, consents and grants with what was issued under them, and nobody else\'s', async () => {
    const grant = (id: string, subject: string | null) => ({ id, tenantId: 't1', clientId: 'c1', subject, scope: 's', createdAt: T0, expiresAt: null, revokedAt: null });
    await s.grants.ensure(grant('g-u1', 'u1'));
    await s.grants.ensure(grant('g-u2', 'u2'));
    await s.grants.ensure(grant('g-client', null));
    await s.accessTokens.insert({ digest: 'at-u1', tenantId: 't1', grantId: 'g-u1', clientId: 'c1', subject: 'u1', scope: 's', audience: [], issuedAt: T0, expiresAt: T0 + 600, revokedAt: null });
    await s.artifacts.create(artifact('rt-u1', 'g-u1'));
    await s.sessions.create(session('k-u1', 'u1'));

    expect(await s.users.delete('t2', 'u1')).toBe(false);
    expect(await s.users.get('t1', 'u1')).toBeDefined();
    expect(await s.users.delete('t1', 'u1')).toBe(true);
    expect(await s.users.get('t1', 'u1')).toBeUndefined();
    expect(await s.users.findByUsername('t1', 'alice')).toBeUndefined();
    for (const key of ['k1', 'k3', 'k-u1']) expect(await s.sessions.get(key), key).toBeUndefined();
    expect(await s.consents.get('t1', 'u1', 'c1')).toBeUndefined();
    expect(await s.grants.get('g-u1')).toBeUndefined();
    expect(await s.accessTokens.find('at-u1')).toBeUndefined();
    expect(await s.artifacts.find('authorization_code', 'rt-u1')).toBeUndefined();
    // Another user's rows, and a grant with no user, stay.
    expect(await s.grants.get('g-u2')).toBeDefined();
    expect(await s.grants.get('g-client')).toBeDefined();
    expect(await s.sessions.get('k-bob')).toBeDefined();
    expect(await s.consents.get('t1', 'u2', 'c1')).toBeDefined();
    expect(await s.users.delete('t1', 'u1')).toBe(false);
    // The username is free again.
    await s.users.create(user('t1', 'u5', 'alice'));
  });

  it('deleting a client removes the consents given to it; deleting a tenant removes its users and their sessions', async () => {
    expect(await s.clients.delete('t1', 'c1')).toBe(true);
    expect(await s.consents.get('t1', 'u2', 'c1')).toBeUndefined();
    expect(await s.consents.get('t1', 'u2', 'c2')).toBeDefined();
    expect(await s.tenants.delete('t1')).toBe(true);
    expect(await s.users.list('t1')).toEqual([]);
    expect(await s.sessions.get('k-bob')).toBeUndefined();
    expect(await s.consents.get('t1', 'u2', 'c2')).toBeUndefined();
    expect((await s.users.list('t2')).map((u) => u.id)).toEqual(['u4']);
  });
});

describe.each(BACKENDS)('account page storage contract on %s', (backend) => {
  let db: TestDatabase;
  let s: Storage;
  const user = (id: string): User => ({
    tenantId: 'a1', id, username: id, email: null, emailVerified: false, name: null, passwordHash: null, disabled: false, mustChangePassword: false, createdAt: T0, updatedAt: T0,
  });
  const grant = (id: string, clientId: string, subject: string, expiresAt: number | null = T0 + 3600) => ({
    id, tenantId: 'a1', clientId, subject, scope: 'read:avatars', createdAt: T0, expiresAt, revokedAt: null,
  });

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    s = await openStorage(db.url);
    await s.tenants.create(tenant('a1'), []);
    await s.clients.create(client('a1', 'app'));
    await s.clients.create(client('a1', 'other'));
    await s.users.create(user('u1'));
    await s.users.create(user('u2'));
  });
  afterAll(async () => {
    await s?.close();
    await db?.drop();
  });

  it("lists a user's live grants only, and revokes every grant of one user and client with their tokens and unused artifacts", async () => {
    await s.grants.ensure(grant('g1', 'app', 'u1'));
    await s.grants.ensure(grant('g2', 'app', 'u1', null));
    await s.grants.ensure(grant('g3', 'other', 'u1'));
    await s.grants.ensure(grant('g4', 'app', 'u2'));
    await s.grants.ensure(grant('g5', 'app', 'u1', T0 - 1));
    expect((await s.grants.listLive('a1', 'u1', T0)).map((g) => g.id)).toEqual(['g1', 'g2', 'g3']);
    await s.accessTokens.insert({ digest: 'at1', tenantId: 'a1', grantId: 'g1', clientId: 'app', subject: 'u1', scope: '', audience: [], issuedAt: T0, expiresAt: T0 + 60, revokedAt: null });
    await s.accessTokens.insert({ digest: 'at4', tenantId: 'a1', grantId: 'g4', clientId: 'app', subject: 'u2', scope: '', audience: [], issuedAt: T0, expiresAt: T0 + 60, revokedAt: null });
    await s.artifacts.create({ ...artifact('rt2', 'g2'), tenantId: 'a1', kind: 'refresh_token', clientId: 'app' });

    expect(await s.grants.revokeForClient('a1', 'u1', 'app', T0 + 5)).toBe(3);
    expect((await s.grants.listLive('a1', 'u1', T0)).map((g) => g.id)).toEqual(['g3']);
    expect((await s.accessTokens.find('at1'))?.revokedAt).toBe(T0 + 5);
    expect((await s.artifacts.find('refresh_token', 'rt2'))?.usedAt).toBe(T0 + 5);
    // Another user's grant of the same client is untouched.
    expect((await s.accessTokens.find('at4'))?.revokedAt).toBeNull();
    expect((await s.grants.get('g4'))?.revokedAt).toBeNull();
    expect(await s.grants.revokeForClient('a1', 'u1', 'app', T0 + 6)).toBe(0);
  });

  it("lists a user's remembered consents", async () => {
    await s.consents.remember('a1', 'u1', 'other', ['b', 'a'], T0);
    await s.consents.remember('a1', 'u1', 'app', ['a'], T0);
    await s.consents.remember('a1', 'u2', 'app', ['c'], T0);
    expect((await s.consents.listForUser('a1', 'u1')).map((c) => [c.clientId, c.scopes])).toEqual([['app', ['a']], ['other', ['a', 'b']]]);
    expect(await s.consents.listForUser('a1', 'nobody')).toEqual([]);
  });

  it('lists personal tokens while their grant lives, newest first, and drops them with their grant or user', async () => {
    const token = (grantId: string, userId: string, createdAt: number) => ({
      grantId, tenantId: 'a1', userId, clientId: 'other', name: `token ${grantId}`, scopes: ['read:avatars'], createdAt, expiresAt: T0 + 3600,
    });
    for (const [id, u, at] of [['p1', 'u1', T0], ['p2', 'u1', T0 + 1], ['p3', 'u2', T0]] as const) {
      await s.grants.ensure(grant(id, 'other', u));
      await s.personalTokens.create(token(id, u, at));
    }
    await expect(s.personalTokens.create(token('p1', 'u1', T0))).rejects.toThrow('already exists');
    expect(await s.personalTokens.listLive('a1', 'u1', T0)).toEqual([token('p2', 'u1', T0 + 1), token('p1', 'u1', T0)]);
    await s.grants.revoke('p2', T0 + 2);
    expect((await s.personalTokens.listLive('a1', 'u1', T0 + 2)).map((t) => t.grantId)).toEqual(['p1']);
    expect(await s.personalTokens.listLive('a1', 'u1', T0 + 3600)).toEqual([]);
    // Cleanup of the expired grant takes the name with it; deleting the user takes theirs.
    await s.cleanup.expired(T0 + 3600);
    expect(await s.grants.get('p1')).toBeUndefined();
    expect(await s.users.delete('a1', 'u2')).toBe(true);
    expect(await s.personalTokens.listLive('a1', 'u2', T0)).toEqual([]);
  });
});
