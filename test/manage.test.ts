/**
 * The management layer (src/manage) that the CLI and the admin API share, in process:
 * what it refuses, with which message, and what it stores and returns.
 */
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, SIGNING_ALGS } from '../src/crypto/jwk.js';
import { identifier } from '../src/crypto/random.js';
import { createApi, deleteApi, requireApi, updateApi } from '../src/manage/apis.js';
import { createClient, requireClient, updateClient } from '../src/manage/clients.js';
import { createTenant, ensureDefaultTenant, type ManageDeps } from '../src/manage/tenants.js';
import { openStorage, type Storage } from '../src/storage/index.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './helpers.js';

const MAX_TTL = 86_400;
const EC_PUBLIC = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', use: 'sig', kid: 'app-key-1' };

describe('identifiers', () => {
  const fixed = (byte: number) => (n: number) => Buffer.alloc(n, byte);

  it('never start with "-" or "_", even from random bytes whose base64url would', () => {
    // 0xf8… encodes as "-…" and 0xfc… as "_…" in base64url.
    expect(Buffer.alloc(16, 0xf8).toString('base64url')[0]).toBe('-');
    expect(Buffer.alloc(16, 0xfc).toString('base64url')[0]).toBe('_');
    for (const byte of [0x00, 0xf8, 0xfb, 0xfc, 0xff]) {
      expect(identifier(fixed(byte))).toMatch(/^[A-Za-z0-9][A-Za-z0-9_-]{21}$/);
    }
    const ids = Array.from({ length: 20_000 }, () => identifier((n) => randomBytes(n)));
    expect(ids.filter((id) => !/^[A-Za-z0-9][A-Za-z0-9_-]{21}$/.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('carry at least 128 random bits: every bit of 126 of them, and the first byte, shows in the id', () => {
    const requested: number[] = [];
    const base = randomBytes(64);
    const source = (bytes: Buffer) => (n: number) => {
      requested.push(n);
      return Buffer.from(bytes.subarray(0, n));
    };
    const id = identifier(source(base));
    const total = requested.reduce((a, b) => a + b, 0);
    let significant = 0;
    for (let bit = 8; bit < total * 8; bit++) {
      const flipped = Buffer.from(base);
      flipped[bit >> 3] ^= 0x80 >> (bit & 7);
      if (identifier(source(flipped)) !== id) significant++;
    }
    expect(significant).toBeGreaterThanOrEqual(126);
    // The first character takes one of 62 values from the first byte: ~5.95 bits more.
    const firsts = new Set(Array.from({ length: 256 }, (_, b) => identifier(source(Buffer.concat([Buffer.from([b]), base.subarray(1)])))[0]));
    expect(firsts.size).toBe(62);
  });
});

describe('signing key ids', () => {
  it('are {alg}-{RFC 7638 thumbprint}: unique, starting with a letter, the same on the private and public JWK', async () => {
    const kids = new Set<string>();
    for (const alg of SIGNING_ALGS) {
      for (let i = 0; i < 2; i++) {
        const { privateJwk, publicJwk } = generateSigningKey(alg);
        expect(publicJwk.kid).toBe(`${alg.toLowerCase()}-${await calculateJwkThumbprint(publicJwk as never, 'sha256')}`);
        expect(publicJwk.kid).toMatch(/^[a-z][a-z0-9]*-[A-Za-z0-9_-]{43}$/);
        expect(privateJwk.kid).toBe(publicJwk.kid);
        kids.add(publicJwk.kid);
      }
    }
    expect(kids.size).toBe(SIGNING_ALGS.length * 2);
  });
});

describe.each(BACKENDS)('management on %s', (backend) => {
  let database: TestDatabase;
  let storage: Storage;
  let deps: ManageDeps;

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    storage = await openStorage(database.url);
    deps = { storage, clock: { now: () => Date.now() }, random: (n) => randomBytes(n) };
    await ensureDefaultTenant(deps);
  });
  afterAll(async () => {
    await storage?.close();
    await database?.drop();
  });

  describe('tenants', () => {
    it('names the tenant id in the message when refusing one', async () => {
      for (const id of ['bad id!', '', '-leading', 'x'.repeat(65)]) {
        await expect(createTenant(deps, { id })).rejects.toThrow(
          /^tenant id must be 1–64 letters, digits, "\.", "_" or "-", starting with a letter or digit$/,
        );
      }
      expect((await storage.tenants.list()).map((t) => t.id)).toEqual(['default']);
    });

    it('gives a new tenant signing keys whose kids start with their algorithm', async () => {
      await createTenant(deps, { id: 'kids' });
      const kids = (await storage.keys.list('kids')).map((k) => k.kid).sort();
      expect(kids).toEqual([expect.stringMatching(/^es256-[A-Za-z0-9_-]{43}$/), expect.stringMatching(/^rs256-[A-Za-z0-9_-]{43}$/)]);
    });
  });

  describe('client JWKS', () => {
    const create = (jwks: unknown, extra: object = {}) => createClient(deps, 'default', { name: 'jwks', jwks: jwks as object, ...extra }, MAX_TTL);

    it('refuses every private member a JWK can have, naming the key and the member', async () => {
      const members = { d: 'ZA', p: 'cA', q: 'cQ', dp: 'ZHA', dq: 'ZHE', qi: 'cWk', oth: [{ r: 'cg', d: 'ZA', t: 'dA' }], k: 'aw' };
      for (const [member, value] of Object.entries(members)) {
        await expect(create({ keys: [EC_PUBLIC, { ...EC_PUBLIC, kid: 'two', [member]: value }] })).rejects.toThrow(
          new RegExp(`^jwks must contain public keys only; key 1 has private member ${member}$`),
        );
      }
      await expect(create({ keys: [{ kty: 'oct', k: 'c2VjcmV0', alg: 'HS256' }] })).rejects.toThrow(/^jwks must contain public keys only; key 0 has private member k$/);
      expect(await storage.clients.list('default')).toEqual([]);
    });

    it('refuses a key without kty, a key that is not an object, and a set without keys', async () => {
      await expect(create({ keys: [EC_PUBLIC, { crv: 'P-256', x: EC_PUBLIC.x, y: EC_PUBLIC.y }] })).rejects.toThrow(/^jwks key 1 has no kty$/);
      await expect(create({ keys: [{ ...EC_PUBLIC, kty: '' }] })).rejects.toThrow(/^jwks key 0 has no kty$/);
      await expect(create({ keys: ['EC'] })).rejects.toThrow(/^jwks key 0 must be a JSON object$/);
      await expect(create({ keys: [null] })).rejects.toThrow(/^jwks key 0 must be a JSON object$/);
      await expect(create([EC_PUBLIC])).rejects.toThrow(/^jwks must be a JSON Web Key Set/);
      await expect(create(null)).rejects.toThrow(/^jwks must be a JSON Web Key Set/);
      expect(await storage.clients.list('default')).toEqual([]);
    });

    it('refuses private members on update too, leaving the client as it was', async () => {
      const { client } = await create({ keys: [EC_PUBLIC] });
      await expect(updateClient(deps, 'default', client.clientId, { jwks: { keys: [{ ...EC_PUBLIC, d: 'ZA' }] } }, MAX_TTL)).rejects.toThrow(
        /^jwks must contain public keys only; key 0 has private member d$/,
      );
      expect(await requireClient(deps, 'default', client.clientId)).toEqual(client);
      await storage.clients.delete('default', client.clientId);
    });

    it('keeps jwks_uri and jwks exclusive (RFC 7591 §2): both at once is refused, setting one clears the other', async () => {
      await expect(create({ keys: [EC_PUBLIC] }, { jwksUri: 'https://app.example.com/jwks.json' })).rejects.toThrow(
        /^give a jwks URI or a jwks, not both \(RFC 7591 §2\)$/,
      );
      const { client } = await create(undefined, { jwksUri: 'https://app.example.com/jwks.json' });
      expect(client).toMatchObject({ jwksUri: 'https://app.example.com/jwks.json', jwks: null });

      const toJwks = await updateClient(deps, 'default', client.clientId, { jwks: { keys: [EC_PUBLIC] } }, MAX_TTL);
      expect(toJwks).toMatchObject({ jwksUri: null, jwks: { keys: [EC_PUBLIC] } });
      expect(await requireClient(deps, 'default', client.clientId)).toMatchObject({ jwksUri: null, jwks: { keys: [EC_PUBLIC] } });

      const toUri = await updateClient(deps, 'default', client.clientId, { jwksUri: 'https://app.example.com/v2/jwks.json' }, MAX_TTL);
      expect(toUri).toMatchObject({ jwksUri: 'https://app.example.com/v2/jwks.json', jwks: null });
      expect(await requireClient(deps, 'default', client.clientId)).toMatchObject({ jwksUri: 'https://app.example.com/v2/jwks.json', jwks: null });

      await expect(
        updateClient(deps, 'default', client.clientId, { jwks: { keys: [EC_PUBLIC] }, jwksUri: 'https://app.example.com/jwks.json' }, MAX_TTL),
      ).rejects.toThrow(/^give a jwks URI or a jwks, not both/);
      expect(await requireClient(deps, 'default', client.clientId)).toEqual(toUri);
      await storage.clients.delete('default', client.clientId);
    });
  });

  describe('APIs', () => {
    const tenant = 'apis';
    beforeAll(async () => {
      await createTenant(deps, { id: tenant });
    });

    it('returns scopes from create and update in name order, the order show and list give', async () => {
      const api = await createApi(deps, tenant, { audience: 'https://order.example.com/', scopes: ['write:b', 'admin', 'read:a=Read A', 'Zeta', 'read_a'] }, MAX_TTL);
      const names = ['Zeta', 'admin', 'read:a', 'read_a', 'write:b'];
      expect(api.scopes.map((s) => s.name)).toEqual(names);
      expect((await requireApi(deps, tenant, api.id)).scopes).toEqual(api.scopes);
      expect((await storage.apis.list(tenant)).find((a) => a.id === api.id)?.scopes).toEqual(api.scopes);

      const updated = await updateApi(deps, tenant, api.id, { scopes: ['z:last', 'a:first', 'm:middle=Middle'] }, MAX_TTL);
      expect(updated.scopes).toEqual([
        { name: 'a:first', description: 'a:first' },
        { name: 'm:middle', description: 'Middle' },
        { name: 'z:last', description: 'z:last' },
      ]);
      expect(await requireApi(deps, tenant, api.id)).toEqual(updated);
      expect(await deleteApi(deps, tenant, 'https://order.example.com/')).toEqual(updated);
    });

    it('says which audience or scope is taken, by which API, on create and on update; its own are no conflict', async () => {
      const avatars = await createApi(deps, tenant, { audience: 'https://avatars.example.com/', scopes: ['read:avatars', 'write:avatars'] }, MAX_TTL);
      const media = await createApi(deps, tenant, { audience: 'urn:example:media', scopes: ['read:media'] }, MAX_TTL);

      await expect(createApi(deps, tenant, { audience: 'https://avatars.example.com/', scopes: ['fresh'] }, MAX_TTL)).rejects.toMatchObject({
        message: 'tenant apis already has an API with audience https://avatars.example.com/', code: 'conflict',
      });
      await expect(createApi(deps, tenant, { audience: 'https://other.example.com/', scopes: ['other', 'write:avatars'] }, MAX_TTL)).rejects.toMatchObject({
        message: 'scope write:avatars is already defined by API https://avatars.example.com/ in tenant apis', code: 'conflict',
      });
      await expect(updateApi(deps, tenant, media.id, { audience: 'https://avatars.example.com/' }, MAX_TTL)).rejects.toMatchObject({
        message: 'tenant apis already has an API with audience https://avatars.example.com/', code: 'conflict',
      });
      await expect(updateApi(deps, tenant, 'urn:example:media', { scopes: ['read:media', 'read:avatars'] }, MAX_TTL)).rejects.toMatchObject({
        message: 'scope read:avatars is already defined by API https://avatars.example.com/ in tenant apis', code: 'conflict',
      });
      // The same scope names and audience in another tenant are no conflict.
      await createApi(deps, 'default', { audience: 'https://avatars.example.com/', scopes: ['read:avatars'] }, MAX_TTL);

      const same = await updateApi(deps, tenant, avatars.id, { audience: avatars.audience, scopes: ['write:avatars', 'read:avatars'] }, MAX_TTL);
      expect(same).toEqual({ ...avatars, updatedAt: same.updatedAt });
      // list() orders by creation second, then by id: created in one second, these two may come either way.
      expect(await storage.apis.list(tenant)).toEqual(expect.arrayContaining([same, media]));
      expect(await storage.apis.list(tenant)).toHaveLength(2);
    });

    it('still refuses a clash the pre-check missed (a concurrent writer), through the database constraint, with the same message', async () => {
      const owner = await createApi(deps, tenant, { audience: 'https://race.example.com/', scopes: ['race:read'] }, MAX_TTL);
      // A store whose first list() predates the owner's insert, as if both writers checked at once.
      const racing = (listCalls: number): ManageDeps => {
        let calls = 0;
        const apis = { ...storage.apis, list: async (t: string) => (++calls <= listCalls ? [] : storage.apis.list(t)) };
        return { ...deps, storage: { ...storage, apis } };
      };
      await expect(createApi(racing(1), tenant, { audience: 'https://race.example.com/' }, MAX_TTL)).rejects.toMatchObject({
        message: 'tenant apis already has an API with audience https://race.example.com/', code: 'conflict',
      });
      await expect(createApi(racing(1), tenant, { audience: 'https://race2.example.com/', scopes: ['race:read'] }, MAX_TTL)).rejects.toMatchObject({
        message: 'scope race:read is already defined by API https://race.example.com/ in tenant apis', code: 'conflict',
      });
      // Should the clash be gone again by the time it is looked for, the constraint's own conflict stands.
      await expect(createApi(racing(Infinity), tenant, { audience: 'https://race.example.com/' }, MAX_TTL)).rejects.toMatchObject({ code: 'conflict' });
      expect((await storage.apis.list(tenant)).filter((a) => a.audience.includes('race'))).toEqual([owner]);
    });

    it('deletes by id or audience and returns the API it deleted', async () => {
      const api = await createApi(deps, tenant, { audience: 'https://gone.example.com/', scopes: ['gone'] }, MAX_TTL);
      expect(await deleteApi(deps, tenant, 'https://gone.example.com/')).toEqual(api);
      await expect(requireApi(deps, tenant, api.id)).rejects.toMatchObject({ code: 'not_found', message: `tenant apis has no API ${api.id}` });
    });
  });
});
