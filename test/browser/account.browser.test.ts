/**
 * The account page in Chromium, as a person uses it: open it, sign in on the login page it
 * leads to, create a personal token, use it (`/validate` answers 200), revoke it on the page,
 * and see `/validate` refuse it (401).
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from '../helpers.js';
import { createUser, type CreatedUser } from '../support/users.js';
import { signIn } from './apps.js';
import { launchBrowser, resultPath, startServer, type TesseraServer } from './browser.js';
import { waitForScope } from '../support/server.js';

const ALICE = { username: 'alice', password: 'correct horse battery' };

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe.each(BACKENDS)('account page in Chromium on %s', (backend) => {
  let server: TesseraServer;
  let alice: CreatedUser;

  beforeAll(async () => {
    server = await startServer({ backend });
    await server.cli('api', 'create', '--tenant', 'default', '--audience', 'https://api.avatars.example/', '--scope', 'read:avatars=Read your avatars', '--scope', 'write:avatars=Change your avatars');
    alice = await createUser(server, ALICE);
    await waitForScope(server.issuer, 'read:avatars');
  });
  afterAll(async () => {
    await server?.stop();
  });

  const validate = (token: string) => fetch(`${server.issuer}/protocol/openid-connect/validate`, { headers: { authorization: `Bearer ${token}` } });

  it('signs in to the account page, creates a personal token that /validate accepts, revokes it on the page, and /validate then answers 401', async () => {
    const context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
    try {
      const page = await context.newPage();
      await page.goto(`${server.issuer}/account`);
      await signIn(page, server.issuer, ALICE);
      await page.waitForURL(`${server.issuer}/account`, { timeout: 15_000 });
      await expect.poll(() => page.locator('main').innerText()).toContain('Signed in to Default as alice');

      await page.getByLabel('Name').fill('Stream overlay');
      await page.getByLabel(/Read your avatars/).check();
      await page.getByLabel('Expires after').selectOption('7');
      await page.getByRole('button', { name: 'Create token' }).click();
      const shown = page.locator('#new-token');
      await shown.waitFor({ timeout: 15_000 });
      const token = await shown.inputValue();
      expect(token).toMatch(/^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
      await page.screenshot({ path: resultPath(`account-new-token-${backend}.png`), fullPage: true });

      const ok = await validate(token);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ client_id: 'tessera.personal-tokens.default', sub: alice.id, scopes: ['read:avatars'], expires_in: expect.any(Number) });

      // Listed (without its value) after a reload; revoked with its button.
      await page.goto(`${server.issuer}/account`);
      expect(await page.locator('#tokens').innerText()).toContain('Stream overlay');
      expect(await page.content()).not.toContain(token);
      await page.getByRole('button', { name: 'Revoke Stream overlay' }).click();
      await page.waitForURL(`${server.issuer}/account`);
      await expect.poll(() => page.locator('main').innerText()).toContain('You have no personal tokens.');

      const gone = await validate(token);
      expect(gone.status).toBe(401);
      expect(await gone.json()).toMatchObject({ error: 'invalid_token' });
    } finally {
      await context.close();
    }
  });
});
