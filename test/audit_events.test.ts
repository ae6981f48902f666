/**
 * Issue 9, audit trail completeness: every admin change, through the admin API and through the
 * CLI, is an audit event naming who made it; every security-relevant refusal is an event naming
 * the check that failed — and none of them holds a credential.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { exportJWK, generateKeyPair } from 'jose';
import { auditThrottled } from '../src/audit_refusals.js';
import { main } from '../src/cli/main.js';
import { createClient } from '../src/manage/clients.js';
import { ADMIN_TENANT, createTenant } from '../src/manage/tenants.js';
import { createUser } from '../src/manage/users.js';
import type { AuditEvent } from '../src/storage/types.js';
import { basic, BACKENDS, FakeClock, form, FORM_HEADERS, PUBLIC_URL, type TestApp } from './helpers.js';
import {
  authUrl, drive, InjectBrowser, PASSWORD, pkce, redirectView, TOKEN, tokenRequest, USERINFO, type TestClient,
} from './security/support.js';
import { adminApi, makeOperator, startAdminApp, tokenFor } from './support/admin.js';
import { dpopKey, dpopTokenRequest, makeProof } from './support/dpop.js';

const REDIRECT = 'https://app.example/cb';
const INTROSPECT = '/realms/default/protocol/openid-connect/token/introspect';

describe.each(BACKENDS)('audit trail completeness on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  const now = () => Math.floor(clock.ms / 1000);
  /** Events of a tenant since `since`, oldest first. */
  const events = async (tenant: string, since: number, query: Record<string, string> = {}): Promise<AuditEvent[]> =>
    (await t.storage.audit.list(tenant, { since, limit: 500, ...query })).events.reverse();
  const summary = (e: AuditEvent) => [e.type, e.actor];

  beforeAll(async () => {
    t = await startAdminApp(backend, { clock });
  });
  afterAll(() => t?.close());

  it('every admin change through the admin API is an event with the operator as actor', async () => {
    // The tenant's own events are still queued when it is deleted: they go with it, the others are written.
    const failed = vi.spyOn(t.services.log, 'error');
    const root = await makeOperator(t, 'audit-root');
    const api = adminApi(t, await tokenFor(t, root));
    const actor = `operator:${root.id}`;
    const since = now();
    const ok = (r: { status: number; body: unknown }, status = 200) => expect(r.status, JSON.stringify(r.body)).toBe(status);

    ok(await api.post('/tenants', { id: 'audited' }), 201);
    ok(await api.patch('/tenants/audited', { display_name: 'Audited', dcr: { enabled: true } }));
    const client = (await api.post('/tenants/audited/clients', { client_name: 'App', redirect_uris: [REDIRECT] })).body;
    ok(await api.patch(`/tenants/audited/clients/${client.client_id}`, { client_name: 'App 2' }));
    ok(await api.post(`/tenants/audited/clients/${client.client_id}/secret`));
    ok(await api.del(`/tenants/audited/clients/${client.client_id}`));
    const created = await api.post('/tenants/audited/apis', { audience: 'https://api.audited.example/', scopes: [{ name: 'read' }] });
    ok(created, 201);
    ok(await api.patch(`/tenants/audited/apis/${created.body.id}`, { name: 'Audited API' }));
    ok(await api.del(`/tenants/audited/apis/${created.body.id}`));
    const user = (await api.post('/tenants/audited/users', { username: 'bob', password: PASSWORD })).body;
    ok(await api.patch(`/tenants/audited/users/${user.id}`, { disabled: true, password: 'another long password' }));
    ok(await api.del(`/tenants/audited/users/${user.id}`));
    const rotated = await api.post('/tenants/audited/keys/rotate', { purpose: 'access' });
    ok(rotated, 201);
    ok(await api.post(`/tenants/audited/keys/${rotated.body.added[0].kid}/revoke`));
    const iat = await api.post('/tenants/audited/dcr/initial-access-tokens', { max_uses: 1 });
    ok(iat, 201);
    ok(await api.post(`/tenants/audited/dcr/initial-access-tokens/${iat.body.id}/revoke`));
    const op = await api.post('/tenants/admin/users', { username: 'scoped-ops', password: 'operator-pass-1234', operator_tenants: ['audited'] });
    ok(op, 201);
    ok(await api.del(`/tenants/audited`));

    const tenantEvents = (await events('audited', since)).map(summary);
    // The tenant was deleted with its events; its own changes are checked before that below.
    expect(tenantEvents).toEqual([]);
    expect((await events(ADMIN_TENANT, since)).filter((e) => e.actor === actor).map((e) => [e.type, e.detail.tenant ?? null, e.detail.fields ?? null])).toEqual([
      ['tenant.created', 'audited', null],
      ['tenant.updated', 'audited', ['dcr', 'display_name']],
      ['user.created', null, null],
      ['operator.scope_changed', null, null],
      ['tenant.deleted', 'audited', null],
    ]);
    expect(failed).not.toHaveBeenCalled();
    failed.mockRestore();
  });

  it('…and tenant-level changes land in the tenant, each with its type, before the tenant is gone', async () => {
    const root = await makeOperator(t, 'audit-root-2');
    const api = adminApi(t, await tokenFor(t, root));
    const actor = `operator:${root.id}`;
    await createTenant(t.deps, { id: 'kept' });
    const since = now();
    const client = (await api.post('/tenants/kept/clients', { client_name: 'App', redirect_uris: [REDIRECT] })).body;
    await api.patch(`/tenants/kept/clients/${client.client_id}`, { client_name: 'App 2' });
    await api.post(`/tenants/kept/clients/${client.client_id}/secret`);
    await api.del(`/tenants/kept/clients/${client.client_id}`);
    const created = (await api.post('/tenants/kept/apis', { audience: 'https://api.kept.example/', scopes: [{ name: 'read' }] })).body;
    await api.patch(`/tenants/kept/apis/${created.id}`, { name: 'Kept API' });
    await api.del(`/tenants/kept/apis/${created.id}`);
    const user = (await api.post('/tenants/kept/users', { username: 'bob', password: PASSWORD })).body;
    await api.patch(`/tenants/kept/users/${user.id}`, { disabled: true });
    await api.del(`/tenants/kept/users/${user.id}`);
    const rotated = (await api.post('/tenants/kept/keys/rotate', { purpose: 'access' })).body;
    await api.post(`/tenants/kept/keys/${rotated.added[0].kid}/revoke`);
    const iat = (await api.post('/tenants/kept/dcr/initial-access-tokens', {})).body;
    await api.post(`/tenants/kept/dcr/initial-access-tokens/${iat.id}/revoke`);

    const all = await events('kept', since);
    expect(all.map(summary)).toEqual([
      'client.created', 'client.updated', 'client.secret_rotated', 'client.deleted', 'api.created', 'api.updated', 'api.deleted',
      'user.created', 'user.updated', 'user.deleted', 'key.rotated', 'key.revoked', 'dcr_token.created', 'dcr_token.revoked',
    ].map((type) => [type, actor]));
    expect(all.find((e) => e.type === 'dcr_token.created')?.detail).toEqual({ id: iat.id, expires_at: null, max_uses: null });
    expect(JSON.stringify(all)).not.toContain(iat.token);
  });

  it('every admin change through the CLI is an event with actor operator, and the CLI writes its events before it exits', async () => {
    const env = { DATABASE_URL: t.database.url, TESSERA_PUBLIC_URL: PUBLIC_URL };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(String(s)));
    const err = vi.spyOn(console, 'error').mockImplementation((s: unknown) => void out.push(`stderr: ${String(s)}`));
    const cli = async (...argv: string[]) => {
      out.length = 0;
      const code = await main([...argv, '--json']);
      expect({ argv, code }, out.join('\n')).toEqual({ argv, code: 0 });
      return JSON.parse(out[0]);
    };
    const since = Math.floor(Date.now() / 1000) - 1;
    try {
      await cli('tenant', 'create', 'cli-made');
      await cli('tenant', 'update', 'cli-made', '--display-name', 'CLI made', '--dcr', 'on', '--dcr-open', 'off');
      const api = await cli('api', 'create', '--tenant', 'cli-made', '--audience', 'https://api.cli.example/', '--scope', 'read=Read');
      await cli('api', 'update', '--tenant', 'cli-made', api.id, '--scopes', 'read write');
      await cli('api', 'delete', '--tenant', 'cli-made', api.id);
      const client = await cli('client', 'create', '--tenant', 'cli-made', '--name', 'CLI App', '--redirect-uri', REDIRECT);
      await cli('client', 'rotate-secret', '--tenant', 'cli-made', client.client_id);
      await cli('client', 'delete', '--tenant', 'cli-made', client.client_id);
      const keys = await cli('keys', 'rotate', '--tenant', 'cli-made', '--purpose', 'access');
      await cli('keys', 'revoke', '--tenant', 'cli-made', keys.added[0].kid);
      const iat = await cli('dcr', 'token', 'create', '--tenant', 'cli-made', '--max-uses', '2');
      await cli('dcr', 'token', 'revoke', '--tenant', 'cli-made', iat.id);
      const ops = await createUser(t.deps, ADMIN_TENANT, { username: 'cli-scoped', password: 'operator-pass-1234' });
      await cli('user', 'update', '--tenant', ADMIN_TENANT, 'cli-scoped', '--operator-tenants', 'cli-made');
      await createUser(t.deps, 'cli-made', { username: 'carol', password: PASSWORD });
      await cli('api', 'create', '--tenant', 'cli-made', '--audience', 'https://api2.cli.example/', '--scope', 'read');
      const issued = await cli('token', 'issue', '--tenant', 'cli-made', '--user', 'carol', '--scopes', 'read');
      await cli('tenant', 'delete', 'cli-made');

      // Read by this process's storage, which never saw the CLI's events: they were written on exit.
      const admin = (await events(ADMIN_TENANT, since)).filter((e) => e.actor === 'operator');
      expect(admin.map((e) => [e.type, e.detail.tenant ?? null, e.detail.fields ?? e.detail.tenants ?? null])).toEqual([
        ['tenant.created', 'cli-made', null],
        ['tenant.updated', 'cli-made', ['dcr', 'display_name']],
        // Only the operator scope changed: no user field.
        ['user.updated', null, []],
        ['operator.scope_changed', null, ['cli-made']],
        ['tenant.deleted', 'cli-made', null],
      ]);
      expect(admin.find((e) => e.type === 'operator.scope_changed')?.userId).toBe(ops.id);
      expect(JSON.stringify(admin)).not.toContain(issued.access_token);
    } finally {
      log.mockRestore();
      err.mockRestore();
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  });

  it('the CLI’s tenant-level changes are events of the tenant (checked before deleting it)', async () => {
    const env = { DATABASE_URL: t.database.url, TESSERA_PUBLIC_URL: PUBLIC_URL };
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    const out: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(String(s)));
    const cli = async (...argv: string[]) => {
      out.length = 0;
      expect(await main([...argv, '--json'])).toBe(0);
      return JSON.parse(out[0]);
    };
    try {
      await cli('tenant', 'create', 'cli-kept');
      const api = await cli('api', 'create', '--tenant', 'cli-kept', '--audience', 'https://api.kept.example/', '--scope', 'read=Read');
      await cli('api', 'update', '--tenant', 'cli-kept', api.id, '--scope', 'read', '--name', 'Renamed');
      await cli('api', 'delete', '--tenant', 'cli-kept', api.id);
      const keys = await cli('keys', 'rotate', '--tenant', 'cli-kept', '--purpose', 'access', '--now');
      await cli('keys', 'revoke', '--tenant', 'cli-kept', keys.added[0].kid);
      const iat = await cli('dcr', 'token', 'create', '--tenant', 'cli-kept');
      await cli('dcr', 'token', 'revoke', '--tenant', 'cli-kept', iat.id);
      await createUser(t.deps, 'cli-kept', { username: 'dave', password: PASSWORD });
      await cli('api', 'create', '--tenant', 'cli-kept', '--audience', 'https://api2.kept.example/', '--scope', 'read');
      await cli('token', 'issue', '--tenant', 'cli-kept', '--user', 'dave', '--scopes', 'read', '--name', 'CI');

      // dave was made by this test's own (fake-clock) deps, so his user.created sorts elsewhere in time.
      const all = (await t.storage.audit.list('cli-kept', { limit: 100 })).events.reverse().filter((e) => e.type !== 'user.created');
      expect(all.map((e) => [e.type, e.actor, e.detail.fields ?? e.detail.grant_type ?? null])).toEqual([
        ['api.created', 'operator', null],
        ['api.updated', 'operator', ['name', 'scopes']],
        ['api.deleted', 'operator', null],
        ['key.rotated', 'operator', null],
        ['key.revoked', 'operator', null],
        ['dcr_token.created', 'operator', null],
        ['dcr_token.revoked', 'operator', null],
        ['api.created', 'operator', null],
        ['token.issued', 'operator', 'personal'],
      ]);
      expect(all.find((e) => e.type === 'key.rotated')?.detail).toEqual({ kids: [keys.added[0].kid], immediately: true });
    } finally {
      log.mockRestore();
      for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    }
  });

  describe('security-relevant refusals', () => {
    let web: TestClient;
    let pub: TestClient;
    let svc: TestClient;
    let other: TestClient;
    let jwtClient: string;

    beforeAll(async () => {
      const mk = async (input: Parameters<typeof createClient>[2]) => {
        const c = await createClient(t.deps, 'default', input, 86400);
        return { id: c.client.clientId, secret: c.secret };
      };
      web = await mk({ name: 'Web', redirectUris: [REDIRECT], scopes: ['read:avatars'], consent: 'skip' });
      pub = await mk({ name: 'Public', redirectUris: [REDIRECT], public: true, consent: 'skip' });
      svc = await mk({ name: 'Service', grantTypes: ['client_credentials'] });
      other = await mk({ name: 'Other', grantTypes: ['client_credentials', 'password'] });
      const { publicKey } = await generateKeyPair('ES256');
      jwtClient = (await mk({ name: 'JWT', grantTypes: ['client_credentials'], tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] } })).id;
      await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
    });

    const code = async (client: TestClient, extra: Record<string, string> = {}) => {
      const { res } = await drive(new InjectBrowser(t.app), authUrl({ response_type: 'code', client_id: client.id, redirect_uri: REDIRECT, scope: 'openid', state: 's', ...extra }));
      return redirectView(res).query.code;
    };
    const post = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
      t.app.inject({ method: 'POST', url, headers: { ...FORM_HEADERS, ...headers }, payload: form(fields) });

    /** Each case makes one refusal happen; the events it must leave behind (type, actor, client, reason and more). */
    const cases: { name: string; status: number; act: () => Promise<{ statusCode: number }>; expected: () => Partial<AuditEvent>[] }[] = [
      {
        name: 'a wrong client secret at the token endpoint',
        status: 401,
        act: () => tokenRequest(t.app, { id: svc.id, secret: 'not-the-secret' }, { grant_type: 'client_credentials' }),
        expected: () => [{ type: 'security.client_auth_failed', actor: svc.id, clientId: svc.id, detail: { reason: 'client authentication failed', method: 'client_secret_basic', path: '/realms/:tenant/protocol/openid-connect/token' } }],
      },
      {
        name: 'an invalid private_key_jwt client assertion',
        status: 401,
        act: () => post(TOKEN, { grant_type: 'client_credentials', client_id: jwtClient, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: 'not.a.jwt' }),
        expected: () => [{ type: 'security.client_auth_failed', actor: jwtClient, clientId: jwtClient, detail: { reason: 'client_assertion is not a well-formed signed JWT', method: 'private_key_jwt', path: '/realms/:tenant/protocol/openid-connect/token' } }],
      },
      {
        name: 'an unknown client at the authorization endpoint',
        status: 400,
        act: () => t.app.inject({ method: 'GET', url: authUrl({ response_type: 'code', client_id: 'no-such-client', redirect_uri: REDIRECT }) }),
        expected: () => [{ type: 'security.authorize_refused', actor: 'no-such-client', clientId: 'no-such-client', detail: { reason: 'the client is not known' } }],
      },
      {
        name: 'a redirect_uri the client did not register',
        status: 400,
        act: () => t.app.inject({ method: 'GET', url: authUrl({ response_type: 'code', client_id: web.id, redirect_uri: 'https://evil.example/cb', scope: 'openid' }) }),
        expected: () => [{ type: 'security.authorize_refused', actor: web.id, clientId: web.id, detail: { reason: 'redirect_uri is not registered for this client' } }],
      },
      {
        name: 'an authorization code used twice',
        status: 400,
        act: async () => {
          const c = await code(web);
          expect((await tokenRequest(t.app, web, { grant_type: 'authorization_code', code: c, redirect_uri: REDIRECT })).statusCode).toBe(200);
          return tokenRequest(t.app, web, { grant_type: 'authorization_code', code: c, redirect_uri: REDIRECT });
        },
        expected: () => [{ type: 'token.revoked', actor: web.id, clientId: web.id, detail: { reason: 'code_reuse', grant_id: expect.any(String) } }],
      },
      {
        name: 'a rotated-out refresh token used again',
        status: 400,
        act: async () => {
          const c = await code(web, { scope: 'openid offline_access' });
          const first = (await tokenRequest(t.app, web, { grant_type: 'authorization_code', code: c, redirect_uri: REDIRECT })).json().refresh_token;
          expect((await tokenRequest(t.app, web, { grant_type: 'refresh_token', refresh_token: first })).statusCode).toBe(200);
          return tokenRequest(t.app, web, { grant_type: 'refresh_token', refresh_token: first });
        },
        expected: () => [{ type: 'token.revoked', actor: web.id, clientId: web.id, detail: { reason: 'refresh_reuse', grant_id: expect.any(String) } }],
      },
      {
        name: 'a PKCE verifier that does not match',
        status: 400,
        act: async () => {
          const { challenge } = pkce();
          const c = await code(pub, { code_challenge: challenge, code_challenge_method: 'S256' });
          return tokenRequest(t.app, pub, { grant_type: 'authorization_code', code: c, redirect_uri: REDIRECT, code_verifier: pkce().verifier });
        },
        expected: () => [{ type: 'security.pkce_failed', actor: pub.id, clientId: pub.id, detail: { reason: 'code_verifier does not match the code_challenge', grant_id: expect.any(String) } }],
      },
      {
        name: 'a replayed DPoP proof, and an invalid one',
        status: 400,
        act: async () => {
          const key = await dpopKey();
          const htu = `${PUBLIC_URL}${TOKEN}`;
          const nonce = (await dpopTokenRequest(t.app, svc, { grant_type: 'client_credentials' }, await makeProof(key, { htm: 'POST', htu, iat: now() }), TOKEN)).headers['dpop-nonce'] as string;
          const proof = await makeProof(key, { htm: 'POST', htu, iat: now(), nonce });
          expect((await dpopTokenRequest(t.app, svc, { grant_type: 'client_credentials' }, proof, TOKEN)).statusCode).toBe(200);
          expect((await dpopTokenRequest(t.app, svc, { grant_type: 'client_credentials' }, await makeProof(key, { htm: 'GET', htu, iat: now(), nonce }), TOKEN)).statusCode).toBe(400);
          return dpopTokenRequest(t.app, svc, { grant_type: 'client_credentials' }, proof, TOKEN);
        },
        expected: () => [
          { type: 'security.dpop_refused', actor: svc.id, clientId: svc.id, detail: { reason: 'the DPoP proof htm does not match the request method', replay: false, path: '/realms/:tenant/protocol/openid-connect/token' } },
          { type: 'security.dpop_refused', actor: svc.id, clientId: svc.id, detail: { reason: 'the DPoP proof was already used', replay: true, path: '/realms/:tenant/protocol/openid-connect/token' } },
        ],
      },
      {
        name: 'introspection with a wrong secret, and of another client’s token',
        status: 200,
        act: async () => {
          const token = (await tokenRequest(t.app, svc, { grant_type: 'client_credentials' })).json().access_token;
          expect((await post(INTROSPECT, { token }, { authorization: basic(other.id, 'wrong') })).statusCode).toBe(401);
          const answer = await post(INTROSPECT, { token }, { authorization: basic(other.id, other.secret!) });
          expect(answer.json()).toEqual({ active: false });
          return answer;
        },
        expected: () => [
          { type: 'security.introspection_refused', actor: other.id, clientId: other.id, detail: { reason: 'client authentication failed', method: 'client_secret_basic', path: '/realms/:tenant/protocol/openid-connect/token/introspect' } },
          { type: 'security.introspection_refused', actor: other.id, clientId: other.id, detail: { reason: 'the token was issued to another client and is not meant for this API', issued_to: svc.id } },
        ],
      },
      {
        name: 'a DPoP-bound token at userinfo with a bad proof',
        status: 401,
        act: async () => {
          const key = await dpopKey();
          const htu = `${PUBLIC_URL}${TOKEN}`;
          const c = await code(web);
          const nonce = (await dpopTokenRequest(t.app, web, { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT }, await makeProof(key, { htm: 'POST', htu, iat: now() }), TOKEN)).headers['dpop-nonce'] as string;
          const tokens = (await dpopTokenRequest(t.app, web, { grant_type: 'authorization_code', code: c, redirect_uri: REDIRECT }, await makeProof(key, { htm: 'POST', htu, iat: now(), nonce }), TOKEN)).json();
          const proof = await makeProof(key, { htm: 'GET', htu: `${PUBLIC_URL}${USERINFO}`, iat: now() });
          return t.app.inject({ method: 'GET', url: USERINFO, headers: { authorization: `DPoP ${tokens.access_token}`, dpop: proof } });
        },
        expected: () => [{ type: 'security.dpop_refused', actor: web.id, clientId: web.id, detail: { reason: 'the DPoP proof ath does not match the access token', replay: false, path: '/realms/:tenant/protocol/openid-connect/userinfo' } }],
      },
      {
        name: 'admin API calls without a token, with a token lacking scope admin, and beyond an operator’s tenants',
        status: 403,
        act: async () => {
          expect((await adminApi(t, undefined).get('/tenants')).status).toBe(401);
          const scoped = await makeOperator(t, `scoped-${now()}`, ['default']);
          const token = await tokenFor(t, scoped);
          return { statusCode: (await adminApi(t, token).get('/tenants/admin/users')).status };
        },
        expected: () => [
          { type: 'security.admin_refused', actor: 'anonymous', detail: { reason: 'an access token of the admin tenant is required', operation: 'listTenants' } },
          { type: 'security.admin_refused', actor: expect.stringMatching(/^operator:/), userId: expect.any(String), detail: { reason: expect.stringMatching(/^operator scoped-\d+ may not manage tenant admin$/), operation: 'listUsers', tenant: 'admin' } },
        ],
      },
    ];

    it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
      clock.advance(120);
      const since = now();
      const res = await c.act();
      expect(res.statusCode).toBe(c.status);
      const tenant = c.name.startsWith('admin API') ? ADMIN_TENANT : 'default';
      const expected = c.expected();
      const types = new Set(expected.map((e) => e.type!));
      const found = (await events(tenant, since)).filter((e) => types.has(e.type));
      expect(found).toEqual(expected.map((e) => expect.objectContaining({ ...e, ...(e.detail && { detail: e.detail }) })));
      for (const e of found) expect(e.ip).toBe('127.0.0.1');
    });

    it('throttled sign-ins are throttle.refused events, naming no username', async () => {
      clock.advance(120);
      const since = now();
      let status = 0;
      for (let i = 0; i < 12 && status !== 429; i++) {
        status = (await tokenRequest(t.app, other, { grant_type: 'password', username: 'alice', password: `guess-${i}` })).statusCode;
      }
      expect(status).toBe(429);
      const throttled = (await events('default', since)).filter((e) => e.type === 'throttle.refused');
      expect(throttled.map((e) => ({ actor: e.actor, clientId: e.clientId, userId: e.userId, ip: e.ip, limit: e.detail.limit, endpoint: e.detail.endpoint }))).toEqual([
        { actor: other.id, clientId: other.id, userId: null, ip: '127.0.0.1', limit: 'sign_in', endpoint: 'token' },
      ]);
      expect(JSON.stringify(throttled)).not.toMatch(/alice|guess/);
    });

    it('the throttling hook records what it is given, for the limits built elsewhere', async () => {
      const since = now();
      auditThrottled(t.services, 'default', { ip: '192.0.2.7', limit: 'client_auth', clientId: svc.id, endpoint: 'token', retryAfterSeconds: 30 });
      expect((await events('default', since, { type: 'throttle.refused' })).filter((e) => e.detail.limit === 'client_auth')).toEqual([
        expect.objectContaining({ type: 'throttle.refused', actor: svc.id, clientId: svc.id, userId: null, ip: '192.0.2.7', detail: { reason: 'too_many_attempts', limit: 'client_auth', endpoint: 'token', retry_after: 30 } }),
      ]);
    });
  });

  it('lists through the admin API and the CLI with the new filters', async () => {
    const root = await makeOperator(t, 'filter-root');
    const api = adminApi(t, await tokenFor(t, root));
    const since = now() - 1;
    const byActor = await api.get(`/tenants/${ADMIN_TENANT}/audit-events?actor=${encodeURIComponent('anonymous')}&type=security&since=${since - 100000}`);
    expect(byActor.status).toBe(200);
    expect(byActor.body.items.every((e: { actor: string; type: string }) => e.actor === 'anonymous' && e.type.startsWith('security.'))).toBe(true);
    expect(byActor.body.items.length).toBeGreaterThan(0);
    const window = await api.get(`/tenants/default/audit-events?until=${since - 100000000}`);
    expect(window.body).toEqual({ items: [], next_cursor: null });
    const bad = await api.get('/tenants/default/audit-events?until=soon');
    expect(bad.status).toBe(400);
  });
});
