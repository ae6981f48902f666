/**
 * Self-service accounts in Chromium, with mail delivered over SMTP to a real (loopback) SMTP
 * server: sign-up with a verification link that finishes the interrupted sign-in, a sign-up
 * with an address that already has an account (same page, a different mail, no account),
 * and "Forgot password?" by mail, after which the old password and the user's other
 * sessions no longer work.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers.js';
import { runTessera } from '../support/server.js';
import { linksIn, startSmtpSink, type ReceivedMail, type SmtpSink } from '../support/smtp_sink.js';
import { decide, resultPage, shownResult, signIn, startApp, type LoopbackApp } from './apps.js';
import { launchBrowser, resultPath, startServer, type TesseraServer } from './browser.js';

const TENANT_NAME = 'Avatar Cloud';
const MAIL_FROM = 'accounts@avatar.example';
const CLIENT_NAME = 'Avatar Studio';
const BOB = { username: 'bob', password: 'correct horse battery', email: 'bob@example.test' };
/** What the consent page lists for `openid email`. */
const CONSENT = { clientName: CLIENT_NAME, descriptions: ['Know who you are', 'See your email address'] };

const random = () => randomBytes(16).toString('base64url');
const nowSeconds = () => Math.floor(Date.now() / 1000);
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe.each(BACKENDS)('accounts by mail in Chromium on %s', (backend) => {
  let sink: SmtpSink;
  let server: TesseraServer;
  let app: LoopbackApp;
  let issuer: string;
  let jwks: ReturnType<typeof createRemoteJWKSet>;
  let client: { client_id: string; client_secret: string };
  let bobId: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    sink = await startSmtpSink();
    server = await startServer({ backend, env: { SMTP_URL: sink.url } });
    issuer = server.issuer;
    jwks = createRemoteJWKSet(new URL(`${issuer}/protocol/openid-connect/certs`));
    app = await startApp();
    app.route('/cb', (_req, res, r) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(resultPage('Callback', r.query)));

    const tenant = await server.cli('tenant', 'update', 'default', '--registration', 'on', '--display-name', TENANT_NAME, '--email-from', MAIL_FROM);
    expect(tenant).toMatchObject({ registration: true, email_from: MAIL_FROM });
    client = await server.cli('client', 'create', '--tenant', 'default', '--name', CLIENT_NAME, '--redirect-uri', `${app.origin}/cb`,
      '--grant-types', 'authorization_code,refresh_token', '--session-refresh-tokens');
    expect(client.client_secret).toEqual(expect.any(String));
    // An account with an unverified address, as an operator makes it (the password on standard input).
    const created = await runTessera(server.cliEnv, ['user', 'create', '--tenant', 'default', '--username', BOB.username, '--password-stdin', '--email', BOB.email, '--json'], `${BOB.password}\n`);
    expect(created, 'tessera user create bob').toEqual({ code: 0, stdout: expect.stringMatching(/^\{.*\}\n$/), stderr: '' });
    bobId = JSON.parse(created.stdout).id;

    // The server sees CLI changes within a second: wait until sign-up is open.
    const registrations = `${issuer}/protocol/openid-connect/registrations?${new URLSearchParams({ client_id: client.client_id, redirect_uri: `${app.origin}/cb`, response_type: 'code', scope: 'openid' })}`;
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await fetch(registrations, { redirect: 'manual' })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    expect(status, 'the registrations endpoint once sign-up is on').toBe(200);
  }, 60_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await server?.stop();
    await app?.close();
    await sink?.close();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 900, height: 900 } });
    contexts.push(context);
    return context.newPage();
  }

  /** An authorization request of the client for `openid email`, code + PKCE. */
  function authorization(extra: Record<string, string> = {}) {
    const state = random();
    const verifier = randomBytes(48).toString('base64url');
    const nonce = random();
    const url = `${issuer}/protocol/openid-connect/auth?${new URLSearchParams({
      client_id: client.client_id, redirect_uri: `${app.origin}/cb`, response_type: 'code', scope: 'openid email', state, nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', ...extra,
    })}`;
    return { url, state, verifier, nonce };
  }

  const tokenRequest = (body: Record<string, string>) =>
    fetch(`${issuer}/protocol/openid-connect/token`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(client.client_id, client.client_secret) }, body: new URLSearchParams(body),
    });

  /** Waits for the redirect to the client and returns its query, checked whole (code, state, iss, session_state). */
  async function callback(page: Page, state: string): Promise<{ code: string }> {
    await page.waitForURL(`${app.origin}/cb?**`, { timeout: 20_000 });
    const query = await shownResult(page);
    expect(query).toEqual({ code: expect.any(String), state, iss: issuer, session_state: expect.any(String) });
    return query;
  }

  /** Redeems a code with the client's secret (Basic auth); the token response, checked. */
  async function redeem(code: string, verifier: string): Promise<Record<string, any>> {
    const res = await tokenRequest({ grant_type: 'authorization_code', code, redirect_uri: `${app.origin}/cb`, code_verifier: verifier });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String), id_token: expect.any(String), scope: 'openid email' });
    return body;
  }

  /** Where a page went: to the client's redirect URI, to the consent page, or somewhere else (after 20 s). */
  async function whereNext(page: Page): Promise<'client' | 'consent' | 'elsewhere'> {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (page.url().startsWith(`${app.origin}/cb?`)) return 'client';
      if ((await page.locator('button[name="decision"][value="allow"]').count()) > 0) return 'consent';
      await page.waitForLoadState().catch(() => undefined);
      await page.waitForTimeout(100);
    }
    return 'elsewhere';
  }

  const heading = (page: Page) => page.locator('h1').innerText();

  /** Presses a form's submit button and returns the status of the page the POST answered with. */
  async function submit(page: Page, button: string, path: string): Promise<number> {
    const answered = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().split('?')[0] === `${issuer}${path}`, { timeout: 20_000 });
    await page.getByRole('button', { name: button, exact: true }).click();
    const res = await answered;
    await page.waitForLoadState();
    return res.status();
  }

  const mailTo = (to: string, subject: string) => sink.waitFor((m) => m.to === to && m.subject === subject, 20_000);

  /** The one link of a message, in its plain text and in its HTML. */
  function onlyLink(mail: ReceivedMail): string {
    const links = linksIn(mail.text);
    expect(links, mail.text).toHaveLength(1);
    expect(mail.html).toContain(links[0]);
    return links[0];
  }

  function expectFromTenant(mail: ReceivedMail) {
    // The tenant's display name (quoted or not) and its from address.
    expect(mail.from).toMatch(new RegExp(`^"?${TENANT_NAME}"? <${MAIL_FROM.replace(/\./g, '\\.')}>$`));
    expect(mail.envelope.from).toBe(MAIL_FROM);
  }

  const userShow = (username: string) => runTessera(server.cliEnv, ['user', 'show', '--tenant', 'default', username, '--json']);

  /** Fills the sign-up form as a person does, checking it is the described one. */
  async function fillSignUp(page: Page, user: { username: string; email: string; password: string }) {
    for (const name of ['username', 'email', 'password', 'password_confirm']) await expect.poll(() => page.locator(`form input[name="${name}"]`).count()).toBe(1);
    expect(await page.locator('input[name="password"]').getAttribute('type')).toBe('password');
    expect(await page.locator('input[name="password_confirm"]').getAttribute('type')).toBe('password');
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Email').fill(user.email);
    await page.locator('input[name="password"]').fill(user.password);
    await page.locator('input[name="password_confirm"]').fill(user.password);
  }

  it('signs up through Chromium, receives the verification mail on a real SMTP server, follows the link and is signed in to the client', async () => {
    const carol = { username: 'carol', email: 'carol@example.test', password: 'violet tulip meadow' };
    const page = await newPage();
    const { url, state, verifier, nonce } = authorization();
    await page.goto(url);

    // The login page links to the sign-up page of this sign-in.
    await page.locator('form input[name="password"]').waitFor({ timeout: 15_000 });
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/login-actions/registration?interaction=`), { timeout: 15_000 });
    await fillSignUp(page, carol);
    expect(await submit(page, 'Create account', '/login-actions/registration')).toBe(200);
    expect(await heading(page)).toBe('Check your email');
    // No account until the link is used.
    expect((await userShow(carol.username)).code).not.toBe(0);

    const mail = await mailTo(carol.email, `Finish creating your ${TENANT_NAME} account`);
    expectFromTenant(mail);
    expect(mail.envelope.to).toEqual([carol.email]);
    const link = onlyLink(mail);
    expect(link).toMatch(new RegExp(`^${issuer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/login-actions/sign-up\\?key=[^&\\s]+$`));

    // The link, in the browser that signed up: a button, then the interrupted request goes on.
    await page.goto(link);
    expect(await heading(page)).toBe('Finish creating your account');
    await page.screenshot({ path: resultPath(`accounts-finish-sign-up-${backend}.png`), fullPage: true });
    await page.getByRole('button', { name: 'Create account', exact: true }).click();
    await decide(page, CONSENT);
    const { code } = await callback(page, state);

    const shown = await userShow(carol.username);
    expect(shown.code, shown.stderr).toBe(0);
    const user = JSON.parse(shown.stdout);
    expect(user).toEqual({
      id: expect.any(String), tenant: 'default', username: carol.username, email: carol.email, email_verified: true,
      name: null, disabled: false, must_change_password: false, created_at: expect.any(Number), updated_at: expect.any(Number),
    });

    const tokens = await redeem(code, verifier);
    const { payload } = await jwtVerify(tokens.id_token, jwks, { issuer, audience: client.client_id });
    expect(payload).toMatchObject({ iss: issuer, sub: user.id, aud: client.client_id, nonce, email: carol.email, email_verified: true });
    expect(Math.abs(payload.auth_time! as number - nowSeconds())).toBeLessThan(120);
  }, 120_000);

  it('resets a forgotten password by mail; the old password and the old session no longer work', async () => {
    const newPassword = 'purple monkey dishwasher';

    // Browser A: bob signs in; his session and a session-bound refresh token.
    const a = await newPage();
    const first = authorization();
    await a.goto(first.url);
    await signIn(a, issuer, BOB);
    await decide(a, CONSENT);
    const tokensA = await redeem((await callback(a, first.state)).code, first.verifier);
    expect(tokensA.refresh_token).toEqual(expect.any(String));
    // The session works: the next request goes straight back to the client.
    const again = authorization();
    await a.goto(again.url);
    await callback(a, again.state);

    // Browser B: "Forgot password?" with bob's email.
    const b = await newPage();
    const reset = authorization();
    await b.goto(reset.url);
    await b.locator('form input[name="password"]').waitFor({ timeout: 15_000 });
    await b.getByRole('link', { name: 'Forgot password?' }).click();
    await b.waitForURL((u) => u.href.startsWith(`${issuer}/login-actions/reset-credentials?interaction=`), { timeout: 15_000 });
    await b.getByLabel('Username or email').fill(BOB.email);
    expect(await submit(b, 'Send reset link', '/login-actions/reset-credentials')).toBe(200);
    expect(await heading(b)).toBe('Check your email');

    const mail = await mailTo(BOB.email, `Reset your ${TENANT_NAME} password`);
    expectFromTenant(mail);
    const link = onlyLink(mail);
    expect(link).toMatch(new RegExp(`^${issuer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/login-actions/reset-password\\?key=[^&\\s]+$`));

    await b.goto(link);
    expect(await heading(b)).toBe('Choose a new password');
    // A common password is refused on the same page; the link still works.
    await b.locator('input[name="password"]').fill('password123');
    await b.locator('input[name="password_confirm"]').fill('password123');
    expect(await submit(b, 'Change password', '/login-actions/reset-password')).toBe(400);
    expect(await heading(b)).toBe('Choose a new password');
    expect(await b.getByRole('alert').innerText()).toMatch(/\S/);

    await b.locator('input[name="password"]').fill(newPassword);
    await b.locator('input[name="password_confirm"]').fill(newPassword);
    // What the browser saw, for the failure message (a CSP violation shows in the console).
    const logs: string[] = [];
    b.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
    b.on('response', (r) => logs.push(`${r.request().method()} ${r.url().split('?')[0]} → ${r.status()} ${r.headers().location ?? ''}`));
    b.on('requestfailed', (r) => logs.push(`failed: ${r.method()} ${r.url().split('?')[0]}: ${r.failure()?.errorText}`));
    await b.getByRole('button', { name: 'Change password', exact: true }).click();
    // Bob consented in browser A, so the request goes on to the client (or to consent, if asked again).
    const landed = await whereNext(b);
    expect(landed, `after "Change password" the page at ${b.url()} said: ${await b.locator('body').innerText()}\n${logs.join('\n')}`).not.toBe('elsewhere');
    if (landed === 'consent') await decide(b, CONSENT);
    const tokensB = await redeem((await callback(b, reset.state)).code, reset.verifier);
    const { payload } = await jwtVerify(tokensB.id_token, jwks, { issuer, audience: client.client_id });
    expect(payload).toMatchObject({ sub: bobId, email: BOB.email });

    // Browser A's session ended: the login page again, not a redirect.
    const after = authorization();
    await a.goto(after.url);
    await a.locator('form input[name="password"]').waitFor({ timeout: 15_000 });
    expect(a.url().startsWith(issuer)).toBe(true);
    // Its session-bound refresh token died with it.
    const refreshed = await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokensA.refresh_token });
    expect(refreshed.status).toBe(400);
    expect(await refreshed.json()).toMatchObject({ error: 'invalid_grant' });

    // The old password fails on the login page…
    const failed = a.waitForResponse((r) => r.request().method() === 'POST' && r.url().split('?')[0] === `${issuer}/login-actions/authenticate`);
    await signIn(a, issuer, BOB);
    expect((await failed).status()).toBe(401);
    await a.locator('form input[name="password"]').waitFor();
    expect(await a.getByRole('alert').innerText()).toMatch(/\S/);
    // …and the new one works (the login field takes the email too).
    await signIn(a, issuer, { username: BOB.email, password: newPassword });
    await callback(a, after.state);
  }, 150_000);

  it('answers a sign-up with an already registered email with the same "Check your email" page, mails the owner, and creates no account', async () => {
    const page = await newPage();
    // prompt=create opens the sign-up page directly.
    await page.goto(authorization({ prompt: 'create' }).url);
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/protocol/openid-connect/auth`), { timeout: 15_000 });
    await fillSignUp(page, { username: 'robert', email: BOB.email, password: 'an entirely new secret' });
    expect(await submit(page, 'Create account', '/login-actions/registration')).toBe(200);
    expect(await heading(page)).toBe('Check your email');

    const mail = await mailTo(BOB.email, `You already have an account with ${TENANT_NAME}`);
    expectFromTenant(mail);
    expect(linksIn(mail.text)).toEqual([`${issuer}/account`]);
    expect(sink.messages.filter((m) => m.to === BOB.email && m.text.includes('/login-actions/sign-up'))).toEqual([]);

    const list = await server.cli('user', 'list', '--tenant', 'default');
    expect(list.users.map((u: { username: string }) => u.username)).not.toContain('robert');
    expect(list.users.filter((u: { email: string | null }) => u.email === BOB.email)).toEqual([expect.objectContaining({ id: bobId, username: BOB.username })]);
  }, 90_000);
});
