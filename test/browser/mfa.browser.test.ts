/**
 * Second factors in Chromium, as people use them: enrol an authenticator app (TOTP) and a
 * passkey (DevTools virtual authenticator, CTAP2, user verification) on the account page, then
 * sign in with each — a client that requires MFA forces the second step and gets `amr` with
 * `mfa` — and sign in with the passkey alone (passwordless).
 */
import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { totpAt } from '../../src/mfa/totp.js';
import { BACKENDS, basic } from '../helpers.js';
import { createUser } from '../support/users.js';
import { resultPage, shownResult, signIn, startApp, type LoopbackApp } from './apps.js';
import { launchBrowser, resultPath, startServer, type TesseraServer } from './browser.js';

const ALICE = { username: 'alice', password: 'correct horse battery' };
const BOB = { username: 'bob', password: 'battery staple horse' };
const nowSeconds = () => Math.floor(Date.now() / 1000);

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe.each(BACKENDS)('second factors in Chromium on %s', (backend) => {
  let server: TesseraServer;
  let app: LoopbackApp;
  let client: { client_id: string; client_secret: string };
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    server = await startServer({ backend });
    app = await startApp();
    app.route('/cb', (_req, res, r) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(resultPage('Callback', r.query)));
    client = await server.cli('client', 'create', '--tenant', 'default', '--name', 'Payouts', '--redirect-uri', `${app.origin}/cb`, '--consent', 'skip');
    expect(await server.cli('client', 'mfa', '--tenant', 'default', client.client_id, '--require-mfa', 'on')).toEqual({ tenant: 'default', client_id: client.client_id, require_mfa: true });
    await createUser(server, ALICE);
    await createUser(server, BOB);
  }, 60_000);
  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await server?.stop();
    await app?.close();
  });

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
    contexts.push(context);
    return { context, page: await context.newPage() };
  }

  const authorizeUrl = (state: string) =>
    `${server.issuer}/protocol/openid-connect/auth?${new URLSearchParams({ client_id: client.client_id, redirect_uri: `${app.origin}/cb`, response_type: 'code', scope: 'openid', state, nonce: 'n' })}`;

  /** Waits for the redirect to the client, redeems the code, and returns the ID token's claims. */
  async function claimsAfterRedirect(page: Page, state: string) {
    await page.waitForURL(`${app.origin}/cb?**`, { timeout: 20_000 });
    const query = await shownResult(page);
    expect(query).toEqual({ code: expect.any(String), state, iss: server.issuer, session_state: expect.any(String) });
    const res = await fetch(`${server.issuer}/protocol/openid-connect/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: query.code, redirect_uri: `${app.origin}/cb` }),
    });
    expect(res.status).toBe(200);
    return decodeJwt((await res.json()).id_token);
  }

  /** Opens the account page, signs in with the password, and goes to Two-step verification. */
  async function openSecurity(page: Page, user: { username: string; password: string }) {
    await page.goto(`${server.issuer}/account`);
    await signIn(page, server.issuer, user);
    await page.waitForURL(`${server.issuer}/account`, { timeout: 15_000 });
    await page.getByRole('link', { name: 'Two-step verification' }).click();
    await page.waitForURL(`${server.issuer}/account/security`);
  }

  /** Saves the recovery codes shown once; returns them. */
  async function saveCodes(page: Page): Promise<string[]> {
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor({ timeout: 15_000 });
    const codes = await page.locator('ul.codes code').allInnerTexts();
    await page.getByRole('button', { name: 'I have saved them' }).click();
    await page.waitForURL(`${server.issuer}/account/security`);
    return codes;
  }

  it('enrols an authenticator app from its QR page, then a client that requires MFA asks for the code and gets amr with mfa', async () => {
    const { page } = await newPage();
    await openSecurity(page, ALICE);
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    await expect.poll(() => page.locator('.qr svg').count()).toBe(1);
    const secret = (await page.locator('#totp-secret').innerText()).replace(/\s/g, '');
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    await page.screenshot({ path: resultPath(`mfa-totp-enrol-${backend}.png`), fullPage: true });
    await page.getByLabel('Code from the app').fill(totpAt(secret, nowSeconds()));
    await page.getByLabel('Name of this device (optional)').fill('Phone');
    await page.getByRole('button', { name: 'Confirm' }).click();
    expect(await saveCodes(page)).toHaveLength(10);
    await expect.poll(() => page.locator('table.factors').innerText()).toContain('Phone');

    // A new browser: password, then the second step; the enrolment's code is spent, so the next step's code.
    const { page: other } = await newPage();
    const state = randomBytes(8).toString('hex');
    await other.goto(authorizeUrl(state));
    await signIn(other, server.issuer, ALICE);
    const code = other.getByLabel('Code from your authenticator app, or a recovery code');
    await code.waitFor({ timeout: 15_000 });
    await code.fill(totpAt(secret, nowSeconds() + 30));
    await other.getByRole('button', { name: 'Verify' }).click();
    const claims = await claimsAfterRedirect(other, state);
    expect(claims).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: '2' });
  });

  it('registers a passkey on the virtual authenticator, uses it as the second step, and then to sign in without a password', async () => {
    const { context, page } = await newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await openSecurity(page, BOB);
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.getByLabel('Name of this passkey').fill('Laptop');
    await page.getByRole('button', { name: 'Create passkey' }).click();
    expect(await saveCodes(page)).toHaveLength(10);
    await expect.poll(() => page.locator('table.factors').innerText()).toContain('Laptop');

    // Second step: the password, then the passkey.
    await context.clearCookies();
    const state = randomBytes(8).toString('hex');
    await page.goto(authorizeUrl(state));
    await signIn(page, server.issuer, BOB);
    await page.getByRole('button', { name: 'Use your passkey' }).click();
    expect(await claimsAfterRedirect(page, state)).toMatchObject({ amr: ['pwd', 'hwk', 'mfa'], acr: '2' });

    // Passwordless: the login page's passkey button, then the authenticator's discoverable credential.
    await context.clearCookies();
    const state2 = randomBytes(8).toString('hex');
    await page.goto(authorizeUrl(state2));
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByRole('button', { name: 'Use a passkey for Default' }).click();
    expect(await claimsAfterRedirect(page, state2)).toMatchObject({ amr: ['hwk', 'user', 'mfa'], acr: '2' });
  });
});
