/**
 * The admin console in Chromium (issue 6, "Done when"): an operator signs in to /admin with
 * code + PKCE (changing the bootstrap password on the way), creates a tenant, an API with
 * scopes, a client on a loopback redirect URI and a user — all through the console's pages —
 * then that user completes a code flow against that client, and the overview charts it.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide, signIn, startApp, type LoopbackApp } from './apps.js';
import { launchBrowser, resultPath, startServer, type TesseraServer } from './browser.js';
import { waitForScope } from '../support/server.js';

const FIRST_PASSWORD = 'bootstrap-Operator-pass-1';
const NEW_PASSWORD = 'changed-Operator-pass-22';
const BOB = { username: 'bob', password: 'bob-correct-horse-9' };

let browser: Browser;
let server: TesseraServer;
let app: LoopbackApp;

beforeAll(async () => {
  [browser, server, app] = await Promise.all([launchBrowser(), startServer({ env: { TESSERA_ADMIN_PASSWORD: FIRST_PASSWORD } }), startApp()]);
  app.route('/cb', (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>received</title><p id="received">received</p>'));
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await app?.close();
});

/** Collects CSP violations and script errors: the console must run under its strict CSP. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    // Refusals the test provokes (a 400 from the API) and the favicon's 404 are not problems.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  page.on('response', (r) => {
    if (r.status() === 404) problems.push(`404 ${r.url()}`);
  });
  return problems;
}

/** Fills the console form `formId`'s control labelled `label`. */
const field = (page: Page, formId: string, label: string) => page.locator(`#${formId}`).getByLabel(label, { exact: true });

describe('admin console in Chromium', () => {
  it('signs in, creates a tenant, an API, a client and a user through the UI; the user then completes a code flow against that client', async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
    const page = await context.newPage();
    const problems = watch(page);
    const adminIssuer = `${server.baseUrl}/realms/admin`;
    try {
      const landing = await page.goto(`${server.baseUrl}/admin`);
      expect(landing!.headers()['content-security-policy']).toContain("script-src 'self'");
      expect(landing!.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
      await page.locator('#sign-in').click();

      // The bootstrap operator: the login form, then "Choose a new password", then (a loopback
      // public client, RFC 8252 §8.6) the consent page, then back to /admin/callback.
      await signIn(page, adminIssuer, { username: 'admin', password: FIRST_PASSWORD });
      await page.locator('input[name="password_confirm"]').waitFor({ timeout: 15_000 });
      await page.locator('input[name="password"]').fill(NEW_PASSWORD);
      await page.locator('input[name="password_confirm"]').fill(NEW_PASSWORD);
      await page.locator('button[type="submit"]').click();
      await decide(page, { clientName: 'Tessera admin console', descriptions: [] });
      await page.waitForURL(`${server.baseUrl}/admin#/**`, { timeout: 15_000 });
      await expect.poll(() => page.locator('#operator').textContent(), { timeout: 15_000 }).toBe('Signed in as admin');
      // No code left in the address bar; the token is not in any cookie.
      expect(page.url()).not.toContain('code=');
      expect((await context.cookies()).map((c) => c.value).join(' ')).not.toMatch(/eyJ/);

      // A tenant.
      await page.locator('#nav').getByRole('link', { name: 'Tenants', exact: true }).click();
      await field(page, 'create-tenant', 'Tenant id').fill('acme');
      await field(page, 'create-tenant', 'Display name').fill('Acme Avatars');
      await page.getByRole('button', { name: 'Create tenant' }).click();
      await expect.poll(() => page.locator('#flash').textContent()).toBe('Tenant acme created.');
      await page.getByRole('link', { name: 'acme', exact: true }).click();
      await field(page, 'edit-tenant', 'Self-service sign-up (registration)').check();
      await page.getByRole('button', { name: 'Save settings' }).click();
      await expect.poll(() => page.locator('#flash').textContent()).toBe('Settings saved.');
      expect(await field(page, 'edit-tenant', 'Self-service sign-up (registration)').isChecked()).toBe(true);
      await page.locator('#tenant-picker').selectOption('acme');

      // An API with scopes.
      await page.locator('#nav').getByRole('link', { name: 'APIs', exact: true }).click();
      await field(page, 'create-api', 'Audience (API identifier)').fill('https://api.acme.example/');
      await field(page, 'create-api', 'Name').fill('Avatars API');
      await field(page, 'create-api', 'Scopes').fill('read:avatars=Read your avatars\nwrite:avatars=Change your avatars');
      await page.getByRole('button', { name: 'Create API' }).click();
      await expect.poll(() => page.locator('#created .notice').textContent()).toBe('API Avatars API created with scopes read:avatars, write:avatars.');

      // A client: first a redirect URI the API refuses, shown next to its field; then the right one.
      await page.locator('#nav').getByRole('link', { name: 'Clients', exact: true }).click();
      await field(page, 'create-client', 'Name').fill('Avatar Studio');
      await field(page, 'create-client', 'Redirect URIs').fill(`${app.origin}/cb\nhttp://evil.example/cb`);
      await field(page, 'create-client', 'Scopes').fill('read:avatars');
      await page.getByRole('button', { name: 'Create client' }).click();
      const uriError = page.locator('#create-client .field-error[data-field="redirect_uris"]');
      await expect.poll(() => uriError.textContent()).toMatch(/^redirect_uris\[1\]: .*http is allowed only for loopback hosts/);
      await field(page, 'create-client', 'Redirect URIs').fill(`${app.origin}/cb`);
      await page.getByRole('button', { name: 'Create client' }).click();
      await page.locator('#client-secret').waitFor({ timeout: 15_000 });
      const clientId = (await page.locator('#client-id').textContent())!;
      const clientSecret = await page.locator('#client-secret').inputValue();
      expect(clientSecret.length).toBeGreaterThanOrEqual(43);
      expect(await uriError.textContent()).toBe('');

      // A user.
      await page.locator('#nav').getByRole('link', { name: 'Users', exact: true }).click();
      await field(page, 'create-user', 'Username').fill(BOB.username);
      await field(page, 'create-user', 'Password').fill(BOB.password);
      await field(page, 'create-user', 'Email').fill('bob@acme.example');
      await field(page, 'create-user', 'Email is verified').check();
      await page.getByRole('button', { name: 'Create user' }).click();
      await expect.poll(() => page.locator('#flash').textContent()).toBe('User bob created.');
      await page.screenshot({ path: resultPath('admin-console-users.png'), fullPage: true });

      // Bob, in a browser of his own, completes a code flow against the new client.
      const acme = `${server.baseUrl}/realms/acme`;
      await waitForScope(acme, 'read:avatars');
      const bobContext = await browser.newContext();
      try {
        const bobPage = await bobContext.newPage();
        await bobPage.goto(`${acme}/protocol/openid-connect/auth?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: `${app.origin}/cb`, scope: 'openid read:avatars', state: 'st-1' })}`);
        await signIn(bobPage, acme, BOB);
        await decide(bobPage, { clientName: 'Avatar Studio', descriptions: ['Read your avatars'] });
        await bobPage.locator('#received').waitFor({ timeout: 15_000 });
      } finally {
        await bobContext.close();
      }
      const received = app.received.find((r) => r.path === '/cb')!;
      expect(received.query.state).toBe('st-1');
      const token = await fetch(`${acme}/protocol/openid-connect/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}` },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: received.query.code, redirect_uri: `${app.origin}/cb` }),
      });
      const tokens = (await token.json()) as Record<string, string>;
      expect(token.status, JSON.stringify(tokens)).toBe(200);
      expect(tokens).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String), id_token: expect.any(String) });
      expect(tokens.scope.split(' ').sort()).toEqual(['openid', 'read:avatars']);

      // The overview charts Bob's sign-in and the token he got.
      await page.locator('#nav').getByRole('link', { name: 'Overview', exact: true }).click();
      await page.locator('#charts svg').first().waitFor({ timeout: 15_000 });
      const bars = (chart: string) => page.locator(`figure[data-chart="${chart}"] rect.bar`).evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('data-count'))));
      expect(await page.locator('#charts svg').count()).toBe(3);
      expect((await bars('sign-ins')).length).toBe(24);
      expect((await bars('sign-ins')).reduce((a, b) => a + b, 0)).toBe(1);
      expect((await bars('tokens')).reduce((a, b) => a + b, 0)).toBe(1);
      expect(await page.locator('figure[data-chart="sign-ins"] rect.bar[data-count="1"]').evaluate((r) => Number(r.getAttribute('height')))).toBeGreaterThan(0);
      await page.screenshot({ path: resultPath('admin-console-overview.png'), fullPage: true });

      // Bob's session, grant and personal token are on his page; the audit page filters by type.
      await server.cli('token', 'issue', '--tenant', 'acme', '--user', 'bob', '--scopes', 'read:avatars', '--name', 'overlay');
      await page.locator('#nav').getByRole('link', { name: 'Users', exact: true }).click();
      await page.getByRole('link', { name: 'bob', exact: true }).click();
      await expect.poll(() => page.getByRole('button', { name: 'Revoke grant' }).count()).toBe(2); // the app's and the token's
      expect(await page.getByRole('button', { name: 'Revoke session' }).count()).toBe(1);
      await page.getByRole('button', { name: 'Revoke token overlay' }).click();
      await expect.poll(() => page.locator('#flash').textContent()).toBe('Personal token revoked.');
      await expect.poll(() => page.getByText('No personal tokens.').count()).toBe(1);
      await page.locator('#nav').getByRole('link', { name: 'Audit', exact: true }).click();
      await page.locator('#audit-type').selectOption('sign_in');
      await expect.poll(() => page.locator('#audit tbody tr').allTextContents()).toEqual([expect.stringContaining('sign_in.success')]);

      // The client's page: edit its redirect URIs, rotate its secret (the old one stops working).
      page.on('dialog', (d) => void d.accept());
      await page.locator('#nav').getByRole('link', { name: 'Clients', exact: true }).click();
      await page.getByRole('link', { name: clientId, exact: true }).click();
      await field(page, 'edit-client', 'Redirect URIs').fill(`${app.origin}/cb\n${app.origin}/cb2`);
      await field(page, 'edit-client', 'Consent').selectOption('skip');
      await page.getByRole('button', { name: 'Save client' }).click();
      await expect.poll(() => page.locator('#flash').textContent()).toBe('Client saved.');
      expect(await field(page, 'edit-client', 'Redirect URIs').inputValue()).toBe(`${app.origin}/cb\n${app.origin}/cb2`);
      expect(await field(page, 'edit-client', 'Consent').inputValue()).toBe('skip');
      await page.getByRole('button', { name: 'Rotate secret' }).click();
      await page.locator('#client-secret').waitFor({ timeout: 15_000 });
      const rotated = await page.locator('#client-secret').inputValue();
      expect(rotated).not.toBe(clientSecret);
      const basic = (secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
      const tokenError = (secret: string) => fetch(`${acme}/protocol/openid-connect/token`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(secret) },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: 'none', redirect_uri: `${app.origin}/cb` }),
      }).then(async (r) => (await r.json()).error);
      // (The server's client cache sees the change within a second.)
      await expect.poll(() => tokenError(clientSecret), { timeout: 5_000 }).toBe('invalid_client');
      expect(await tokenError(rotated)).toBe('invalid_grant');

      // Keys: rotating adds pending keys to the list.
      await page.locator('#nav').getByRole('link', { name: 'Keys', exact: true }).click();
      const before = await page.locator('main table tbody tr').count();
      await page.getByRole('button', { name: 'Rotate keys' }).click();
      await expect.poll(() => page.locator('#flash').textContent()).toMatch(/^Added /);
      expect(await page.locator('main table tbody tr').count()).toBeGreaterThan(before);
      // Revoking a key (a compromised one) takes it off the list.
      const rows = await page.locator('main table tbody tr').count();
      await page.getByRole('button', { name: /^Revoke key / }).last().click();
      await expect.poll(() => page.locator('#flash').textContent()).toMatch(/^Revoked /);
      await expect.poll(() => page.locator('main table tbody tr').count()).toBe(rows - 1);

      // A refused access token is renewed with the session's refresh token, without a new sign-in.
      const stored = () => page.evaluate(() => JSON.parse(sessionStorage.getItem('tessera.console.tokens') ?? 'null'));
      const held = await stored();
      expect(held).toMatchObject({ access_token: expect.any(String), refresh_token: expect.any(String), id_token: expect.any(String) });
      await page.evaluate(() => {
        const t = JSON.parse(sessionStorage.getItem('tessera.console.tokens')!);
        sessionStorage.setItem('tessera.console.tokens', JSON.stringify({ ...t, access_token: 'not-a-token' }));
      });
      await page.locator('#nav').getByRole('link', { name: 'Tenants', exact: true }).click();
      await expect.poll(() => page.locator('main table').innerText()).toContain('acme');
      const renewed = await stored();
      expect(renewed.access_token).not.toBe('not-a-token');
      expect(renewed.refresh_token).not.toBe(held.refresh_token);

      // Operators are the admin tenant's users: a scoped one, made on the same page.
      await page.locator('#tenant-picker').selectOption('admin');
      await page.locator('#nav').getByRole('link', { name: 'Users', exact: true }).click();
      await field(page, 'create-user', 'Username').fill('acme-ops');
      await field(page, 'create-user', 'Password').fill('acme-ops-pass-12345');
      await field(page, 'create-user', 'Operator of tenants').fill('acme');
      await page.getByRole('button', { name: 'Create user' }).click();
      await expect.poll(() => page.locator('#flash').textContent()).toBe('User acme-ops created.');
      await page.getByRole('link', { name: 'acme-ops', exact: true }).click();
      await expect.poll(() => field(page, 'edit-user', 'Operator of tenants').inputValue()).toBe('acme');

      // Sign out ends the admin session: the next sign-in asks for the password again.
      await page.locator('#sign-out').click();
      await page.waitForURL(`${server.baseUrl}/admin`, { timeout: 15_000 });
      await page.locator('#sign-in').click();
      await page.locator('input[name="password"]').waitFor({ timeout: 15_000 });
      expect(page.url().startsWith(adminIssuer)).toBe(true);
      expect(problems).toEqual([]);
    } catch (err) {
      await page.screenshot({ path: resultPath('admin-console-failure.png'), fullPage: true }).catch(() => {});
      throw err;
    } finally {
      await context.close();
    }
  }, 120_000);
});

describe('admin console files', () => {
  it('serves the page and its assets with a strict CSP, and nothing else from its folder', async () => {
    const index = await fetch(`${server.baseUrl}/admin/callback?code=x&state=y`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(index.headers.get('cache-control')).toBe('no-store');
    expect(index.headers.get('referrer-policy')).toBe('no-referrer');
    const html = await index.text();
    expect(html).toContain(`<meta name="tessera-public-url" content="${server.baseUrl}">`);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)/);
    const js = await fetch(`${server.baseUrl}/admin/assets/app.js`);
    expect({ status: js.status, type: js.headers.get('content-type') }).toEqual({ status: 200, type: 'text/javascript; charset=utf-8' });
    for (const name of ['serve.ts', 'index.html', '..%2Fbootstrap.ts', 'nope.js']) {
      expect((await fetch(`${server.baseUrl}/admin/assets/${name}`)).status, name).toBe(404);
    }
  });
});
