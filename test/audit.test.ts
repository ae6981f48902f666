/**
 * Audit events: sign-ins, consent, tokens issued, refreshed and revoked, user and client
 * changes — recorded per tenant with actor, client, user, IP and time, never a credential,
 * and never at the cost of the request they describe.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { recordAudit } from '../src/audit.js';
import { createClient, deleteClient, updateClient } from '../src/manage/clients.js';
import { revokeApp } from '../src/manage/personal_tokens.js';
import { createTenant } from '../src/manage/tenants.js';
import { createUser, deleteUser, updateUser } from '../src/manage/users.js';
import type { AuditEvent } from '../src/storage/types.js';
import { BACKENDS, FakeClock, startTestApp, type TestApp } from './helpers.js';
import {
  AUTH, authUrl, drive, formOf, InjectBrowser, jsonView, PASSWORD, pathOf, pkce, redirectView, tokenRequest, type TestClient,
} from './security/support.js';

const REDIRECT = 'https://app.example/cb';
const ID = expect.stringMatching(/^[0-9a-z]{24}$/);

describe.each(BACKENDS)('audit events on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  const now = () => Math.floor(clock.ms / 1000);
  const event = (e: Partial<AuditEvent> & Pick<AuditEvent, 'type' | 'actor'>, tenantId = 'default'): AuditEvent => ({
    id: ID, tenantId, at: now(), clientId: null, userId: null, ip: null, detail: {}, ...e,
  });
  const list = async (tenant: string, query: Partial<Parameters<TestApp['storage']['audit']['list']>[1]> = {}) =>
    (await t.storage.audit.list(tenant, { limit: 100, ...query })).events;

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
  });
  afterAll(() => t?.close());

  it('records user and client changes with the actor and the names of changed fields, never their values', async () => {
    await createTenant(t.deps, { id: 'ops' });
    const { client } = await createClient(t.deps, 'ops', { name: 'Avatar Studio', redirectUris: [REDIRECT] }, 86400);
    clock.advance(1);
    await updateClient({ ...t.deps, actor: 'admin-user-1' }, 'ops', client.clientId, { name: 'Avatar Studio 2', scopes: ['read:avatars'] }, 86400);
    const user = await createUser(t.deps, 'ops', { username: 'alice', password: PASSWORD });
    clock.advance(1);
    await updateUser(t.deps, 'ops', 'alice', { password: 'another horse battery', email: 'alice@example.test' });
    await deleteUser(t.deps, 'ops', 'alice');
    await deleteClient(t.deps, 'ops', client.clientId);

    const events = await list('ops');
    const at = now();
    expect(events).toEqual([
      event({ type: 'client.deleted', actor: 'operator', clientId: client.clientId, at }, 'ops'),
      event({ type: 'user.deleted', actor: 'operator', userId: user.id, detail: { username: 'alice' }, at }, 'ops'),
      event({ type: 'user.updated', actor: 'operator', userId: user.id, detail: { fields: ['email', 'password'] }, at }, 'ops'),
      event({ type: 'user.created', actor: 'operator', userId: user.id, detail: { username: 'alice' }, at: at - 1 }, 'ops'),
      event({ type: 'client.updated', actor: 'admin-user-1', clientId: client.clientId, detail: { fields: ['name', 'scopes'] }, at: at - 1 }, 'ops'),
      event({ type: 'client.created', actor: 'operator', clientId: client.clientId, detail: { name: 'Avatar Studio' }, at: at - 2 }, 'ops'),
    ]);
    expect(JSON.stringify(events)).not.toMatch(/horse battery/);
  });

  it('records sign-in failures and success, consent, issued, refreshed and reuse-revoked tokens — without a credential', async () => {
    await createTenant(t.deps, { id: 'web' });
    const c = await createClient(t.deps, 'web', { name: 'Web', redirectUris: [REDIRECT], scopes: ['read:avatars'] }, 86400);
    const web: TestClient = { id: c.client.clientId, secret: c.secret };
    const alice = await createUser(t.deps, 'web', { username: 'alice', password: PASSWORD });
    clock.advance(10);
    const since = now();
    const paths = { auth: '/realms/web/protocol/openid-connect/auth', token: '/realms/web/protocol/openid-connect/token' };

    const b = new InjectBrowser(t.app);
    const { verifier, challenge } = pkce();
    const url = authUrl({ response_type: 'code', client_id: web.id, redirect_uri: REDIRECT, scope: 'offline_access read:avatars', state: 's', code_challenge: challenge, code_challenge_method: 'S256' }, paths.auth);
    let page = await b.get(url);
    for (const [username, password] of [['mallory', 'guess-1'], ['alice', 'guess-2']]) {
      page = await b.post(pathOf(formOf(page.body).action), { ...formOf(page.body).fields, username, password });
      expect(page.statusCode).toBe(401);
    }
    const { res } = await drive(b, url);
    const code = redirectView(res).query.code;
    const issued = await tokenRequest(t.app, web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, paths.token);
    expect(issued.statusCode).toBe(200);
    const first = issued.json().refresh_token;
    const refreshed = await tokenRequest(t.app, web, { grant_type: 'refresh_token', refresh_token: first }, paths.token);
    expect(refreshed.statusCode).toBe(200);
    // A rotated-out token presented again revokes the grant.
    expect((await tokenRequest(t.app, web, { grant_type: 'refresh_token', refresh_token: first }, paths.token)).statusCode).toBe(400);

    const events = await list('web', { since });
    const grantId = expect.any(String);
    const ip = '127.0.0.1';
    const common = { clientId: web.id, ip };
    expect(events.reverse()).toEqual([
      event({ type: 'sign_in.failure', actor: 'anonymous', ...common, detail: { reason: 'unknown_user' } }, 'web'),
      event({ type: 'sign_in.failure', actor: alice.id, userId: alice.id, ...common, detail: { reason: 'invalid_password' } }, 'web'),
      event({ type: 'sign_in.success', actor: alice.id, userId: alice.id, ...common, detail: { method: 'pwd' } }, 'web'),
      event({ type: 'consent.granted', actor: alice.id, userId: alice.id, ...common, detail: { scope: 'offline_access read:avatars' } }, 'web'),
      event({ type: 'token.issued', actor: web.id, userId: alice.id, ...common, detail: { grant_type: 'authorization_code', scope: 'offline_access read:avatars', grant_id: grantId } }, 'web'),
      event({ type: 'token.refreshed', actor: web.id, userId: alice.id, ...common, detail: { scope: 'offline_access read:avatars', grant_id: grantId } }, 'web'),
      event({ type: 'token.revoked', actor: web.id, userId: alice.id, ...common, detail: { reason: 'refresh_reuse', grant_id: grantId } }, 'web'),
    ]);
    const all = JSON.stringify(events);
    for (const secret of [PASSWORD, 'guess-1', 'guess-2', 'mallory', code, first, refreshed.json().refresh_token, issued.json().access_token, web.secret!]) {
      expect(all).not.toContain(secret);
    }
    // Codes and tokens never appear, and the grant ties the three token events together.
    expect(new Set(events.filter((e) => e.type.startsWith('token.')).map((e) => e.detail.grant_id)).size).toBe(1);
  });

  it('records revocation requests and an app disconnected by its user', async () => {
    await createTenant(t.deps, { id: 'rev' });
    const c = await createClient(t.deps, 'rev', { name: 'Rev', redirectUris: [REDIRECT], scopes: ['read:avatars'] }, 86400);
    const svcC = await createClient(t.deps, 'rev', { name: 'Rev Service', grantTypes: ['client_credentials'] }, 86400);
    const web: TestClient = { id: c.client.clientId, secret: c.secret };
    const svc: TestClient = { id: svcC.client.clientId, secret: svcC.secret };
    const bob = await createUser(t.deps, 'rev', { username: 'bob', password: PASSWORD });
    const paths = { auth: '/realms/rev/protocol/openid-connect/auth', token: '/realms/rev/protocol/openid-connect/token', revoke: '/realms/rev/protocol/openid-connect/revoke' };
    const { res } = await drive(new InjectBrowser(t.app), authUrl({ response_type: 'code', client_id: web.id, redirect_uri: REDIRECT, scope: 'offline_access read:avatars', state: 's' }, paths.auth), { username: 'bob' });
    const tokens = (await tokenRequest(t.app, web, { grant_type: 'authorization_code', code: redirectView(res).query.code, redirect_uri: REDIRECT }, paths.token)).json();
    const server = (await tokenRequest(t.app, svc, { grant_type: 'client_credentials' }, paths.token)).json();
    clock.advance(5);
    const since = now();
    expect((await tokenRequest(t.app, svc, { token: server.access_token }, paths.revoke)).statusCode).toBe(200);
    expect((await tokenRequest(t.app, web, { token: tokens.refresh_token, token_type_hint: 'refresh_token' }, paths.revoke)).statusCode).toBe(200);
    expect(await revokeApp({ ...t.deps, actor: bob.id }, 'rev', bob.id, web.id)).toBe(true);

    expect((await list('rev', { since })).reverse()).toEqual([
      event({ type: 'token.revoked', actor: svc.id, clientId: svc.id, detail: { reason: 'revocation_request', kind: 'access' } }, 'rev'),
      event({ type: 'token.revoked', actor: web.id, clientId: web.id, detail: { reason: 'revocation_request', kind: 'refresh', grant_id: expect.any(String) } }, 'rev'),
      event({ type: 'consent.revoked', actor: bob.id, userId: bob.id, clientId: web.id, detail: { grants_revoked: 0 } }, 'rev'),
    ]);
  });

  it('records client_credentials issuance once per client per minute, not per token', async () => {
    const c = await createClient(t.deps, 'default', { name: 'Service', grantTypes: ['client_credentials'] }, 86400);
    const svc: TestClient = { id: c.client.clientId, secret: c.secret };
    clock.ms = Math.ceil(clock.ms / 60_000) * 60_000 + 60_000;
    const minute = now();
    for (let i = 0; i < 5; i++) expect((await tokenRequest(t.app, svc, { grant_type: 'client_credentials' })).statusCode).toBe(200);
    clock.advance(59);
    expect((await tokenRequest(t.app, svc, { grant_type: 'client_credentials' })).statusCode).toBe(200);
    clock.advance(1);
    expect((await tokenRequest(t.app, svc, { grant_type: 'client_credentials' })).statusCode).toBe(200);

    const issued = event({ type: 'token.issued', actor: svc.id, clientId: svc.id, ip: '127.0.0.1', detail: { grant_type: 'client_credentials', scope: '', sampled: 'first per client per minute on this node' } });
    expect(await list('default', { type: 'token.issued', since: minute })).toEqual([{ ...issued, at: minute + 60 }, { ...issued, at: minute }]);
  });

  it('lists by exact type, by family and since a time, newest first, in pages that later events do not shift', async () => {
    await createTenant(t.deps, { id: 'pages' });
    const start = now();
    const types = ['user.created', 'client.created', 'user.updated', 'token.issued', 'user.deleted'] as const;
    for (const type of types) {
      await recordAudit(t.services, 'pages', { type, actor: 'operator', detail: { n: type } });
      clock.advance(1);
    }
    const names = (events: AuditEvent[]) => events.map((e) => e.type);
    expect(names(await list('pages', { type: 'user.updated' }))).toEqual(['user.updated']);
    expect(names(await list('pages', { type: 'user' }))).toEqual(['user.deleted', 'user.updated', 'user.created']);
    expect(names(await list('pages', { type: 'nothing' }))).toEqual([]);
    expect(names(await list('pages', { since: start + 3 }))).toEqual(['user.deleted', 'token.issued']);

    const one = await t.storage.audit.list('pages', { limit: 2 });
    expect({ types: names(one.events), cursor: one.nextCursor }).toEqual({ types: ['user.deleted', 'token.issued'], cursor: expect.any(String) });
    await recordAudit(t.services, 'pages', { type: 'client.deleted', actor: 'operator' });
    const two = await t.storage.audit.list('pages', { limit: 2, cursor: one.nextCursor });
    expect({ types: names(two.events), more: two.nextCursor !== undefined }).toEqual({ types: ['user.updated', 'client.created'], more: true });
    const three = await t.storage.audit.list('pages', { limit: 2, cursor: two.nextCursor });
    expect(three).toEqual({ events: [event({ type: 'user.created', actor: 'operator', detail: { n: 'user.created' }, at: start }, 'pages')] });
    await expect(t.storage.audit.list('pages', { limit: 2, cursor: 'not-a-cursor' })).rejects.toThrow('the cursor is not one this server gave out');
    // Another tenant's events are not listed.
    expect(await list('nowhere')).toEqual([]);
  });

  it('drops a credential-named detail, and a storage failure is logged while the request succeeds', async () => {
    await createTenant(t.deps, { id: 'flaky' });
    await recordAudit(t.services, 'flaky', { type: 'token.issued', actor: 'x', detail: { grant_type: 'password', password: 'p', access_token: 'a', client_secret: 's', code: 'c', scope: 'a b' } });
    expect(await list('flaky')).toEqual([event({ type: 'token.issued', actor: 'x', detail: { grant_type: 'password', scope: 'a b' } }, 'flaky')]);

    await createUser(t.deps, 'default', { username: 'carol', password: PASSWORD });
    const c = await createClient(t.deps, 'default', { name: 'Flaky', redirectUris: [REDIRECT], consent: 'skip' }, 86400);
    const record = t.storage.audit.record;
    const logged = vi.spyOn(t.services.log, 'error');
    t.storage.audit.record = async () => {
      throw new Error('disk full');
    };
    try {
      const b = new InjectBrowser(t.app);
      const { res } = await drive(b, authUrl({ response_type: 'code', client_id: c.client.clientId, redirect_uri: REDIRECT, scope: 'openid', state: 's' }, AUTH), { username: 'carol' });
      const code = redirectView(res).query.code;
      const tokens = await tokenRequest(t.app, { id: c.client.clientId, secret: c.secret }, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT });
      expect(jsonView(tokens)).toEqual({
        status: 200, body: { access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'openid', id_token: expect.any(String) },
      });
      expect(logged.mock.calls.map(([obj, msg]) => [(obj as { audit: string }).audit, msg])).toEqual([
        ['sign_in.success', 'audit event not recorded'],
        ['token.issued', 'audit event not recorded'],
      ]);
    } finally {
      t.storage.audit.record = record;
      logged.mockRestore();
    }
  });
});
