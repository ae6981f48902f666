/**
 * The device page (RFC 8628 §3.3, `/realms/T/device`): sign-in through the built-in Device
 * sign-in client, user codes typed in any case and with or without the dash, the consent page
 * (client, scopes with descriptions, the code to compare), a wrong code that says only that,
 * throttled guessing (§5.1), CSRF, and exactly one decision per code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS, FORM_HEADERS } from './helpers.js';
import { formOf, InjectBrowser, pathOf } from './support/inject_browser.js';
import { DEVICE_PAGE, ISSUER, deviceWorld, jsonView, oauthError, pageView, textOf, type DeviceWorld } from './support/device.js';

const ENTRY = 'Connect a device Signed in to Default as alice';
const FORM = 'Code shown on your device Continue';
const WRONG = 'That code is not valid. Check the code shown on your device and try again.';
const SPENT = 'That code has expired or was already used. Start again on your device to get a new code.';
const ALLOWED = 'Device connected Living Room TV now has access. Return to your device: it continues by itself.';
const DENIED = 'Access denied Living Room TV was not given access. You can close this page.';
const PENDING = oauthError('authorization_pending', 'the user has not approved the request yet');
const consentText = (code: string, scopes: string) =>
  `Living Room TV wants access to your account Signed in as alice Allow only if your device shows the code ${code} and you started this sign-in yourself. It asks to: ${scopes} Allow Deny`;

describe.each(BACKENDS)('device page on %s', (backend) => {
  let w: DeviceWorld;
  beforeAll(async () => {
    w = await deviceWorld(backend);
  });
  afterAll(() => w?.t.close());

  it('sends a browser without a session through the login page as the built-in Device sign-in client, then back with the code filled in', async () => {
    const b = new InjectBrowser(w.t.app);
    const start = await b.get(`${DEVICE_PAGE}?user_code=bcdf-ghjk`);
    expect({ status: start.statusCode, location: start.headers.location }).toEqual({
      status: 302,
      location: `${ISSUER}/protocol/openid-connect/auth?client_id=tessera.device.default&redirect_uri=${encodeURIComponent(`${ISSUER}/device`)}&response_type=code&state=BCDF-GHJK`,
    });
    expect(await w.t.storage.clients.get('default', 'tessera.device.default')).toMatchObject({
      name: 'Device sign-in', consent: 'skip', grantTypes: ['authorization_code'], redirectUris: [`${ISSUER}/device`], scopes: [],
    });
    const login = await b.get(pathOf(start.headers.location as string));
    expect(textOf(login.body)).toContain('to continue to Device sign-in');
    const lf = formOf(login.body);
    const back = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: 'correct horse battery' });
    const landing = new URL(back.headers.location as string);
    expect({ status: back.statusCode, page: landing.origin + landing.pathname, state: landing.searchParams.get('state') }).toEqual({ status: 303, page: `${ISSUER}/device`, state: 'BCDF-GHJK' });

    // The code is of no use to the page: consumed and its grant ended, then the URL is cleaned.
    const clean = await b.get(pathOf(landing.href));
    expect({ status: clean.statusCode, location: clean.headers.location }).toEqual({ status: 303, location: `${ISSUER}/device?user_code=BCDF-GHJK` });
    const code = await w.t.storage.artifacts.find('authorization_code', storageKey(landing.searchParams.get('code')!));
    expect((await w.t.storage.grants.get(code!.grantId!))?.revokedAt).toBe(code!.usedAt);

    const page = await b.get(pathOf(clean.headers.location as string));
    expect({ ...pageView(page), csp: page.headers['content-security-policy'], cache: page.headers['cache-control'] }).toEqual({
      status: 200, retryAfter: undefined, text: `${ENTRY} ${FORM}`, csp: expect.stringContaining("frame-ancestors 'none'"), cache: 'no-store',
    });
    expect(page.body).toContain('<input type="text" id="user_code" name="user_code" value="BCDF-GHJK"');
    expect(Object.keys(formOf(page.body).fields)).toEqual(['csrf']);
  });

  it('finds a code typed in lower case, without the dash or with spaces, and shows the client, the scopes and the code', async () => {
    const { b, page } = await w.signIn();
    for (const spell of [(c: string) => c.toLowerCase(), (c: string) => c.replace('-', ''), (c: string) => ` ${c.slice(0, 2)} ${c.slice(2).toLowerCase()} `]) {
      const { user_code } = await w.codes(w.clients.tv, 'openid read:avatars write:avatars');
      const consent = await w.enter(b, page, spell(user_code));
      expect(pageView(consent)).toEqual({
        status: 200, retryAfter: undefined,
        text: consentText(user_code, 'Know who you are (openid) Read your avatars (read:avatars) Change your avatars (write:avatars)'),
      });
      expect(consent.body.match(/name="decision" value="(allow|deny)"/g)).toEqual(['name="decision" value="allow"', 'name="decision" value="deny"']);
      expect(formOf(consent.body).fields).toEqual({ csrf: formOf(page.body).fields.csrf, user_code });
    }
  });

  it('says a wrong code is wrong, and nothing more', async () => {
    const { b, page } = await w.signIn();
    for (const typed of ['ZZZZ-ZZZZ', 'AAAA-AAAA', '12345678', 'BCDF-GHJK-X']) {
      const res = await w.enter(b, page, typed);
      expect(pageView(res)).toEqual({ status: 400, retryAfter: undefined, text: `${ENTRY} ${WRONG} ${FORM}` });
    }
  });

  it('throttles wrong codes per user with growing delays, and refuses even a right code while waiting (§5.1)', async () => {
    const { b, page } = await w.signIn('bob');
    const entry = `Connect a device Signed in to Default as bob`;
    for (let i = 0; i < 5; i++) expect((await w.enter(b, page, 'ZZZZ-ZZZZ')).statusCode).toBe(400);
    const { user_code } = await w.codes(w.clients.tv, 'read:avatars');
    const waiting = await w.enter(b, page, user_code);
    expect(pageView(waiting)).toEqual({ status: 429, retryAfter: '1', text: `${entry} Too many wrong codes. Try again in 1 seconds. ${FORM}` });
    w.clock.advance(1);
    expect((await w.enter(b, page, 'ZZZZ-ZZZZ')).statusCode).toBe(400);
    expect(pageView(await w.enter(b, page, user_code))).toEqual({ status: 429, retryAfter: '2', text: `${entry} Too many wrong codes. Try again in 2 seconds. ${FORM}` });
    w.clock.advance(2);
    expect((await w.enter(b, page, user_code)).statusCode).toBe(200);
  });

  it('records exactly one decision per code: of two at the same moment one wins, the other is told the code was used', async () => {
    const { device_code, user_code } = await w.codes(w.clients.tv, 'read:avatars');
    const { b, page } = await w.signIn();
    const consent = await w.enter(b, page, user_code);
    const [allow, deny] = (await Promise.all([w.decide(b, consent, 'allow'), w.decide(b, consent, 'deny')])).map(pageView);
    const refused = { status: 400, retryAfter: undefined, text: `${ENTRY} ${SPENT} ${FORM}` };
    const allowed = allow.status === 200;
    expect([allow, deny]).toEqual(allowed
      ? [{ status: 200, retryAfter: undefined, text: ALLOWED }, refused]
      : [refused, { status: 200, retryAfter: undefined, text: DENIED }]);
    expect(pageView(await w.enter(b, page, user_code))).toEqual(refused);
    w.clock.advance(5);
    const polled = jsonView(await w.poll(w.clients.tv, device_code));
    expect(allowed ? polled.status : polled).toEqual(allowed ? 200 : oauthError('access_denied', 'the user denied the request'));
  });

  it('says an expired code has expired or was used', async () => {
    const { user_code } = await w.codes(w.clients.tv, 'read:avatars');
    const { b, page } = await w.signIn();
    w.clock.advance(600);
    expect(pageView(await w.enter(b, page, user_code))).toEqual({ status: 400, retryAfter: undefined, text: `${ENTRY} ${SPENT} ${FORM}` });
  });

  it('refuses a form without the session-bound CSRF token, a decision other than allow or deny, and a post without a session', async () => {
    const { device_code, user_code } = await w.codes(w.clients.tv, 'read:avatars');
    const { b, page } = await w.signIn();
    const consent = await w.enter(b, page, user_code);
    const forged = await b.post(DEVICE_PAGE, { csrf: 'forged', user_code, decision: 'allow' });
    expect(pageView(forged)).toEqual({
      status: 403, retryAfter: undefined,
      text: 'We could not do that the form could not be verified (CSRF check failed); open the device page again You can close this page and return to the application.',
    });
    expect(pageView(await w.decide(b, consent, 'maybe'))).toEqual({
      status: 400, retryAfter: undefined, text: 'We could not do that choose Allow or Deny You can close this page and return to the application.',
    });
    // Another browser, without a session: sent to the page (and its sign-in), the code kept.
    const stranger = await w.t.app.inject({ method: 'POST', url: DEVICE_PAGE, headers: FORM_HEADERS, payload: new URLSearchParams({ ...formOf(consent.body).fields, decision: 'allow' }).toString() });
    expect({ status: stranger.statusCode, location: stranger.headers.location }).toEqual({ status: 303, location: `${ISSUER}/device?user_code=${user_code}` });
    // None of them decided anything.
    expect(jsonView(await w.poll(w.clients.tv, device_code))).toEqual(PENDING);
  });
});
