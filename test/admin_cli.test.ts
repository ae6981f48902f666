/**
 * CLI parity for the admin API's operations added with it (issue 6): `client rotate-secret`,
 * `user … --must-change-password`, operators' scopes, and the built-in admin tenant.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest } from '../src/crypto/digest.js';
import { openStorage } from '../src/storage/index.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './helpers.js';
import { runTessera } from './support/server.js';

const SECRET = expect.stringMatching(/^[A-Za-z0-9_-]{43}$/);

describe.each(BACKENDS)('admin CLI commands on %s', (backend) => {
  let database: TestDatabase;
  let env: NodeJS.ProcessEnv;
  const run = (args: string[], stdin = '') => runTessera(env, [...args.slice(0, args.includes('--') ? args.indexOf('--') : undefined), '--json', ...(args.includes('--') ? args.slice(args.indexOf('--')) : [])], stdin);
  const ok = async (args: string[], stdin = '') => {
    const r = await run(args, stdin);
    expect(r, args.join(' ')).toEqual({ code: 0, stdout: expect.stringMatching(/^\{.*\}\n$/), stderr: '' });
    return JSON.parse(r.stdout);
  };

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    env = { PATH: process.env.PATH, DATABASE_URL: database.url, TESSERA_PUBLIC_URL: 'http://tessera.test' };
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('client rotate-secret gives a secret client a new secret, shown once, and refuses a public one', async () => {
    const created = await ok(['client', 'create', '--tenant', 'default', '--name', 'Billing', '--grant-types', 'client_credentials']);
    const rotated = await ok(['client', 'rotate-secret', '--tenant', 'default', '--', created.client_id]);
    const { client_secret: _old, ...view } = created;
    expect(rotated).toEqual({ ...view, client_secret: SECRET, updated_at: expect.any(Number) });
    expect(rotated.client_secret).not.toBe(created.client_secret);
    const storage = await openStorage(database.url);
    try {
      expect((await storage.clients.get('default', created.client_id))!.secretDigest).toBe(digest(rotated.client_secret));
    } finally {
      await storage.close();
    }
    const spa = await ok(['client', 'create', '--tenant', 'default', '--name', 'SPA', '--public', '--redirect-uri', 'https://spa.example/cb']);
    expect(await run(['client', 'rotate-secret', '--tenant', 'default', '--', spa.client_id])).toEqual({
      code: 1, stdout: '', stderr: `tessera client rotate-secret: client ${spa.client_id} has no secret to rotate (its token endpoint auth method is none)\n`,
    });
  });

  it('manages operators: scoped or global, must change password; the admin tenant stays', async () => {
    const ops = await ok(['user', 'create', '--tenant', 'admin', '--username', 'ops', '--password-stdin', '--operator-tenants', 'default', '--must-change-password'], 'ops-password-123\n');
    expect(ops).toEqual({
      id: expect.any(String), tenant: 'admin', username: 'ops', email: null, email_verified: false, name: null, disabled: false,
      must_change_password: true, created_at: expect.any(Number), updated_at: expect.any(Number), operator_tenants: ['default'],
    });
    expect(await ok(['user', 'update', '--tenant', 'admin', 'ops', '--no-must-change-password', '--global-operator'])).toEqual({
      ...ops, must_change_password: false, operator_tenants: null, updated_at: expect.any(Number),
    });
    expect(await ok(['user', 'show', '--tenant', 'admin', 'ops'])).toMatchObject({ must_change_password: false, operator_tenants: null });
    const [toAdmin, nowhere, notOperator, deleteAdmin] = await Promise.all([
      run(['user', 'update', '--tenant', 'admin', 'ops', '--operator-tenants', 'admin']),
      run(['user', 'update', '--tenant', 'admin', 'ops', '--operator-tenants', 'default,nowhere']),
      run(['user', 'create', '--tenant', 'default', '--username', 'eve', '--password-stdin', '--operator-tenants', 'default'], 'eve-password-123\n'),
      run(['tenant', 'delete', 'admin']),
    ]);
    expect(toAdmin).toEqual({ code: 1, stdout: '', stderr: 'tessera user update: an operator of the admin tenant is a global operator (no scope)\n' });
    expect(nowhere).toEqual({ code: 1, stdout: '', stderr: 'tessera user update: tenant nowhere does not exist\n' });
    expect(notOperator).toEqual({ code: 1, stdout: '', stderr: 'tessera user create: an operator scope applies to users of the admin tenant only\n' });
    expect(deleteAdmin).toEqual({ code: 1, stdout: '', stderr: 'tessera tenant delete: the admin tenant cannot be deleted: it holds the operators\n' });
  });
});
