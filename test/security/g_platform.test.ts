/**
 * SECURITY-CHECKLIST §G — platform (items 55 and 56 here), black-box through app.inject on
 * every backend.
 */
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSameTimeForUnknownUser } from '../support/timing.js';
import { createClient } from '../../src/manage/clients.js';
import { updateTenant } from '../../src/manage/tenants.js';
import { createUser } from '../../src/manage/users.js';
import { BACKENDS, FakeClock, startTestApp, type TestApp } from '../helpers.js';
import {
  authUrl, CODE, drive, formOf, InjectBrowser, isConsentPage, isLoginPage, ISSUER, PASSWORD, pathOf, pkce, redirectView, SESSION_STATE, type TestClient,
} from './support.js';

describe.each(BACKENDS)('SECURITY-CHECKLIST G: platform on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD, email: 'alice@example.test' });
  });
  afterAll(() => t?.close());

  describe('55', () => {
    const DEVICE_LOCAL = [
      { redirect: 'http://127.0.0.1/cb', presented: 'http://127.0.0.1:53100/cb' },
      { redirect: 'http://[::1]/cb', presented: 'http://[::1]:53101/cb' },
      { redirect: 'http://localhost/cb', presented: 'http://localhost:53102/cb' },
      { redirect: 'com.example.app:/cb', presented: 'com.example.app:/cb' },
    ];

    const nativeUrl = (client: TestClient, redirect: string, extra: Record<string, string> = {}) =>
      authUrl({ response_type: 'code', client_id: client.id, redirect_uri: redirect, scope: 'read:avatars', state: 'st-55', code_challenge: pkce().challenge, code_challenge_method: 'S256', ...extra });

    it('55. remembered consent, first-party consent skip and prompt=none never approve a public client whose redirect URI is loopback or a private-use scheme', async () => {
      const results = [];
      for (const { redirect, presented } of DEVICE_LOCAL) {
        for (const consent of ['required', 'skip'] as const) {
          const c = await createClient(t.deps, 'default', { name: `Native ${consent}`, public: true, redirectUris: [redirect], scopes: ['read:avatars'], consent }, 86400);
          const client = { id: c.client.clientId };
          const b = new InjectBrowser(t.app);
          // first time: sign in, then the consent page (even with consent=skip)
          const first = await drive(b, nativeUrl(client, presented));
          // second time: consent was remembered, the session is live — still the consent page
          const second = await b.get(nativeUrl(client, presented));
          // prompt=none cannot show it: consent_required, to the redirect URI
          const none = await b.get(nativeUrl(client, presented, { prompt: 'none' }));
          const allowAgain = isConsentPage(second) ? await b.post(pathOf(formOf(second.body).action), { ...formOf(second.body).fields, decision: 'allow' }) : second;
          results.push({
            redirect, consent,
            first: { sawLogin: first.sawLogin, sawConsent: first.sawConsent, view: redirectView(first.res) },
            second: { consentPage: isConsentPage(second), location: second.headers.location },
            none: redirectView(none),
            afterSecondConsent: redirectView(allowAgain).status,
          });
        }
      }
      expect(results).toEqual(DEVICE_LOCAL.flatMap(({ redirect, presented }) => (['required', 'skip'] as const).map((consent) => ({
        redirect, consent,
        first: { sawLogin: true, sawConsent: true, view: { status: 303, target: presented, query: { code: CODE, state: 'st-55', iss: ISSUER, session_state: SESSION_STATE }, fragment: {} } },
        second: { consentPage: true, location: undefined },
        none: { status: 302, target: presented, query: { error: 'consent_required', error_description: 'the user has not approved this client', state: 'st-55', iss: ISSUER }, fragment: {} },
        afterSecondConsent: 303,
      }))));
    });

    it('55. prompt=none never approves a public loopback client (repeated attempts on other ports while its consent page is open)', async () => {
      const c = await createClient(t.deps, 'default', { name: 'Sneaky CLI', public: true, redirectUris: ['http://127.0.0.1/cb'], scopes: ['read:avatars'], consent: 'skip' }, 86400);
      const client = { id: c.client.clientId };
      const b = new InjectBrowser(t.app);
      const login = await b.get(nativeUrl(client, 'http://127.0.0.1:40000/cb'));
      expect(isLoginPage(login)).toBe(true);
      const lf = formOf(login.body);
      const consent = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: PASSWORD });
      expect(isConsentPage(consent)).toBe(true);
      expect(consent.body).toContain('<h1>Sneaky CLI wants access to your account</h1>');
      // many prompt=none attempts at other ports while the page is open: none yields a code
      for (const port of [40001, 40002, 40003]) {
        const none = await b.get(nativeUrl(client, `http://127.0.0.1:${port}/cb`, { prompt: 'none' }));
        expect(redirectView(none).query).toEqual({ error: 'consent_required', error_description: 'the user has not approved this client', state: 'st-55', iss: ISSUER });
      }
    });

    it('55. first-party consent skip still applies where RFC 8252 §8.6 does not forbid it (control: a confidential loopback client, a public https client)', async () => {
      const confidential = await createClient(t.deps, 'default', { name: 'Confidential loopback', redirectUris: ['http://127.0.0.1/cb'], scopes: ['read:avatars'], consent: 'skip' }, 86400);
      const publicWeb = await createClient(t.deps, 'default', { name: 'Public web', public: true, redirectUris: ['https://spa.example/cb'], scopes: ['read:avatars'], consent: 'skip' }, 86400);
      const b = new InjectBrowser(t.app);
      const a = await drive(b, nativeUrl({ id: confidential.client.clientId }, 'http://127.0.0.1:5000/cb'));
      const p = await drive(b, nativeUrl({ id: publicWeb.client.clientId }, 'https://spa.example/cb'));
      expect({ a: [a.sawConsent, a.res.statusCode], p: [p.sawConsent, p.res.statusCode] }).toEqual({ a: [false, 303], p: [false, 302] });
    });
  });

  describe('56', () => {
    const LOGIN_URL = async () => {
      const c = await createClient(t.deps, 'default', { name: 'Timing', redirectUris: ['https://app.example/cb'] }, 86400);
      return authUrl({ response_type: 'code', client_id: c.client.clientId, redirect_uri: 'https://app.example/cb', state: 's' });
    };

    /** A response with the parts that legitimately differ per response (CSP nonce, date, request id) blanked. */
    const normalize = (res: { statusCode: number; headers: Record<string, unknown>; body: string }, username: string) => {
      const csp = String(res.headers['content-security-policy']);
      const nonce = /'nonce-([^']+)'/.exec(csp)?.[1] ?? 'none';
      const blank = (s: string) => s.split(nonce).join('NONCE').split(`value="${username}"`).join('value="USERNAME"');
      const headers = { ...res.headers } as Record<string, unknown>;
      delete headers.date;
      delete headers['x-request-id'];
      headers['content-security-policy'] = blank(csp);
      return { status: res.statusCode, headers, body: blank(res.body) };
    };

    it('56. sign-in does not reveal whether an account exists: an unknown user and a wrong password get the same answer', async () => {
      const url = await LOGIN_URL();
      const b = new InjectBrowser(t.app);
      const page = await b.get(url);
      const f = formOf(page.body);
      // usernames of equal length, so even Content-Length matches
      // (four failures: under the throttle's free attempts per account and per address)
      const wrongPassword = await b.post(pathOf(f.action), { ...f.fields, username: 'alice', password: 'wrong password 1' });
      const unknownUser = await b.post(pathOf(f.action), { ...f.fields, username: 'alicx', password: 'wrong password 1' });
      const emptyUser = await b.post(pathOf(f.action), { ...f.fields, username: ' ', password: 'wrong password 1' });
      expect(wrongPassword.statusCode).toBe(401);
      expect(wrongPassword.body).toContain('<p class="error" role="alert">Invalid username or password.</p>');
      expect(normalize(unknownUser, 'alicx')).toEqual(normalize(wrongPassword, 'alice'));
      expect({ status: emptyUser.statusCode, error: /role="alert">([^<]*)</.exec(emptyUser.body)?.[1] }).toEqual({ status: 401, error: 'Invalid username or password.' });
      // a case variant of an existing username is the same account, not a tell either
      const upper = await b.post(pathOf(f.action), { ...f.fields, username: 'ALICE', password: 'wrong password 1' });
      expect(normalize(upper, 'ALICE')).toEqual(normalize(wrongPassword, 'alice'));
    });

    it('56. sign-in takes the same time for an unknown user as for a wrong password (a dummy argon2 verification)', async () => {
      const url = await LOGIN_URL();
      const attempt = async (username: string) => {
        // a fresh sign-in page each time, and past the throttle window, so every attempt reaches the password check
        clock.advance(901);
        const b = new InjectBrowser(t.app);
        const f = formOf((await b.get(url)).body);
        const start = performance.now();
        const res = await b.post(pathOf(f.action), { ...f.fields, username, password: 'wrong password 1' });
        const ms = performance.now() - start;
        expect(res.statusCode).toBe(401);
        return ms;
      };
      await expectSameTimeForUnknownUser(attempt);
    });

    /** The sign-up or forgot-password form of a fresh sign-in (tenant registration on). */
    async function formFrom(link: 'Create an account' | 'Forgot password\\?') {
      const b = new InjectBrowser(t.app);
      const login = await b.get(await LOGIN_URL());
      const href = new RegExp(`<a href="([^"]*)">${link}</a>`).exec(login.body)![1].replace(/&amp;/g, '&');
      return { b, f: formOf((await b.get(pathOf(href))).body) };
    }
    const signUp = async (username: string, email: string) => {
      const { b, f } = await formFrom('Create an account');
      const start = performance.now();
      const res = await b.post(pathOf(f.action), { ...f.fields, username, email, password: 'a fine passphrase', password_confirm: 'a fine passphrase' });
      return { res, ms: performance.now() - start };
    };
    const forgot = async (login: string) => {
      const { b, f } = await formFrom('Forgot password\\?');
      const start = performance.now();
      const res = await b.post(pathOf(f.action), { ...f.fields, username: login });
      return { res, ms: performance.now() - start };
    };
    const openSignUp = () => updateTenant(t.deps, 'default', { registration: true });

    it('56. sign-up does not reveal whether an account exists: a taken email or username gets the same answer as a free one', async () => {
      await openSignUp();
      clock.advance(901);
      // Addresses and names of equal length, so even Content-Length matches.
      const free = await signUp('zelda', 'zelda@example.test');
      const takenEmail = await signUp('zeldb', 'alice@example.test');
      const takenName = await signUp('alice', 'zeldc@example.test');
      expect(free.res.statusCode).toBe(200);
      expect(/<h1>([^<]*)<\/h1>/.exec(free.res.body)![1]).toBe('Check your email');
      const blank = (r: typeof free.res, email: string) => normalize({ ...r, body: r.body.split(email).join('EMAIL') }, '');
      expect(blank(takenEmail.res, 'alice@example.test')).toEqual(blank(free.res, 'zelda@example.test'));
      expect(blank(takenName.res, 'zeldc@example.test')).toEqual(blank(free.res, 'zelda@example.test'));
    });

    it('56. sign-up takes the same time for a taken email as for a free one (the password is hashed either way, the rest after the answer)', async () => {
      await openSignUp();
      let n = 0;
      await expectSameTimeForUnknownUser(async (who) => {
        clock.advance(901);
        const { res, ms } = await signUp(`timing${n++}`, who === 'alice' ? 'alice@example.test' : `${who}@example.test`);
        expect(res.statusCode).toBe(200);
        return ms;
      });
    });

    it('56. password reset does not reveal whether an account exists: an unknown name gets the same answer', async () => {
      clock.advance(901);
      const known = await forgot('alice');
      const unknown = await forgot('alicx');
      expect(known.res.statusCode).toBe(200);
      expect(/role="status">([^<]*)</.exec(known.res.body)![1]).toBe('If alice belongs to an account with an email address, we sent a link to reset its password. Open it in this browser within 30 minutes.');
      expect(normalize({ ...unknown.res, body: unknown.res.body.split('alicx').join('NAME') }, '')).toEqual(normalize({ ...known.res, body: known.res.body.split('alice').join('NAME') }, ''));
    });

    it('56. password reset takes the same time for an unknown account (the lookup happens after the answer)', async () => {
      await expectSameTimeForUnknownUser(async (who) => {
        clock.advance(901);
        const { res, ms } = await forgot(who);
        expect(res.statusCode).toBe(200);
        return ms;
      }, 'alice', { minMs: 0, slackMs: 2 });
    });
  });
});
