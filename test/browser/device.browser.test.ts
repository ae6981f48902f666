/**
 * The device flow (RFC 8628) with a person in Chromium: a device asks for codes and polls;
 * the person opens the verification URI, signs in on the login page it leads to, types the
 * user code into the device page's `user_code` input, checks the consent page (client and
 * scope descriptions) and allows; the polling device then gets tokens that `/validate` accepts.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers.js';
import { sleep, waitForScope } from '../support/server.js';
import { createUser, type CreatedUser } from '../support/users.js';
import { decide, signIn } from './apps.js';
import { launchBrowser, resultPath, startServer, type TesseraServer } from './browser.js';

const ALICE = { username: 'alice', password: 'correct horse battery' };
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe.each(BACKENDS)('device flow in Chromium on %s', (backend) => {
  let server: TesseraServer;
  let alice: CreatedUser;
  let tv: { client_id: string; client_secret: string };

  beforeAll(async () => {
    server = await startServer({ backend });
    await server.cli('api', 'create', '--tenant', 'default', '--audience', 'https://api.avatars.example/', '--scope', 'read:avatars=Read your avatars');
    tv = await server.cli('client', 'create', '--tenant', 'default', '--name', 'Living Room TV', '--grant-types', DEVICE_GRANT, '--scopes', 'read:avatars');
    alice = await createUser(server, ALICE);
    await waitForScope(server.issuer, 'read:avatars');
  });
  afterAll(async () => {
    await server?.stop();
  });

  const post = (path: string, fields: Record<string, string>) =>
    fetch(`${server.issuer}/protocol/openid-connect/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${tv.client_id}:${tv.client_secret}`).toString('base64')}` },
      body: new URLSearchParams(fields),
    });

  /** The device: polls every `interval` seconds, 5 more after each slow_down, until it gets tokens or a final error. */
  async function pollForTokens(deviceCode: string, interval: number): Promise<{ status: number; body: any; pendingSeen: number }> {
    let pendingSeen = 0;
    for (;;) {
      await sleep(interval * 1000);
      const res = await post('token', { grant_type: DEVICE_GRANT, device_code: deviceCode });
      const body = await res.json();
      if (res.status === 400 && body.error === 'authorization_pending') pendingSeen++;
      else if (res.status === 400 && body.error === 'slow_down') interval += 5;
      else return { status: res.status, body, pendingSeen };
    }
  }

  it('signs in, enters the user code on the device page and allows; the polling device gets tokens', async () => {
    const start = await post('auth/device', { scope: 'read:avatars' });
    expect(start.status).toBe(200);
    const codes = await start.json();
    const polling = pollForTokens(codes.device_code, codes.interval);

    const context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
    try {
      const page = await context.newPage();
      await page.goto(codes.verification_uri);
      await signIn(page, server.issuer, ALICE);
      await page.waitForURL(`${server.issuer}/device`, { timeout: 15_000 });
      await expect.poll(() => page.locator('main').innerText()).toContain('Signed in to Default as alice');
      // The person types the code as they read it: lower case, without the dash.
      await page.getByLabel('Code shown on your device').fill(codes.user_code.replace('-', '').toLowerCase());
      await page.screenshot({ path: resultPath(`device-entry-${backend}.png`), fullPage: true });
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.locator('button[name="decision"]').first().waitFor({ timeout: 15_000 });
      expect(await page.locator('main').innerText()).toContain(codes.user_code);
      await page.screenshot({ path: resultPath(`device-consent-${backend}.png`), fullPage: true });
      await decide(page, { clientName: 'Living Room TV', descriptions: ['Read your avatars'] });
      await expect.poll(() => page.locator('main').innerText(), { timeout: 15_000 }).toContain('Device connected');
    } finally {
      await context.close();
    }

    const result = await polling;
    expect(result).toEqual({
      status: 200, pendingSeen: expect.any(Number),
      body: { access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600, scope: 'read:avatars', 'not-before-policy': 0 },
    });
    const validate = await fetch(`${server.issuer}/protocol/openid-connect/validate`, { headers: { authorization: `Bearer ${result.body.access_token}` } });
    expect(await validate.json()).toEqual({ client_id: tv.client_id, sub: alice.id, scopes: ['read:avatars'], expires_in: expect.any(Number) });
  }, 90_000);
});
