/**
 * The admin REST API (DESIGN.md §1, issue 6): who may call it, what each resource answers,
 * validation errors that name the field, and tamper-proof pagination. In process, on every backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CLIENT_ID } from '../src/admin/bootstrap.js';
import { createClient } from '../src/manage/clients.js';
import { ensureBuiltinClient, issuePersonalToken } from '../src/manage/personal_tokens.js';
import { ADMIN_TENANT } from '../src/manage/tenants.js';
import { createUser } from '../src/manage/users.js';
import type { User } from '../src/storage/types.js';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS, basic, FakeClock, form, FORM_HEADERS, PUBLIC_URL, type TestApp } from './helpers.js';
import { adminApi, makeOperator, startAdminApp, tokenFor } from './support/admin.js';
import { DCR_OFF } from './support/dcr_policy.js';

const T0 = Math.floor(Date.UTC(2026, 0, 1) / 1000);
const ID = expect.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{21}$/);
const SECRET = expect.stringMatching(/^[A-Za-z0-9_-]{43}$/);

const tenantBody = (id: string, over: Record<string, unknown> = {}) => ({
  id, display_name: id, hostname: null, issuer: `${PUBLIC_URL}/realms/${id}`, default_audience: null, session_idle_seconds: 1800, session_max_seconds: 36000,
  personal_token_max_days: 90, registration: false, require_verified_email: false, email_from: null, dcr: DCR_OFF, created_at: T0, updated_at: T0, ...over,
});

describe.each(BACKENDS)('admin API on %s', (backend) => {
  let t: TestApp;
  let root: User;
  let rootApi: ReturnType<typeof adminApi>;

  beforeAll(async () => {
    t = await startAdminApp(backend, { clock: new FakeClock() });
    root = await makeOperator(t, 'root');
    rootApi = adminApi(t, await tokenFor(t, root));
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('authorization', () => {
    it('refuses a request without a token with 401 invalid_token and a bare Bearer challenge', async () => {
      const r = await adminApi(t, undefined).get('/tenants');
      expect({ status: r.status, body: r.body, challenge: r.headers['www-authenticate'] }).toEqual({
        status: 401, body: { error: 'invalid_token', error_description: 'an access token of the admin tenant is required' }, challenge: 'Bearer realm="admin"',
      });
    });

    it('refuses a token of another tenant with 401 invalid_token, even one carrying scope admin', async () => {
      const { client } = await createClient(t.deps, 'default', { name: 'Pretender', scopes: ['admin'] }, 3600);
      const alice = await createUser(t.deps, 'default', { username: 'alice' });
      const r = await adminApi(t, await tokenFor(t, alice, ['admin'], client.clientId)).get('/tenants');
      const description = 'the access token is invalid, expired or revoked, or not of the admin tenant';
      expect({ status: r.status, body: r.body, challenge: r.headers['www-authenticate'] }).toEqual({
        status: 401, body: { error: 'invalid_token', error_description: description },
        challenge: `Bearer realm="admin", error="invalid_token", error_description="${description}"`,
      });
    });

    it('refuses an admin-tenant token without scope admin with 403 insufficient_scope', async () => {
      const { client } = await createClient(t.deps, ADMIN_TENANT, { name: 'Reports', scopes: ['reports'] }, 3600);
      const r = await adminApi(t, await tokenFor(t, root, ['reports'], client.clientId)).get('/tenants');
      expect({ status: r.status, body: r.body, challenge: r.headers['www-authenticate'] }).toEqual({
        status: 403, body: { error: 'insufficient_scope', error_description: 'the access token lacks scope admin' },
        challenge: 'Bearer realm="admin", error="insufficient_scope", error_description="the access token lacks scope admin"',
      });
    });

    it('refuses a client’s own admin-tenant token with scope admin: the scope is for operators only', async () => {
      const { client, secret } = await createClient(t.deps, ADMIN_TENANT, { name: 'Robot', grantTypes: ['client_credentials'], scopes: ['admin'] }, 3600);
      const issued = await t.app.inject({
        method: 'POST', url: '/realms/admin/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(client.clientId, secret!) },
        payload: form({ grant_type: 'client_credentials', scope: 'admin' }),
      });
      expect(issued.statusCode).toBe(200);
      const r = await adminApi(t, issued.json().access_token).get('/me');
      expect({ status: r.status, body: r.body }).toEqual({ status: 401, body: { error: 'invalid_token', error_description: 'the access token was not issued to an operator' } });
    });

    it('checks the operator on every call: a disabled operator’s live token is refused at once', async () => {
      const ops = await makeOperator(t, 'ops');
      const api = adminApi(t, await tokenFor(t, ops));
      expect((await api.get('/me')).body).toEqual({ id: ops.id, username: 'ops', tenants: null });
      expect((await rootApi.patch(`/tenants/admin/users/${ops.id}`, { disabled: true })).status).toBe(200);
      const r = await api.get('/me');
      expect({ status: r.status, body: r.body }).toEqual({ status: 401, body: { error: 'invalid_token', error_description: 'the operator is disabled' } });
    });

    it('refuses a DPoP-bound token sent as a bearer token (RFC 9449 §7.2)', async () => {
      const live = await tokenFor(t, root);
      const row = (await t.storage.accessTokens.find(storageKey(live)))!;
      const bound = `${live.slice(0, 12)}${'b'.repeat(43)}`;
      await t.storage.accessTokens.insert({ ...row, digest: storageKey(bound), jkt: 'some-key-thumbprint' });
      const r = await adminApi(t, bound).get('/me');
      expect({ status: r.status, body: r.body }).toEqual({
        status: 401, body: { error: 'invalid_token', error_description: 'the access token is DPoP-bound; the admin API takes bearer tokens only' },
      });
    });

    it('refuses a revoked token', async () => {
      const token = await tokenFor(t, root);
      expect((await adminApi(t, token).get('/me')).status).toBe(200);
      const revoke = await t.app.inject({
        method: 'POST', url: '/realms/admin/protocol/openid-connect/revoke', headers: FORM_HEADERS, payload: form({ token, client_id: CONSOLE_CLIENT_ID }),
      });
      expect(revoke.statusCode).toBe(200);
      const r = await adminApi(t, token).get('/me');
      expect({ status: r.status, body: r.body }).toEqual({
        status: 401, body: { error: 'invalid_token', error_description: 'the access token is invalid, expired or revoked, or not of the admin tenant' },
      });
    });

    it('keeps a tenant-scoped operator to their tenants: others, admin and global operations are 403', async () => {
      expect((await rootApi.post('/tenants', { id: 'acme' })).status).toBe(201);
      const scoped = await makeOperator(t, 'acme-ops', ['acme']);
      const api = adminApi(t, await tokenFor(t, scoped));
      expect((await api.get('/me')).body).toEqual({ id: scoped.id, username: 'acme-ops', tenants: ['acme'] });
      expect((await api.get('/tenants')).body).toEqual({ items: [tenantBody('acme')], next_cursor: null });
      expect((await api.get('/tenants/acme/clients')).status).toBe(200);
      const denied = (tenant: string) => ({ status: 403, body: { error: 'access_denied', error_description: `operator acme-ops may not manage tenant ${tenant}` } });
      for (const [path, tenant] of [['/tenants/default', 'default'], ['/tenants/default/users', 'default'], ['/tenants/admin/users', 'admin'], ['/tenants/nowhere/clients', 'nowhere']]) {
        const r = await api.get(path);
        expect({ status: r.status, body: r.body }, path).toEqual(denied(tenant));
      }
      const create = await api.post('/tenants', { id: 'mine' });
      expect({ status: create.status, body: create.body }).toEqual({
        status: 403, body: { error: 'access_denied', error_description: 'only a global operator may do this; acme-ops manages acme' },
      });
      const remove = await api.del('/tenants/acme');
      expect(remove.status).toBe(403);
      const renamed = await api.patch('/tenants/acme', { display_name: 'Acme' });
      expect({ status: renamed.status, body: renamed.body }).toEqual({ status: 200, body: tenantBody('acme', { display_name: 'Acme' }) });
    });

    it('lets a global operator make a scoped operator through the API', async () => {
      const r = await rootApi.post('/tenants/admin/users', { username: 'auditor', password: 'auditor-pass-123', must_change_password: true, operator_tenants: ['acme', 'default'] });
      expect({ status: r.status, body: r.body }).toEqual({
        status: 201,
        body: {
          id: ID, tenant: 'admin', username: 'auditor', email: null, email_verified: false, name: null, disabled: false, must_change_password: true,
          created_at: T0, updated_at: T0, operator_tenants: ['acme', 'default'],
        },
      });
      expect((await rootApi.patch(`/tenants/admin/users/${r.body.id}`, { operator_tenants: null })).body).toEqual({ ...r.body, operator_tenants: null });
      const self = await rootApi.patch(`/tenants/admin/users/${root.id}`, { disabled: true });
      expect({ status: self.status, body: self.body }).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'an operator cannot disable themselves or change their own scope' } });
    });
  });

  describe('resources', () => {
    it('creates, shows, updates, lists and deletes tenants; the built-in ones cannot be deleted', async () => {
      const created = await rootApi.post('/tenants', { id: 'globex', display_name: 'Globex', default_audience: 'https://api.globex.example/' });
      expect({ status: created.status, body: created.body }).toEqual({
        status: 201, body: tenantBody('globex', { display_name: 'Globex', default_audience: 'https://api.globex.example/' }),
      });
      expect((await rootApi.get('/tenants/globex')).body).toEqual(created.body);
      const updated = await rootApi.patch('/tenants/globex', { display_name: 'Globex Corp', registration: true, session_idle_seconds: 900 });
      expect({ status: updated.status, body: updated.body }).toEqual({
        status: 200, body: { ...created.body, display_name: 'Globex Corp', registration: true, session_idle_seconds: 900 },
      });
      const dup = await rootApi.post('/tenants', { id: 'globex' });
      expect({ status: dup.status, body: dup.body }).toEqual({ status: 409, body: { error: 'conflict', error_description: 'tenant globex already exists' } });
      expect((await rootApi.del('/tenants/globex')).body).toEqual({ deleted: { id: 'globex' } });
      const gone = await rootApi.get('/tenants/globex');
      expect({ status: gone.status, body: gone.body }).toEqual({ status: 404, body: { error: 'not_found', error_description: 'tenant globex does not exist' } });
      const admin = await rootApi.del('/tenants/admin');
      expect({ status: admin.status, body: admin.body }).toEqual({
        status: 400, body: { error: 'invalid_request', error_description: 'the admin tenant cannot be deleted: it holds the operators' },
      });
    });

    it('gives a tenant its own hostname (the issuer follows it), refuses bad and taken ones naming the field, and clears it', async () => {
      await rootApi.post('/tenants', { id: 'initech' });
      const set = await rootApi.patch('/tenants/initech', { hostname: 'login.initech.example' });
      expect({ status: set.status, body: set.body }).toEqual({
        status: 200, body: tenantBody('initech', { hostname: 'login.initech.example', issuer: 'https://login.initech.example/realms/initech' }),
      });
      expect((await rootApi.get('/tenants/initech')).body).toEqual(set.body);
      const bad = await rootApi.patch('/tenants/initech', { hostname: 'https://Login.Initech.example:8443' });
      expect({ status: bad.status, body: bad.body }).toEqual({
        status: 400, body: { error: 'invalid_request', error_description: 'hostname: hostname must be a lowercase DNS name such as auth.example.com, without scheme, port or path', field: 'hostname' },
      });
      const taken = await rootApi.patch('/tenants/default', { hostname: 'login.initech.example' });
      expect({ status: taken.status, body: taken.body }).toEqual({ status: 409, body: { error: 'conflict', error_description: 'hostname login.initech.example already exists' } });
      const admin = await rootApi.patch('/tenants/admin', { hostname: 'ops.initech.example' });
      expect({ status: admin.status, body: admin.body }).toEqual({
        status: 400, body: { error: 'invalid_request', error_description: 'the admin tenant cannot have its own hostname: the console signs in under the public URL' },
      });
      const cleared = await rootApi.patch('/tenants/initech', { hostname: null });
      expect({ status: cleared.status, body: cleared.body }).toEqual({ status: 200, body: tenantBody('initech') });
      await rootApi.del('/tenants/initech');
    });

    it('registers a client with its secret shown once, updates, rotates the secret (the old one stops working) and deletes it', async () => {
      const created = await rootApi.post('/tenants/default/clients', {
        client_name: 'Billing', grant_types: ['client_credentials'], scope: 'read:invoices', access_token_format: 'opaque',
      });
      const view = {
        client_id: ID, tenant: 'default', client_name: 'Billing', token_endpoint_auth_method: 'client_secret_basic', grant_types: ['client_credentials'],
        response_types: [], redirect_uris: [], post_logout_redirect_uris: [], cors_origins: [], scope: 'read:invoices', access_token_format: 'opaque',
        access_token_ttl: null, consent: 'required', web_page: false, session_refresh_tokens: false, refresh_token_grace_seconds: 0,
        id_token_signed_response_alg: 'RS256', backchannel_logout_uri: null, backchannel_logout_session_required: true,
        require_pushed_authorization_requests: false, dpop_bound_access_tokens: false, token_exchange: { subject_clients: [], audiences: [] },
        client_assertion_audience_token_endpoint: false, created_at: T0, updated_at: T0,
      };
      expect({ status: created.status, body: created.body }).toEqual({ status: 201, body: { ...view, client_secret: SECRET } });
      const id = created.body.client_id;
      const { client_secret: first, ...shown } = created.body;
      expect((await rootApi.get(`/tenants/default/clients/${id}`)).body).toEqual(shown);

      const updated = await rootApi.patch(`/tenants/default/clients/${id}`, { client_name: 'Billing v2', access_token_ttl: 600 });
      expect(updated.body).toEqual({ ...shown, client_name: 'Billing v2', access_token_ttl: 600 });

      const tokenWith = (secret: string) =>
        t.app.inject({ method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(id, secret) }, payload: form({ grant_type: 'client_credentials' }) });
      expect((await tokenWith(first)).statusCode).toBe(200);
      const rotated = await rootApi.post(`/tenants/default/clients/${id}/secret`);
      expect({ status: rotated.status, body: rotated.body }).toEqual({ status: 200, body: { ...updated.body, client_secret: SECRET } });
      expect(rotated.body.client_secret).not.toBe(first);
      expect((await tokenWith(first)).statusCode).toBe(401);
      expect((await tokenWith(rotated.body.client_secret)).statusCode).toBe(200);

      const spa = await rootApi.post('/tenants/default/clients', { client_name: 'SPA', public: true, redirect_uris: ['https://spa.example/cb'] });
      const noSecret = await rootApi.post(`/tenants/default/clients/${spa.body.client_id}/secret`);
      expect({ status: noSecret.status, body: noSecret.body }).toEqual({
        status: 400, body: { error: 'invalid_request', error_description: `client ${spa.body.client_id} has no secret to rotate (its token endpoint auth method is none)` },
      });

      expect((await rootApi.del(`/tenants/default/clients/${id}`)).body).toEqual({ deleted: { client_id: id } });
      expect((await rootApi.get(`/tenants/default/clients/${id}`)).status).toBe(404);
    });

    it('names the field of a validation error', async () => {
      const cases: [unknown, Record<string, string>][] = [
        [
          { client_name: 'x', redirect_uris: ['https://ok.example/cb', 'http://evil.example/cb'] },
          { field: 'redirect_uris[1]', error_description: 'redirect_uris[1]: redirect URI http://evil.example/cb must use https (http is allowed only for loopback hosts, RFC 8252 §7.3)' },
        ],
        [{ client_name: 'x', colour: 'red' }, { field: 'colour', error_description: 'colour: is not a known field' }],
        [{ client_name: 'x', access_token_ttl: 'soon' }, { field: 'access_token_ttl', error_description: 'access_token_ttl: Invalid input: expected number, received string' }],
        [{ redirect_uris: [] }, { field: 'client_name', error_description: 'client_name: Invalid input: expected string, received undefined' }],
        [{ client_name: 'x', grant_types: ['magic'] }, { field: 'grant_types[0]', error_description: expect.stringMatching(/^grant_types\[0\]: Invalid option: expected one of /) as never }],
      ];
      for (const [payload, expected] of cases) {
        const r = await rootApi.post('/tenants/default/clients', payload);
        expect({ status: r.status, body: r.body }, JSON.stringify(payload)).toEqual({ status: 400, body: { error: 'invalid_request', ...expected } });
      }
      const rules = await rootApi.post('/tenants/default/clients', { client_name: 'x', public: true, grant_types: ['client_credentials'] });
      expect({ status: rules.status, body: rules.body }).toEqual({
        status: 400, body: { error: 'invalid_request', error_description: 'a public client cannot use the client_credentials grant' },
      });
      const scope = await rootApi.post('/tenants/admin/users', { username: 'x', operator_tenants: ['nowhere'] });
      expect({ status: scope.status, body: scope.body }).toEqual({
        status: 400, body: { error: 'invalid_request', error_description: 'tenant nowhere does not exist', field: 'operator_tenants' },
      });
    });

    it('manages APIs and their scopes', async () => {
      const created = await rootApi.post('/tenants/default/apis', {
        audience: 'https://api.example.com/', name: 'Example', scopes: [{ name: 'write:things', description: 'Change your things' }, { name: 'read:things' }],
      });
      const view = {
        id: ID, tenant: 'default', audience: 'https://api.example.com/', name: 'Example', access_token_ttl: null,
        scopes: [{ name: 'read:things', description: 'read:things' }, { name: 'write:things', description: 'Change your things' }], created_at: T0, updated_at: T0,
      };
      expect({ status: created.status, body: created.body }).toEqual({ status: 201, body: { client_id: created.body.id, client_secret: SECRET, ...view } });
      const id = created.body.id;
      expect((await rootApi.get(`/tenants/default/apis/${id}`)).body).toEqual({ ...view, id });
      const updated = await rootApi.patch(`/tenants/default/apis/${id}`, { scopes: [{ name: 'read:things', description: 'See your things' }], access_token_ttl: 900 });
      expect(updated.body).toEqual({ ...view, id, access_token_ttl: 900, scopes: [{ name: 'read:things', description: 'See your things' }] });
      expect((await rootApi.get('/tenants/default/apis')).body).toEqual({ items: [updated.body], next_cursor: null });
      const clash = await rootApi.post('/tenants/default/apis', { audience: 'https://other.example.com/', scopes: [{ name: 'read:things' }] });
      expect({ status: clash.status, body: clash.body }).toEqual({
        status: 409, body: { error: 'conflict', error_description: 'scope read:things is already defined by API https://api.example.com/ in tenant default' },
      });
      expect((await rootApi.del(`/tenants/default/apis/${id}`)).body).toEqual({ deleted: { id, audience: 'https://api.example.com/' } });
    });

    it('manages users: create, update with a password, disable, delete', async () => {
      const created = await rootApi.post('/tenants/default/users', { username: 'bob', password: 'bob-password-123', email: 'bob@example.test', name: 'Bob' });
      const view = {
        id: ID, tenant: 'default', username: 'bob', email: 'bob@example.test', email_verified: false, name: 'Bob', disabled: false,
        must_change_password: false, created_at: T0, updated_at: T0,
      };
      expect({ status: created.status, body: created.body }).toEqual({ status: 201, body: view });
      const id = created.body.id;
      const updated = await rootApi.patch(`/tenants/default/users/${id}`, { password: 'a-new-password-456', must_change_password: true, disabled: true });
      expect(updated.body).toEqual({ ...view, id, disabled: true, must_change_password: true });
      const weak = await rootApi.patch(`/tenants/default/users/${id}`, { password: 'bob' });
      expect({ status: weak.status, body: weak.body }).toEqual({ status: 400, body: { error: 'invalid_request', error_description: expect.stringMatching(/password/) } });
      expect((await rootApi.get('/tenants/default/users/bob')).body).toEqual(updated.body);
      expect((await rootApi.del(`/tenants/default/users/${id}`)).body).toEqual({ deleted: { id, username: 'bob' } });
      expect((await rootApi.get(`/tenants/default/users/${id}`)).status).toBe(404);
    });

    it('lists and revokes a user’s sessions, grants and personal tokens', async () => {
      const carol = await createUser(t.deps, 'default', { username: 'carol' });
      await t.storage.sessions.create({ key: 'k1', id: 'sid-1', tenantId: 'default', userId: carol.id, authTime: T0, amr: ['pwd'], createdAt: T0, idleExpiresAt: T0 + 1800, expiresAt: T0 + 36000, revokedAt: null });
      const grant = { id: 'grant-1', tenantId: 'default', clientId: 'some-client', subject: carol.id, scope: 'openid', createdAt: T0, expiresAt: T0 + 3600, revokedAt: null };
      await t.storage.grants.ensure(grant);
      const base = `/tenants/default/users/${carol.id}`;
      expect((await rootApi.get(`${base}/sessions`)).body).toEqual({
        items: [{ id: 'sid-1', auth_time: T0, amr: ['pwd'], created_at: T0, idle_expires_at: T0 + 1800, expires_at: T0 + 36000 }], next_cursor: null,
      });
      expect((await rootApi.get(`${base}/grants`)).body).toEqual({ items: [{ id: 'grant-1', client_id: 'some-client', scope: 'openid', created_at: T0, expires_at: T0 + 3600 }], next_cursor: null });
      expect((await rootApi.del(`${base}/sessions/sid-1`)).status).toBe(204);
      expect((await rootApi.del(`${base}/grants/grant-1`)).status).toBe(204);
      expect((await rootApi.get(`${base}/sessions`)).body).toEqual({ items: [], next_cursor: null });
      expect((await rootApi.get(`${base}/grants`)).body).toEqual({ items: [], next_cursor: null });
      const again = await rootApi.del(`${base}/sessions/sid-1`);
      expect({ status: again.status, body: again.body }).toEqual({ status: 404, body: { error: 'not_found', error_description: 'the user has no live session sid-1' } });

      await rootApi.post('/tenants/default/apis', { audience: 'https://tokens.example/', scopes: [{ name: 'read:pulse' }] });
      const issuer = `${PUBLIC_URL}/realms/default`;
      const issued = await issuePersonalToken(t.deps, {
        tenant: (await t.storage.tenants.get('default'))!, issuer, user: carol, client: await ensureBuiltinClient(t.deps, 'default', 'personal', issuer),
        apis: await t.storage.apis.list('default'), scopes: ['read:pulse'], name: 'Stream overlay',
      });
      expect((await rootApi.get(`${base}/personal-tokens`)).body).toEqual({
        items: [{ id: issued.grantId, name: 'Stream overlay', client_id: 'tessera.personal-tokens.default', scopes: ['read:pulse'], created_at: T0, expires_at: T0 + 30 * 86400 }],
        next_cursor: null,
      });
      expect((await rootApi.del(`${base}/personal-tokens/${issued.grantId}`)).status).toBe(204);
      expect((await rootApi.get(`${base}/personal-tokens`)).body).toEqual({ items: [], next_cursor: null });
    });

    it('lists, rotates and revokes signing keys', async () => {
      const before = await rootApi.get('/tenants/default/keys');
      const key = (alg: string, purpose: string, status: string, activatesAt = T0) => ({ kid: expect.stringMatching(new RegExp(`^${alg.toLowerCase()}-`)), alg, purpose, status, created_at: T0, activates_at: activatesAt });
      expect(before.body).toEqual({ items: [key('ES256', 'access', 'active'), key('RS256', 'id', 'active')], next_cursor: null });
      const rotated = await rootApi.post('/tenants/default/keys/rotate', { purpose: 'access' });
      expect({ status: rotated.status, body: rotated.body }).toEqual({ status: 201, body: { added: [key('ES256', 'access', 'pending', T0 + 300)] } });
      const kid = before.body.items[1].kid;
      const revoked = await rootApi.post(`/tenants/default/keys/${kid}/revoke`);
      expect(revoked.body).toEqual({ revoked: kid, replacement: key('RS256', 'id', 'active') });
    });
  });

  describe('audit and pagination', () => {
    it('records every change with the operator as actor, filtered by type', async () => {
      const r = await rootApi.get('/tenants/admin/audit-events?type=tenant');
      expect(r.status).toBe(200);
      const scoped = (await t.storage.users.findByUsername(ADMIN_TENANT, 'acme-ops'))!;
      expect(r.body.items.map((e: { type: string; actor: string; detail: { tenant: string } }) => [e.type, e.actor, e.detail.tenant])).toEqual([
        ['tenant.deleted', `operator:${root.id}`, 'initech'],
        ['tenant.updated', `operator:${root.id}`, 'initech'],
        ['tenant.updated', `operator:${root.id}`, 'initech'],
        ['tenant.created', `operator:${root.id}`, 'initech'],
        ['tenant.deleted', `operator:${root.id}`, 'globex'],
        ['tenant.updated', `operator:${root.id}`, 'globex'],
        ['tenant.created', `operator:${root.id}`, 'globex'],
        ['tenant.updated', `operator:${scoped.id}`, 'acme'],
        ['tenant.created', `operator:${root.id}`, 'acme'],
      ]);
      const clients = await rootApi.get(`/tenants/default/audit-events?type=client.secret_rotated&since=${T0}`);
      expect(clients.body).toEqual({
        items: [{ id: expect.any(String), type: 'client.secret_rotated', at: T0, actor: `operator:${root.id}`, client_id: expect.any(String), user_id: null, ip: null, detail: {} }],
        next_cursor: null,
      });
    });

    it('pages through with opaque cursors and refuses a tampered or borrowed one with 400', async () => {
      for (const id of ['p1', 'p2', 'p3', 'p4']) expect((await rootApi.post('/tenants', { id })).status).toBe(201);
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const r: { status: number; body: { items: { id: string }[]; next_cursor: string | null } } = await rootApi.get(`/tenants?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(r.status).toBe(200);
        seen.push(...r.body.items.map((i) => i.id));
        cursor = r.body.next_cursor;
        pages++;
      } while (cursor);
      expect({ seen, pages }).toEqual({ seen: ['acme', 'admin', 'default', 'p1', 'p2', 'p3', 'p4'], pages: 4 });

      const first = (await rootApi.get('/tenants?limit=2')).body.next_cursor as string;
      const [body, kid, mac] = first.split('.');
      const forged = `${Buffer.from(JSON.stringify('p3')).toString('base64url')}.${kid}.${mac}`;
      const refused = { status: 400, body: { error: 'invalid_request', error_description: 'the cursor is not one this server gave out for this list', field: 'cursor' } };
      for (const c of [forged, `${body}.${kid}.${mac.slice(0, -2)}xx`, 'garbage']) {
        const r = await rootApi.get(`/tenants?limit=2&cursor=${encodeURIComponent(c)}`);
        expect({ status: r.status, body: r.body }, c).toEqual(refused);
      }
      const borrowed = await rootApi.get(`/tenants/default/users?cursor=${encodeURIComponent(first)}`);
      expect({ status: borrowed.status, body: borrowed.body }).toEqual(refused);
      const tooMany = await rootApi.get('/tenants?limit=1000');
      expect({ status: tooMany.status, body: tooMany.body }).toEqual({
        status: 400, body: { error: 'invalid_request', error_description: 'limit: Too big: expected number to be <=200', field: 'limit' },
      });
    });

    it('pages through audit events with signed cursors', async () => {
      const page1 = await rootApi.get('/tenants/admin/audit-events?type=tenant&limit=3');
      expect(page1.body.items).toHaveLength(3);
      const page2 = await rootApi.get(`/tenants/admin/audit-events?type=tenant&limit=3&cursor=${encodeURIComponent(page1.body.next_cursor)}`);
      expect(page2.status).toBe(200);
      const ids = [...page1.body.items, ...page2.body.items].map((e: { id: string }) => e.id);
      expect(new Set(ids).size).toBe(ids.length);
      const otherFilter = await rootApi.get(`/tenants/admin/audit-events?type=user&limit=3&cursor=${encodeURIComponent(page1.body.next_cursor)}`);
      expect(otherFilter.status).toBe(400);
    });
  });
});
