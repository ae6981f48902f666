/**
 * The admin tenant's first start (issue 6): the first operator with TESSERA_ADMIN_PASSWORD or a
 * generated password in a 0600 file that no log shows, and the "choose a new password" step at
 * first sign-in, which any user with must_change_password goes through.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminPasswordFile, CONSOLE_CLIENT_ID, ensureAdminTenant, ensureFirstOperator } from '../src/admin/bootstrap.js';
import { verifyPassword } from '../src/crypto/password.js';
import { ADMIN_TENANT } from '../src/manage/tenants.js';
import { BACKENDS, form, FORM_HEADERS, type TestApp } from './helpers.js';
import { adminApi, startAdminApp, tokenFor } from './support/admin.js';
import { formOf, InjectBrowser, pathOf } from './support/inject_browser.js';
import { startServer } from './support/server.js';

const AUTH = '/realms/admin/protocol/openid-connect/auth';
const TOKEN = '/realms/admin/protocol/openid-connect/token';
// The console's redirect URI follows the public URL; an http one must be loopback (RFC 8252 §7.3), as in development.
const LOCAL_URL = 'http://localhost:9000';
const CALLBACK = `${LOCAL_URL}/admin/callback`;

describe('the first operator’s password', () => {
  it('is generated into admin-password.txt beside the SQLite file, mode 0600, and only its place is logged', async () => {
    const server = await startServer({ env: { LOG_LEVEL: 'info' } });
    try {
      const file = adminPasswordFile(server.database.url);
      expect(file).toBe(join(server.database.url.slice('sqlite:'.length), '..', 'admin-password.txt'));
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const password = readFileSync(file, 'utf8').trim();
      expect(password).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(server.output()).toContain(`created the first operator \\"admin\\"; its password is in ${file} (change it at first sign-in). Sign in at ${server.baseUrl}/admin (issuer ${server.baseUrl}/realms/admin)`);
      expect(server.output()).not.toContain(password);
      const admin = await server.cli('user', 'show', '--tenant', 'admin', 'admin');
      expect(admin).toMatchObject({ username: 'admin', must_change_password: true, disabled: false, operator_tenants: null });
    } finally {
      await server.stop();
    }
  });

  it('is TESSERA_ADMIN_PASSWORD when set: no file is written and the password is never logged', async () => {
    const secret = 'Operator-Secret-4711';
    const server = await startServer({ env: { LOG_LEVEL: 'info', TESSERA_ADMIN_PASSWORD: secret } });
    try {
      expect(existsSync(adminPasswordFile(server.database.url))).toBe(false);
      expect(server.output()).toContain('created the first operator \\"admin\\"; its password is TESSERA_ADMIN_PASSWORD');
      expect(server.output()).not.toContain(secret);
    } finally {
      await server.stop();
    }
  });
});

describe.each(BACKENDS)('first operator and the password change at first sign-in on %s', (backend) => {
  let t: TestApp;
  let dir: string;

  beforeAll(async () => {
    t = await startAdminApp(backend, { config: { publicUrl: LOCAL_URL } });
    dir = mkdtempSync(join(tmpdir(), 'tessera-admin-'));
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('makes the console client follow the server’s public URL, but not a CLI’s', async () => {
    const uris = async () => (await t.storage.clients.get(ADMIN_TENANT, CONSOLE_CLIENT_ID))!.redirectUris;
    expect(await uris()).toEqual([CALLBACK]);
    await ensureAdminTenant(t.deps, 'https://cli.example', { correct: false });
    expect(await uris()).toEqual([CALLBACK]);
    await ensureAdminTenant(t.deps, 'https://auth.example');
    expect(await uris()).toEqual(['https://auth.example/admin/callback']);
    await ensureAdminTenant(t.deps, LOCAL_URL);
    expect(await uris()).toEqual([CALLBACK]);
  });

  it('refuses a TESSERA_ADMIN_PASSWORD the password policy refuses, naming the variable', async () => {
    await expect(ensureFirstOperator(t.deps, { adminPassword: 'admin', databaseUrl: `sqlite:${join(dir, 'x.db')}` })).rejects.toThrow(/^TESSERA_ADMIN_PASSWORD: /);
    expect(await t.storage.users.list(ADMIN_TENANT)).toEqual([]);
  });

  it('creates the operator once, with the flag set, and leaves an existing one alone', async () => {
    const made = await ensureFirstOperator(t.deps, { adminPassword: 'first-start-pass-9', databaseUrl: `sqlite:${join(dir, 'x.db')}` });
    expect(made).toEqual({ username: 'admin' });
    const user = (await t.storage.users.findByUsername(ADMIN_TENANT, 'admin'))!;
    expect(user).toMatchObject({ mustChangePassword: true, disabled: false });
    expect(await verifyPassword(user.passwordHash, 'first-start-pass-9')).toBe(true);
    expect(await ensureFirstOperator(t.deps, { adminPassword: 'another-pass-1234', databaseUrl: `sqlite:${join(dir, 'x.db')}` })).toBeUndefined();
    expect(existsSync(join(dir, 'admin-password.txt'))).toBe(false);
  });

  it('asks for a new password after the right one, then completes the console’s code + PKCE sign-in', async () => {
    const b = new InjectBrowser(t.app);
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const login = await b.get(`${AUTH}?${new URLSearchParams({
      response_type: 'code', client_id: CONSOLE_CLIENT_ID, redirect_uri: CALLBACK, scope: 'openid admin', state: 's1', code_challenge: challenge, code_challenge_method: 'S256',
    })}`);
    expect(login.statusCode).toBe(200);
    const lf = formOf(login.body);
    const step = await b.post(pathOf(lf.action), { ...lf.fields, username: 'admin', password: 'first-start-pass-9' });
    expect(step.statusCode).toBe(200);
    expect(step.body).toContain('<h1>Choose a new password</h1>');
    // No session yet: the sign-in completes only with the new password.
    expect(b.cookies.has('tessera_session_admin')).toBe(false);
    const sf = formOf(step.body);
    expect(sf.action).toBe(`${LOCAL_URL}/realms/admin/login-actions/required-action`);

    const same = await b.post(pathOf(sf.action), { ...sf.fields, password: 'first-start-pass-9', password_confirm: 'first-start-pass-9' });
    expect(same.statusCode).toBe(400);
    expect(same.body).toContain('Choose a password different from the current one.');
    const mismatch = await b.post(pathOf(sf.action), { ...sf.fields, password: 'brand-new-pass-77', password_confirm: 'brand-new-pass-78' });
    expect(mismatch.statusCode).toBe(400);
    expect(mismatch.body).toContain('The two new passwords do not match.');

    const changed = await b.post(pathOf(sf.action), { ...sf.fields, password: 'brand-new-pass-77', password_confirm: 'brand-new-pass-77' });
    // Signed in now; a public client on a loopback redirect URI is always asked about (RFC 8252 §8.6),
    // so in development the console's consent is not skipped (on an https public URL it is).
    expect(changed.statusCode).toBe(200);
    expect(b.cookies.has('tessera_session_admin')).toBe(true);
    expect(changed.body).toContain('Tessera admin console wants access to your account');
    const cf = formOf(changed.body);
    const done = await b.post(pathOf(cf.action), { ...cf.fields, decision: 'allow' });
    expect(done.statusCode).toBe(303);
    const location = new URL(done.headers.location as string);
    expect(`${location.origin}${location.pathname}`).toBe(CALLBACK);
    expect(location.searchParams.get('state')).toBe('s1');
    // The step is single-use.
    const replay = await b.post(pathOf(sf.action), { ...sf.fields, password: 'other-new-pass-88', password_confirm: 'other-new-pass-88' });
    expect(replay.statusCode).toBe(400);

    const token = await t.app.inject({
      method: 'POST', url: TOKEN, headers: FORM_HEADERS,
      payload: form({ grant_type: 'authorization_code', code: location.searchParams.get('code')!, redirect_uri: CALLBACK, client_id: CONSOLE_CLIENT_ID, code_verifier: verifier }),
    });
    expect(token.statusCode).toBe(200);
    expect(token.json().scope.split(' ').sort()).toEqual(['admin', 'openid']);
    const user = (await t.storage.users.findByUsername(ADMIN_TENANT, 'admin'))!;
    expect(user.mustChangePassword).toBe(false);
    expect(await verifyPassword(user.passwordHash, 'brand-new-pass-77')).toBe(true);
    const me = await adminApi(t, token.json().access_token).get('/me');
    expect({ status: me.status, body: me.body }).toEqual({ status: 200, body: { id: user.id, username: 'admin', tenants: null } });
  });

  it('refuses the admin API to an operator whose password must be changed, until it is', async () => {
    const user = (await t.storage.users.findByUsername(ADMIN_TENANT, 'admin'))!;
    const token = await tokenFor(t, user);
    await t.storage.users.update({ ...user, mustChangePassword: true });
    const r = await adminApi(t, token).get('/me');
    expect({ status: r.status, body: r.body }).toEqual({ status: 403, body: { error: 'access_denied', error_description: 'the operator must change their password first (sign in again)' } });
    await t.storage.users.update({ ...user, mustChangePassword: false });
    expect((await adminApi(t, token).get('/me')).status).toBe(200);
  });
});
