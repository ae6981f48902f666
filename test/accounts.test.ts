import { decodeJwt } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { accountJobsIdle } from '../src/accounts/background.js';
import { verifyPassword } from '../src/crypto/password.js';
import type { MailMessage } from '../src/mail/mailer.js';
import { createClient } from '../src/manage/clients.js';
import { updateTenant } from '../src/manage/tenants.js';
import { createUser } from '../src/manage/users.js';
import { BACKENDS, basic, FakeClock, form, FORM_HEADERS, startTestApp, type TestApp } from './helpers.js';
import { formOf, InjectBrowser, pathOf } from './support/inject_browser.js';

/** https: the built-in Account client's redirect URI is on the issuer, and plain http is only for loopback. */
const PUBLIC = 'https://auth.example';
const ISSUER = `${PUBLIC}/realms/default`;
const REDIRECT = 'https://app.example/cb';
const PASSWORD = 'correct horse battery';
const NEW_PASSWORD = 'a brand new staple';

/** The first link to Tessera in a message's text. */
const linkIn = (m: MailMessage): string => pathOf(/https?:\/\/\S+/.exec(m.text)![0]);
const h1 = (body: string) => /<h1>([^<]*)<\/h1>/.exec(body)?.[1];
const unescape = (s: string | undefined) => s?.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const alertOf = (body: string) => unescape(/role="alert">([^<]*)</.exec(body)?.[1]);
const statusOf = (body: string) => unescape(/role="status">([^<]*)</.exec(body)?.[1]);
const link = (body: string, text: string) => {
  const m = new RegExp(`<a href="([^"]*)">${text}</a>`).exec(body);
  return m ? pathOf(m[1].replace(/&amp;/g, '&')) : undefined;
};

describe.each(BACKENDS)('accounts users manage themselves on %s', (backend) => {
  let t: TestApp;
  let clock: FakeClock;
  let client: { id: string; secret: string };

  beforeAll(async () => {
    clock = new FakeClock(Date.now());
    t = await startTestApp(backend, { clock, config: { publicUrl: PUBLIC } });
    const c = await createClient(t.deps, 'default', {
      name: 'Avatar Studio', grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [REDIRECT], consent: 'skip', sessionRefreshTokens: true,
    }, 86400);
    client = { id: c.client.clientId, secret: c.secret! };
  });
  afterAll(async () => t?.close());
  beforeEach(async () => {
    // Every test starts past the throttle windows, with sign-up open and no mail.
    clock.advance(3600);
    await updateTenant(t.deps, 'default', { registration: true, requireVerifiedEmail: false });
    await accountJobsIdle();
    await t.services.mail.idle();
    t.mailer.messages.length = 0;
  });

  const authorizeUrl = (extra: Record<string, string> = {}) =>
    `/realms/default/protocol/openid-connect/auth?${new URLSearchParams({ response_type: 'code', client_id: client.id, redirect_uri: REDIRECT, scope: 'openid email', state: 'st', nonce: 'n-1', ...extra })}`;

  /** Mail goes out after the response: wait for the jobs and the queue. */
  async function mail(): Promise<MailMessage[]> {
    await accountJobsIdle();
    await t.services.mail.idle();
    return [...t.mailer.messages];
  }

  async function redeem(location: string) {
    const url = new URL(location);
    expect(`${url.origin}${url.pathname}`).toBe(REDIRECT);
    expect(url.searchParams.get('state')).toBe('st');
    const res = await t.app.inject({
      method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(client.id, client.secret) },
      payload: form({ grant_type: 'authorization_code', code: url.searchParams.get('code')!, redirect_uri: REDIRECT }),
    });
    expect(res.statusCode).toBe(200);
    return res.json();
  }

  async function signUpPage(b: InjectBrowser) {
    const login = await b.get(authorizeUrl());
    expect(login.statusCode).toBe(200);
    const href = link(login.body, 'Create an account');
    expect(href).toMatch(/^\/realms\/default\/login-actions\/registration\?interaction=/);
    const page = await b.get(href!);
    expect(page.statusCode).toBe(200);
    expect(h1(page.body)).toBe('Create your Default account');
    return formOf(page.body);
  }

  async function submitSignUp(b: InjectBrowser, fields: { username: string; email: string; password?: string; confirm?: string }) {
    const f = await signUpPage(b);
    const password = fields.password ?? PASSWORD;
    return b.post(pathOf(f.action), { ...f.fields, username: fields.username, email: fields.email, password, password_confirm: fields.confirm ?? password });
  }

  /** Opens a mailed link and presses its button; returns the response to the POST. */
  async function useLink(b: InjectBrowser, path: string, extra: Record<string, string> = {}) {
    const page = await b.get(path);
    expect(page.statusCode).toBe(200);
    const f = formOf(page.body);
    return b.post(pathOf(f.action), { ...f.fields, ...extra });
  }

  describe('sign-up', () => {
    it('is closed by default: no link on the login page, and the sign-up URLs answer 403 pages', async () => {
      await updateTenant(t.deps, 'default', { registration: false });
      const b = new InjectBrowser(t.app);
      const login = await b.get(authorizeUrl());
      expect(link(login.body, 'Create an account')).toBeUndefined();
      expect(link(login.body, 'Forgot password\\?')).toMatch(/^\/realms\/default\/login-actions\/reset-credentials\?interaction=/);
      const registrations = await b.get(authorizeUrl().replace('/auth?', '/registrations?'));
      expect(registrations.statusCode).toBe(403);
      expect(alertOf(registrations.body)).toBe('sign-up is not open here; ask the administrator for an account');
      // prompt=create falls back to the login page where sign-up is closed.
      expect(h1((await b.get(authorizeUrl({ prompt: 'create' }))).body)).toBe('Sign in to Default');
      const discovery = await t.app.inject({ method: 'GET', url: '/realms/default/.well-known/openid-configuration' });
      expect(discovery.json().prompt_values_supported).toEqual(['none', 'login', 'consent']);
    });

    it('creates the account only from the mailed link, then signs in and continues the authorization in the same browser', async () => {
      const b = new InjectBrowser(t.app);
      const res = await submitSignUp(b, { username: 'carol', email: 'carol@example.test' });
      expect(res.statusCode).toBe(200);
      expect(h1(res.body)).toBe('Check your email');
      expect(statusOf(res.body)).toBe('We sent a message to carol@example.test. Follow the link in it, in this browser, within 24 hours to finish creating your account.');
      expect(await t.storage.users.findByUsername('default', 'carol')).toBeUndefined();
      const [message, ...more] = await mail();
      expect(more).toEqual([]);
      expect(message).toMatchObject({ to: 'carol@example.test', fromName: 'Default', fromAddress: t.config.mail.defaultFrom });
      const path = linkIn(message);
      expect(path).toMatch(/^\/realms\/default\/login-actions\/sign-up\?key=[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);

      // Opening the link changes nothing (mail scanners open links); the button does.
      const page = await b.get(path);
      expect(h1(page.body)).toBe('Finish creating your account');
      // The button may lead on to the client (CSP form-action covers the redirect after the POST).
      expect(page.headers['content-security-policy']).toContain("form-action 'self' https://app.example;");
      expect(await t.storage.users.findByUsername('default', 'carol')).toBeUndefined();
      const done = await b.post(pathOf(formOf(page.body).action), formOf(page.body).fields);
      expect(done.statusCode).toBe(303);
      const tokens = await redeem(done.headers.location as string);
      const user = (await t.storage.users.findByUsername('default', 'carol'))!;
      expect(user).toMatchObject({ username: 'carol', email: 'carol@example.test', emailVerified: true, disabled: false });
      expect(await verifyPassword(user.passwordHash, PASSWORD)).toBe(true);
      expect(decodeJwt(tokens.id_token)).toMatchObject({ iss: ISSUER, sub: user.id, email: 'carol@example.test', email_verified: true });
      // The link works once.
      const again = await b.post(pathOf(formOf(page.body).action), formOf(page.body).fields);
      expect({ status: again.statusCode, h1: h1(again.body) }).toEqual({ status: 400, h1: 'This link no longer works' });
      const audit = await t.storage.audit.list('default', { type: 'user.created', limit: 5 });
      expect(audit.events[0]).toMatchObject({ actor: user.id, userId: user.id, detail: { username: 'carol', via: 'sign_up' } });
    });

    it('answers a taken email or username exactly as a free one, and tells only the mailbox', async () => {
      await createUser(t.deps, 'default', { username: 'dave', password: PASSWORD, email: 'dave@example.test' });
      const answers = [];
      for (const fields of [
        { username: 'dave2', email: 'dave@example.test' }, // taken address
        { username: 'DAVE', email: 'dave@example.test' }, // both taken
        { username: 'dave3', email: 'dave3@example.test' }, // free
      ]) {
        const res = await submitSignUp(new InjectBrowser(t.app), fields);
        answers.push({ status: res.statusCode, h1: h1(res.body), text: statusOf(res.body)!.replace(fields.email, 'EMAIL') });
      }
      expect(answers[0]).toEqual(answers[2]);
      expect(answers[1]).toEqual(answers[2]);
      const taken = await submitSignUp(new InjectBrowser(t.app), { username: 'Dave', email: 'someone.else@example.test' });
      expect({ status: taken.statusCode, h1: h1(taken.body) }).toEqual({ status: 200, h1: 'Check your email' });
      const sent = (await mail()).map((m) => ({ to: m.to, subject: m.subject, link: /login-actions\/sign-up/.test(m.text) }));
      expect(sent).toEqual([
        { to: 'dave@example.test', subject: expect.stringMatching(/already/i), link: false },
        { to: 'dave@example.test', subject: expect.stringMatching(/already/i), link: false },
        { to: 'dave3@example.test', subject: expect.stringMatching(/finish/i), link: true },
        { to: 'someone.else@example.test', subject: 'Choose another username for your Default account', link: false },
      ]);
      expect((await t.storage.users.list('default')).filter((u) => u.username.toLowerCase().startsWith('dave')).map((u) => u.username)).toEqual(['dave']);
    });

    it('refuses a weak or mismatched password and a bad email on the form, keeping what was typed', async () => {
      const cases = [
        [{ username: 'erin', email: 'erin@example.test', password: 'short' }, 'Password must be at least 8 characters long.'],
        [{ username: 'erin', email: 'erin@example.test', password: 'password123' }, 'This password is too common; choose one that is harder to guess.'],
        [{ username: 'erin', email: 'erin@example.test', password: 'erin-erin', confirm: 'erin-erix' }, 'The two passwords do not match.'],
        [{ username: 'erin', email: 'erin@', password: PASSWORD }, 'Email "erin@" is not a valid email address.'],
        [{ username: 'two words', email: 'erin@example.test', password: PASSWORD }, 'Username must not contain spaces or control characters.'],
      ] as const;
      for (const [fields, error] of cases) {
        const res = await submitSignUp(new InjectBrowser(t.app), fields);
        expect({ status: res.statusCode, error: alertOf(res.body), kept: res.body.includes(`value="${fields.email}"`) }).toEqual({ status: 400, error, kept: true });
      }
      expect(await mail()).toEqual([]);
    });

    it('opens at Keycloak\'s registrations endpoint and with prompt=create, and lists create in discovery', async () => {
      const b = new InjectBrowser(t.app);
      for (const url of [authorizeUrl().replace('/auth?', '/registrations?'), authorizeUrl({ prompt: 'create' })]) {
        const res = await b.get(url);
        expect({ status: res.statusCode, h1: h1(res.body) }).toEqual({ status: 200, h1: 'Create your Default account' });
      }
      // A bad redirect URI is still refused with a page, never a redirect.
      const bad = await b.get(authorizeUrl({ redirect_uri: 'https://evil.example/cb' }).replace('/auth?', '/registrations?'));
      expect(bad.statusCode).toBe(400);
      const discovery = await t.app.inject({ method: 'GET', url: '/realms/default/.well-known/openid-configuration' });
      expect(discovery.json().prompt_values_supported).toEqual(['none', 'login', 'consent', 'create']);
    });

    it('used in another browser, the link creates the account but signs nobody in there (login CSRF)', async () => {
      await submitSignUp(new InjectBrowser(t.app), { username: 'frank', email: 'frank@example.test' });
      const [message] = await mail();
      const other = new InjectBrowser(t.app);
      const res = await useLink(other, linkIn(message));
      expect({ status: res.statusCode, h1: h1(res.body), text: statusOf(res.body) }).toEqual({
        status: 200, h1: 'Your account is ready', text: 'Welcome, frank. Return to the application and sign in.',
      });
      expect([...other.cookies.keys()].filter((k) => k.startsWith('tessera_session'))).toEqual([]);
      expect(await t.storage.users.findByUsername('default', 'frank')).toMatchObject({ emailVerified: true });
    });

    it('throttles sign-ups per address: the fourth in a row must wait', async () => {
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await submitSignUp(new InjectBrowser(t.app), { username: `gina${i}`, email: 'gina@example.test' })).statusCode);
      expect(statuses).toEqual([200, 200, 200, 429]);
    });
  });

  describe('password reset', () => {
    async function forgot(b: InjectBrowser, login: string) {
      const page = await b.get(authorizeUrl());
      const href = link(page.body, 'Forgot password\\?')!;
      const f = formOf((await b.get(href)).body);
      return b.post(pathOf(f.action), { ...f.fields, username: login });
    }

    it('answers the same for an unknown name, and mails a link only to an account with an address', async () => {
      await createUser(t.deps, 'default', { username: 'hana', password: PASSWORD, email: 'hana@example.test' });
      await createUser(t.deps, 'default', { username: 'ivan', password: PASSWORD });
      const answers = [];
      for (const login of ['hana', 'nobod', 'ivan', 'hana@example.test']) {
        const res = await forgot(new InjectBrowser(t.app), login);
        answers.push({ status: res.statusCode, h1: h1(res.body), text: statusOf(res.body)!.replace(login, 'LOGIN') });
      }
      expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
      expect(answers[0]).toEqual({ status: 200, h1: 'Check your email', text: 'If LOGIN belongs to an account with an email address, we sent a link to reset its password. Open it in this browser within 30 minutes.' });
      expect((await mail()).map((m) => [m.to, /reset-password\?key=/.test(m.text)])).toEqual([['hana@example.test', true], ['hana@example.test', true]]);
    });

    it('sets a new password from the link, ends every old session and its refresh tokens, and continues the sign-in', async () => {
      await createUser(t.deps, 'default', { username: 'jade', password: PASSWORD, email: 'jade@example.test' });
      // An old session, with a session-bound refresh token.
      const old = new InjectBrowser(t.app);
      const lf = formOf((await old.get(authorizeUrl())).body);
      const signedIn = await old.post(pathOf(lf.action), { ...lf.fields, username: 'jade', password: PASSWORD });
      const oldTokens = await redeem(signedIn.headers.location as string);
      expect(oldTokens.refresh_token).toEqual(expect.any(String));

      const b = new InjectBrowser(t.app);
      await forgot(b, 'jade@example.test');
      const [message] = await mail();
      const path = linkIn(message);
      // A refused password leaves the link usable.
      const weak = await useLink(b, path, { password: 'short', password_confirm: 'short' });
      expect({ status: weak.statusCode, error: alertOf(weak.body) }).toEqual({ status: 400, error: 'Password must be at least 8 characters long.' });
      const done = await useLink(b, path, { password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
      expect(done.statusCode).toBe(303);
      await redeem(done.headers.location as string);

      expect((await old.get(authorizeUrl())).statusCode).toBe(200); // the login page: the old session is gone
      const refresh = await t.app.inject({
        method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(client.id, client.secret) },
        payload: form({ grant_type: 'refresh_token', refresh_token: oldTokens.refresh_token }),
      });
      expect({ status: refresh.statusCode, body: refresh.json() }).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'the session of this refresh token has ended' } });
      const user = (await t.storage.users.findByUsername('default', 'jade'))!;
      expect(await verifyPassword(user.passwordHash, NEW_PASSWORD)).toBe(true);
      expect(user.emailVerified).toBe(true);
      const reused = await useLink(new InjectBrowser(t.app), path, { password: 'another-good-one', password_confirm: 'another-good-one' }).catch(() => undefined);
      expect(reused).toBeUndefined(); // the GET of a used link is already refused (useLink expects 200)
      const types = (await t.storage.audit.list('default', { type: 'user', limit: 10 })).events.filter((e) => e.userId === user.id).map((e) => e.type);
      expect(types).toEqual(['user.password_reset', 'user.password_reset_requested', 'user.created']);
    });

    it('a reset link expires after 30 minutes', async () => {
      await createUser(t.deps, 'default', { username: 'kim', password: PASSWORD, email: 'kim@example.test' });
      const b = new InjectBrowser(t.app);
      await forgot(b, 'kim');
      const [message] = await mail();
      clock.advance(30 * 60 + 1);
      const res = await b.get(linkIn(message));
      expect({ status: res.statusCode, h1: h1(res.body) }).toEqual({ status: 400, h1: 'This link no longer works' });
    });
  });

  describe('verified email', () => {
    it('a tenant that requires it sends a link at sign-in, and the link finishes the sign-in', async () => {
      await updateTenant(t.deps, 'default', { requireVerifiedEmail: true });
      await createUser(t.deps, 'default', { username: 'lena', password: PASSWORD, email: 'lena@example.test' });
      const b = new InjectBrowser(t.app);
      const lf = formOf((await b.get(authorizeUrl())).body);
      const res = await b.post(pathOf(lf.action), { ...lf.fields, username: 'lena@example.test', password: PASSWORD });
      expect({ status: res.statusCode, h1: h1(res.body), text: statusOf(res.body) }).toEqual({
        status: 403, h1: 'Verify your email address', text: 'Before you can sign in, confirm your email address: we sent a link to lena@example.test. Open it in this browser to continue.',
      });
      expect([...b.cookies.keys()].filter((k) => k.startsWith('tessera_session'))).toEqual([]);
      const [message] = await mail();
      expect(message.to).toBe('lena@example.test');
      const done = await useLink(b, linkIn(message));
      expect(done.statusCode).toBe(303);
      const tokens = await redeem(done.headers.location as string);
      expect(decodeJwt(tokens.id_token)).toMatchObject({ email: 'lena@example.test', email_verified: true });
    });

    it('without the requirement, an unverified user signs in and the ID token says email_verified false', async () => {
      await createUser(t.deps, 'default', { username: 'mona', password: PASSWORD, email: 'mona@example.test' });
      const b = new InjectBrowser(t.app);
      const lf = formOf((await b.get(authorizeUrl())).body);
      const res = await b.post(pathOf(lf.action), { ...lf.fields, username: 'mona', password: PASSWORD });
      const tokens = await redeem(res.headers.location as string);
      expect(decodeJwt(tokens.id_token)).toMatchObject({ email: 'mona@example.test', email_verified: false });
      const userinfo = await t.app.inject({ method: 'GET', url: '/realms/default/protocol/openid-connect/userinfo', headers: { authorization: `Bearer ${tokens.access_token}` } });
      expect(userinfo.json()).toMatchObject({ email: 'mona@example.test', email_verified: false });
    });
  });

  describe('account page', () => {
    const ACCOUNT = '/realms/default/account';

    async function accountOf(username: string) {
      const b = new InjectBrowser(t.app);
      const start = await b.get(ACCOUNT);
      expect({ status: start.statusCode, alert: alertOf(start.body) }).toEqual({ status: 302, alert: undefined });
      const lf = formOf((await b.get(pathOf(start.headers.location as string))).body);
      const back = await b.post(pathOf(lf.action), { ...lf.fields, username, password: PASSWORD });
      expect({ status: back.statusCode, h1: h1(back.body), alert: alertOf(back.body) }).toEqual({ status: 303, h1: undefined, alert: undefined });
      await b.get(pathOf(back.headers.location as string));
      const page = await b.get(ACCOUNT);
      expect(page.statusCode).toBe(200);
      return { b, csrf: /name="csrf" value="([^"]+)"/.exec(page.body)![1], page: page.body };
    }

    it('shows the email and whether it is verified, and resends the confirmation link', async () => {
      await createUser(t.deps, 'default', { username: 'nora', password: PASSWORD, email: 'nora@example.test' });
      const { b, csrf, page } = await accountOf('nora');
      expect(/<p id="email-status">(.*?)<\/p>/.exec(page)![1]).toBe('<strong>nora@example.test</strong> · <span class="warn-text">not verified</span>');
      const res = await b.post(ACCOUNT, { csrf, action: 'resend_verification' });
      expect({ status: res.statusCode, notice: statusOf(res.body) }).toEqual({ status: 200, notice: 'We sent a link to nora@example.test. Open it to confirm your address.' });
      const [message] = await mail();
      const done = await useLink(new InjectBrowser(t.app), linkIn(message));
      expect({ status: done.statusCode, h1: h1(done.body), text: statusOf(done.body) }).toEqual({ status: 200, h1: 'Email address confirmed', text: 'nora@example.test is confirmed.' });
      expect(/<p id="email-status">(.*?)<\/p>/.exec((await b.get(ACCOUNT)).body)![1]).toBe('<strong>nora@example.test</strong> · <span>verified</span>');
    });

    it('changes the password with the current one, and signs out every other session', async () => {
      await createUser(t.deps, 'default', { username: 'omar', password: PASSWORD });
      const other = await accountOf('omar');
      const { b, csrf } = await accountOf('omar');
      const wrong = await b.post(ACCOUNT, { csrf, action: 'change_password', current_password: 'not it at all', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
      expect({ status: wrong.statusCode, error: alertOf(wrong.body) }).toEqual({ status: 400, error: 'Your current password is not right.' });
      const weak = await b.post(ACCOUNT, { csrf, action: 'change_password', current_password: PASSWORD, password: 'omar', password_confirm: 'omar' });
      expect({ status: weak.statusCode, error: alertOf(weak.body) }).toEqual({ status: 400, error: 'Password must be at least 8 characters long.' });
      const ok = await b.post(ACCOUNT, { csrf, action: 'change_password', current_password: PASSWORD, password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
      expect({ status: ok.statusCode, notice: statusOf(ok.body) }).toEqual({ status: 200, notice: 'Your password has been changed. You were signed out everywhere else.' });
      expect((await b.get(ACCOUNT)).statusCode).toBe(200); // this session lives on
      expect((await other.b.get(ACCOUNT)).statusCode).toBe(302); // the other one was signed out
      expect(await verifyPassword((await t.storage.users.findByUsername('default', 'omar'))!.passwordHash, NEW_PASSWORD)).toBe(true);
    });

    it('changes the email only when the new address confirms it; an address in use is never taken over', async () => {
      await createUser(t.deps, 'default', { username: 'pia', password: PASSWORD, email: 'pia@example.test', emailVerified: true });
      await createUser(t.deps, 'default', { username: 'quinn', password: PASSWORD, email: 'quinn@example.test' });
      const { b, csrf } = await accountOf('pia');
      const taken = await b.post(ACCOUNT, { csrf, action: 'change_email', email: 'QUINN@example.test', current_password: PASSWORD });
      const free = await b.post(ACCOUNT, { csrf, action: 'change_email', email: 'pia@new.example', current_password: PASSWORD });
      expect({ status: taken.statusCode, notice: statusOf(taken.body)!.replace('QUINN@example.test', 'X') }).toEqual({ status: free.statusCode, notice: statusOf(free.body)!.replace('pia@new.example', 'X') });
      expect(statusOf(free.body)).toBe('We sent a link to pia@new.example. Your email address changes when you open it.');
      expect(await t.storage.users.findByUsername('default', 'pia')).toMatchObject({ email: 'pia@example.test', emailVerified: true });
      const sent = await mail();
      expect(sent.map((m) => [m.to, /verify-email\?key=/.test(m.text)])).toEqual([['QUINN@example.test', false], ['pia@new.example', true]]);
      await useLink(new InjectBrowser(t.app), linkIn(sent[1]));
      expect(await t.storage.users.findByUsername('default', 'pia')).toMatchObject({ email: 'pia@new.example', emailVerified: true });
      expect(await t.storage.users.findByEmail('default', 'PIA@NEW.EXAMPLE')).toMatchObject({ username: 'pia' });
      const wrong = await b.post(ACCOUNT, { csrf, action: 'change_email', email: 'pia@third.example', current_password: 'nope nope nope' });
      expect({ status: wrong.statusCode, error: alertOf(wrong.body) }).toEqual({ status: 400, error: 'Your current password is not right.' });
    });

    it('signs in by email as well as by username', async () => {
      await createUser(t.deps, 'default', { username: 'rosa', password: PASSWORD, email: 'Rosa@Example.test' });
      const b = new InjectBrowser(t.app);
      const lf = formOf((await b.get(authorizeUrl())).body);
      const res = await b.post(pathOf(lf.action), { ...lf.fields, username: 'rosa@example.TEST', password: PASSWORD });
      expect(res.statusCode).toBe(303);
      expect(decodeJwt((await redeem(res.headers.location as string)).id_token).sub).toBe((await t.storage.users.findByUsername('default', 'rosa'))!.id);
    });
  });
});
