/**
 * Operators and second factors, on both backends: the admin API's `…/mfa` routes (checked
 * against the OpenAPI document) and the CLI's `tenant mfa`, `client mfa`, `user mfa` and
 * `user reset-mfa` (run in process through the CLI's main), each audited, secrets never shown.
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CONSOLE_CLIENT_ID, consoleRedirectUri } from '../src/admin/bootstrap.js';
import { main } from '../src/cli/main.js';
import { createClient } from '../src/manage/clients.js';
import { createTenant } from '../src/manage/tenants.js';
import { createUser } from '../src/manage/users.js';
import { saveTotpFactor } from '../src/mfa/factors.js';
import type { User } from '../src/storage/types.js';
import { BACKENDS, FakeClock, type TestApp } from './helpers.js';
import { adminApi, makeOperator, OPERATOR_PASSWORD, startAdminApp, tokenFor } from './support/admin.js';
import { formOf, InjectBrowser, pathOf } from './support/inject_browser.js';

const T0 = Math.floor(Date.UTC(2026, 0, 1) / 1000);

describe.each(BACKENDS)('second factors for operators on %s', (backend) => {
  let t: TestApp;
  let api: ReturnType<typeof adminApi>;
  let root: User;
  let alice: User;
  let clientId: string;

  beforeAll(async () => {
    // https: the console's redirect URI is under the public URL, and only loopback may be plain http.
    t = await startAdminApp(backend, { clock: new FakeClock(), config: { publicUrl: 'https://tessera.test' } });
    root = await makeOperator(t, 'root');
    api = adminApi(t, await tokenFor(t, root));
    await createTenant(t.deps, { id: 'acme' });
    alice = await createUser(t.deps, 'acme', { username: 'alice', password: 'correct horse battery' });
    clientId = (await createClient(t.deps, 'acme', { name: 'Payouts', redirectUris: ['https://app.example/cb'] }, 3600)).client.clientId;
  });
  afterAll(() => t?.close());

  const auditOf = async (tenant: string, type: string) => {
    await (t.storage.audit as { flush?: () => Promise<void> }).flush?.();
    return (await t.storage.audit.list(tenant, { type, limit: 20 })).events;
  };

  describe('admin API', () => {
    it('reads and sets the tenant’s policy, refusing other values with the field named', async () => {
      expect(await api.get('/tenants/acme/mfa')).toMatchObject({ status: 200, body: { tenant: 'acme', mfa: 'optional' } });
      expect(await api.patch('/tenants/acme/mfa', { mfa: 'required' })).toMatchObject({ status: 200, body: { tenant: 'acme', mfa: 'required' } });
      expect(await t.storage.mfa.tenantPolicy('acme')).toBe('required');
      const bad = await api.patch('/tenants/acme/mfa', { mfa: 'always' });
      expect({ status: bad.status, error: bad.body.error, field: bad.body.field }).toEqual({ status: 400, error: 'invalid_request', field: 'mfa' });
      expect(await api.get('/tenants/nope/mfa')).toMatchObject({ status: 404, body: { error: 'not_found' } });
      expect(await api.patch('/tenants/acme/mfa', { mfa: 'optional' })).toMatchObject({ status: 200 });
      const events = await auditOf('acme', 'mfa.policy_updated');
      expect(events.map((e) => [e.actor, e.detail])).toEqual([[`operator:${root.id}`, { mfa: 'optional' }], [`operator:${root.id}`, { mfa: 'required' }]]);
    });

    it('can require a second factor of every operator (the admin tenant’s policy)', async () => {
      expect(await api.patch('/tenants/admin/mfa', { mfa: 'required' })).toEqual(expect.objectContaining({ status: 200, body: { tenant: 'admin', mfa: 'required' } }));
      expect(await t.storage.mfa.tenantPolicy('admin')).toBe('required');
      // An operator signing in to the console: after the password, setting up an authenticator app.
      const b = new InjectBrowser(t.app);
      const login = await b.get(`/realms/admin/protocol/openid-connect/auth?${new URLSearchParams({
        client_id: CONSOLE_CLIENT_ID, redirect_uri: consoleRedirectUri(t.config.publicUrl), response_type: 'code', scope: 'openid admin',
        code_challenge: createHash('sha256').update('v'.repeat(43)).digest('base64url'), code_challenge_method: 'S256',
      })}`);
      expect(login.statusCode).toBe(200);
      const lf = formOf(login.body);
      const enrol = await b.post(pathOf(lf.action), { ...lf.fields, username: 'root', password: OPERATOR_PASSWORD });
      expect(enrol.statusCode).toBe(200);
      expect(enrol.body).toContain('<h1>Set up two-step verification</h1>');
      expect(b.cookies.has('tessera_session_admin')).toBe(false);
      expect(await api.patch('/tenants/admin/mfa', { mfa: 'optional' })).toEqual(expect.objectContaining({ status: 200, body: { tenant: 'admin', mfa: 'optional' } }));
    });

    it('reads and sets a client’s requirement', async () => {
      expect(await api.get(`/tenants/acme/clients/${clientId}/mfa`)).toEqual(expect.objectContaining({ status: 200, body: { tenant: 'acme', client_id: clientId, require_mfa: false } }));
      expect(await api.patch(`/tenants/acme/clients/${clientId}/mfa`, { require_mfa: true })).toEqual(expect.objectContaining({ status: 200, body: { tenant: 'acme', client_id: clientId, require_mfa: true } }));
      expect(await api.get('/tenants/acme/clients/nope/mfa')).toEqual(expect.objectContaining({ status: 404, body: { error: 'not_found', error_description: 'client nope does not exist in tenant acme' } }));
    });

    it('lists a user’s factors without secrets, and resets them (audited)', async () => {
      const { factor } = await saveTotpFactor(t.deps, alice, { secret: 'JBSWY3DPEHPK3PXP', step: 1, label: 'Phone', now: T0 });
      const listed = await api.get('/tenants/acme/users/alice/mfa');
      expect(listed).toEqual(expect.objectContaining({
        status: 200, body: { user_id: alice.id, username: 'alice', factors: [{ id: factor.id, type: 'totp', label: 'Phone', created_at: T0, last_used_at: T0 }], recovery_codes_left: 10 },
      }));
      expect(JSON.stringify(listed.body)).not.toContain('JBSWY3DPEHPK3PXP');
      expect(await api.post('/tenants/acme/users/alice/mfa/reset')).toEqual(expect.objectContaining({ status: 200, body: { user_id: alice.id, username: 'alice', factors_removed: 1 } }));
      expect(await api.get('/tenants/acme/users/alice/mfa')).toEqual(expect.objectContaining({ status: 200, body: { user_id: alice.id, username: 'alice', factors: [], recovery_codes_left: 0 } }));
      const events = await auditOf('acme', 'mfa.reset');
      expect(events.map((e) => [e.actor, e.userId, e.detail])).toEqual([[`operator:${root.id}`, alice.id, { factors_removed: 1 }]]);
      expect(await api.post('/tenants/acme/users/nobody/mfa/reset')).toEqual(expect.objectContaining({ status: 404 }));
    });

    it('keeps a scoped operator to their tenants', async () => {
      const scoped = adminApi(t, await tokenFor(t, await makeOperator(t, 'scoped', ['default'])));
      expect(await scoped.get('/tenants/acme/mfa')).toEqual(expect.objectContaining({ status: 403 }));
      expect(await scoped.post('/tenants/acme/users/alice/mfa/reset')).toEqual(expect.objectContaining({ status: 403 }));
    });
  });

  describe('CLI', () => {
    const out: string[] = [];
    const err: string[] = [];
    afterEach(() => vi.restoreAllMocks());

    /** `tessera ARGS` in process against this test's database: exit code, stdout, stderr. */
    async function tessera(...args: string[]) {
      out.length = 0;
      err.length = 0;
      vi.spyOn(console, 'log').mockImplementation((s: string) => void out.push(s));
      vi.spyOn(console, 'error').mockImplementation((s: string) => void err.push(s));
      const saved = { DATABASE_URL: process.env.DATABASE_URL, TESSERA_PUBLIC_URL: process.env.TESSERA_PUBLIC_URL };
      process.env.DATABASE_URL = t.config.databaseUrl;
      process.env.TESSERA_PUBLIC_URL = t.config.publicUrl;
      try {
        const code = await main(args);
        return { code, stdout: out.join('\n'), stderr: err.join('\n') };
      } finally {
        for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
        vi.restoreAllMocks();
      }
    }

    it('sets and shows the tenant’s and a client’s policy', async () => {
      expect(await tessera('tenant', 'mfa', 'acme', '--mfa', 'required', '--json')).toEqual({ code: 0, stdout: '{"tenant":"acme","mfa":"required"}', stderr: '' });
      expect(await tessera('tenant', 'mfa', 'acme', '--json')).toEqual({ code: 0, stdout: '{"tenant":"acme","mfa":"required"}', stderr: '' });
      expect(await tessera('tenant', 'mfa', 'acme', '--mfa', 'sometimes')).toEqual({ code: 1, stdout: '', stderr: 'tessera tenant mfa: mfa must be optional or required' });
      expect(await tessera('tenant', 'mfa', 'acme', '--mfa', 'optional', '--json')).toMatchObject({ code: 0 });
      expect(await tessera('client', 'mfa', '--tenant', 'acme', clientId, '--require-mfa', 'off', '--json')).toEqual({ code: 0, stdout: `{"tenant":"acme","client_id":"${clientId}","require_mfa":false}`, stderr: '' });
      expect(await tessera('client', 'mfa', '--tenant', 'acme', 'nope', '--json')).toEqual({ code: 1, stdout: '', stderr: 'tessera client mfa: client nope does not exist in tenant acme' });
    });

    it('shows and resets a user’s factors, audited as the operator', async () => {
      await saveTotpFactor(t.deps, alice, { secret: 'JBSWY3DPEHPK3PXP', step: 1, label: 'Phone', now: T0 });
      const shown = await tessera('user', 'mfa', '--tenant', 'acme', 'alice', '--json');
      expect(shown).toMatchObject({ code: 0, stderr: '' });
      expect(JSON.parse(shown.stdout)).toMatchObject({ user_id: alice.id, username: 'alice', factors: [{ type: 'totp', label: 'Phone' }], recovery_codes_left: 10 });
      expect(shown.stdout).not.toContain('JBSWY3DPEHPK3PXP');
      expect(await tessera('user', 'reset-mfa', '--tenant', 'acme', 'alice')).toEqual({ code: 0, stdout: 'removed 1 factor(s) and the recovery codes of alice', stderr: '' });
      expect(await t.storage.mfa.list('acme', alice.id)).toEqual([]);
      const events = await auditOf('acme', 'mfa.reset');
      expect(events[0]).toMatchObject({ actor: 'operator', userId: alice.id, detail: { factors_removed: 1 } });
      expect(await tessera('user', 'reset-mfa', '--tenant', 'acme')).toEqual({ code: 2, stdout: '', stderr: 'tessera user reset-mfa: USER is required\nusage: tessera user reset-mfa --tenant T USER' });
    });
  });
});
