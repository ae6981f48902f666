/**
 * Second factors, in process on both backends: TOTP enrolment on the account page (QR code,
 * secret, confirmation, recovery codes shown once), the second step of sign-in (wrong,
 * replayed and right codes; recovery codes once each; throttling), `amr`/`acr` in ID tokens,
 * policies (tenant, client, acr_values) with enrolment at sign-in and step-up, max_age, the
 * password grant's refusal and the operator's reset.
 */
import type { LightMyRequestResponse } from 'fastify';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/manage/clients.js';
import { resetUserMfa, setClientMfa, setTenantMfa } from '../src/manage/mfa.js';
import { createUser } from '../src/manage/users.js';
import { PAPE_MULTI_FACTOR } from '../src/mfa/policy.js';
import { hotp, base32Decode, timeStep, totpAt } from '../src/mfa/totp.js';
import type { User } from '../src/storage/types.js';
import { BACKENDS, basic, FakeClock, form, FORM_HEADERS, startTestApp, type TestApp } from './helpers.js';
import { formOf, InjectBrowser, pathOf } from './support/inject_browser.js';

const PUBLIC = 'https://tessera.test';
const ISSUER = `${PUBLIC}/realms/default`;
const AUTH = '/realms/default/protocol/openid-connect/auth';
const TOKEN = '/realms/default/protocol/openid-connect/token';
const SECURITY = '/realms/default/account/security';
const REDIRECT = 'https://app.example/cb';
const PASSWORD = 'correct horse battery';
const DAY = 86400;

const mainOf = (html: string): string => /<main>([\s\S]*)<\/main>/.exec(html)?.[1] ?? `(no <main> in ${html.slice(0, 200)})`;
const textOf = (html: string): string => mainOf(html).replace(/<style[^>]*>[^<]*<\/style>/g, '').replace(/<svg[\s\S]*?<\/svg>/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
const alertOf = (html: string): string | undefined => /<p class="error" role="alert">([^<]*)<\/p>/.exec(html)?.[1];
const secretOf = (html: string): string => (/<code id="totp-secret">([^<]*)<\/code>/.exec(html)?.[1] ?? '').replace(/ /g, '');
const codesOf = (html: string): string[] => [...html.matchAll(/<li><code>([a-z2-7]{5}-[a-z2-7]{5})<\/code><\/li>/g)].map((m) => m[1]);

describe('RFC 6238 TOTP', () => {
  it('matches the RFC 6238 appendix B SHA-1 test vectors (last 6 digits)', () => {
    const secret = Buffer.from('12345678901234567890');
    const vectors: [number, string][] = [[59, '287082'], [1111111109, '081804'], [1111111111, '050471'], [1234567890, '005924'], [2000000000, '279037'], [20000000000, '353130']];
    expect(vectors.map(([t]) => hotp(secret, timeStep(t)))).toEqual(vectors.map(([, code]) => code));
  });
  it('round-trips base32 secrets', () => {
    expect(base32Decode('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ').toString()).toBe('12345678901234567890');
  });
});

describe.each(BACKENDS)('second factors on %s', (backend) => {
  const clock = new FakeClock();
  const now = () => Math.floor(clock.now() / 1000);
  let t: TestApp;
  let alice: User;
  let app: { id: string; secret: string };
  let strict: { id: string; secret: string };

  beforeAll(async () => {
    t = await startTestApp(backend, { clock, config: { publicUrl: PUBLIC } });
    const make = async (name: string) => {
      const c = await createClient(t.deps, 'default', {
        name, redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token', 'password'], scopes: [], consent: 'skip', sessionRefreshTokens: true,
      }, DAY);
      return { id: c.client.clientId, secret: c.secret! };
    };
    app = await make('Avatar Studio');
    strict = await make('Payouts');
    await setClientMfa(t.deps, 'default', strict.id, true);
    alice = await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
    for (const u of ['bob', 'carol', 'dave', 'erin', 'frank']) await createUser(t.deps, 'default', { username: u, password: PASSWORD });
  });
  afterAll(() => t?.close());

  /** The tenant's audit events of a type, newest first, after any queued ones are written. */
  const auditOf = async (type: string) => {
    await (t.storage.audit as { flush?: () => Promise<void> }).flush?.();
    return (await t.storage.audit.list('default', { type, limit: 20 })).events;
  };

  const authorizeUrl = (clientId: string, extra: Record<string, string> = {}) =>
    `${AUTH}?${new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', state: 's1', nonce: 'n1', ...extra })}`;

  /** Starts an authorization and posts the password; returns the page that follows. */
  async function password(b: InjectBrowser, username: string, clientId = app.id, extra: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const login = await b.get(authorizeUrl(clientId, extra));
    expect(login.statusCode).toBe(200);
    const lf = formOf(login.body);
    return b.post(pathOf(lf.action), { ...lf.fields, username, password: PASSWORD });
  }

  /** Posts the code into the second step's form on `page`. */
  const submitCode = (b: InjectBrowser, page: LightMyRequestResponse, code: string) => {
    const f = formOf(page.body);
    expect(f.action).toBe(`${ISSUER}/login-actions/mfa`);
    return b.post(pathOf(f.action), { ...f.fields, code });
  };

  /** The redirect back to the client, redeemed: the ID token's claims. */
  async function redeem(res: LightMyRequestResponse, clientId = app.id, secret = app.secret) {
    // 303 after a form POST, 302 from the authorization endpoint itself (a live session).
    expect(res.statusCode).toBe(res.raw.req.method === 'POST' ? 303 : 302);
    const location = new URL(res.headers.location as string);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    const code = location.searchParams.get('code')!;
    const tok = await t.app.inject({ method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(clientId, secret) }, payload: form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT }) });
    expect(tok.statusCode).toBe(200);
    return { claims: decodeJwt(tok.json().id_token), refresh: tok.json().refresh_token as string };
  }

  /** Signs `username` in with the password alone and opens the security page: its CSRF token. */
  async function securityPage(b: InjectBrowser, username: string): Promise<string> {
    await redeem(await password(b, username));
    const page = await b.get(SECURITY);
    expect(page.statusCode).toBe(200);
    return /name="csrf" value="([^"]+)"/.exec(page.body)![1];
  }

  /** Enrols TOTP from the account page; returns the secret and the recovery codes shown. */
  async function enrol(b: InjectBrowser, csrf: string): Promise<{ secret: string; codes: string[] }> {
    const start = await b.post(SECURITY, { csrf, action: 'start_totp' });
    expect(start.statusCode).toBe(200);
    expect(start.body).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    const secret = secretOf(start.body);
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    const f = formOf(start.body);
    const done = await b.post(pathOf(f.action), { ...f.fields, code: totpAt(secret, now()), label: 'Phone' });
    expect(done.statusCode).toBe(200);
    return { secret, codes: codesOf(done.body) };
  }

  it('enrols an authenticator app from the account page: a wrong code is refused, then recovery codes are shown once', async () => {
    const b = new InjectBrowser(t.app);
    const csrf = await securityPage(b, 'alice');
    const start = await b.post(SECURITY, { csrf, action: 'start_totp' });
    const f = formOf(start.body);
    const wrong = await b.post(pathOf(f.action), { ...f.fields, code: '000000' === totpAt(secretOf(start.body), now()) ? '111111' : '000000' });
    expect(wrong.statusCode).toBe(400);
    expect(alertOf(wrong.body)).toBe('That code is not right. Check the time on your device and try the next code.');
    const { codes } = await enrol(b, csrf);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    const page = await b.get(SECURITY);
    expect(textOf(page.body)).toContain('Phone Authenticator app');
    expect(textOf(page.body)).toContain('You have 10 unused recovery codes.');
    // Only digests are stored.
    const stored = JSON.stringify(await t.storage.mfa.list('default', alice.id));
    for (const c of codes) expect(stored).not.toContain(c);
    const events = await auditOf('mfa.enrolled');
    expect(events.map((e) => [e.type, e.userId, e.detail.type])).toEqual([['mfa.enrolled', alice.id, 'totp']]);
  });

  it('asks for the code after the password; refuses a wrong one and a replayed one; a fresh one signs in with amr mfa and acr 2', async () => {
    const b = new InjectBrowser(t.app);
    const csrf = await securityPage(b, 'bob');
    const { secret } = await enrol(b, csrf);
    const fresh = new InjectBrowser(t.app);
    const step = await password(fresh, 'bob');
    expect(step.statusCode).toBe(200);
    expect(textOf(step.body)).toContain('Two-step verification Signing in to Default as bob');
    expect(fresh.cookies.has('tessera_session_default')).toBe(false);

    const wrongCode = totpAt(secret, now()) === '123456' ? '654321' : '123456';
    const wrong = await submitCode(fresh, step, wrongCode);
    expect(wrong.statusCode).toBe(401);
    expect(alertOf(wrong.body)).toBe('That code is not right. Check the time on your device, or use a recovery code.');
    // The code that confirmed the enrolment is still inside its window: used once, refused now.
    const replay = await submitCode(fresh, wrong, totpAt(secret, now()));
    expect(replay.statusCode).toBe(401);
    expect(alertOf(replay.body)).toBe('That code was already used. Wait for the next one in your app.');

    clock.advance(30);
    const ok = await submitCode(fresh, replay, totpAt(secret, now()));
    const { claims } = await redeem(ok);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe('2');
    // The same code again, in another sign-in: refused across sign-ins too.
    const other = new InjectBrowser(t.app);
    const again = await submitCode(other, await password(other, 'bob'), totpAt(secret, now()));
    expect(again.statusCode).toBe(401);
    expect(alertOf(again.body)).toBe('That code was already used. Wait for the next one in your app.');
    const bob = (await t.storage.users.findByUsername('default', 'bob'))!;
    const failures = (await auditOf('sign_in.failure')).filter((e) => e.userId === bob.id);
    expect(failures.map((e) => e.detail.reason)).toEqual(['replayed_code', 'replayed_code', 'invalid_code']);
  });

  it('accepts each recovery code once', async () => {
    const b = new InjectBrowser(t.app);
    const { codes } = await enrol(b, await securityPage(b, 'carol'));
    const first = new InjectBrowser(t.app);
    const { claims } = await redeem(await submitCode(first, await password(first, 'carol'), codes[3].toUpperCase()));
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    const second = new InjectBrowser(t.app);
    const reused = await submitCode(second, await password(second, 'carol'), codes[3]);
    expect(reused.statusCode).toBe(401);
    expect(alertOf(reused.body)).toBe('That code is not right. Check the time on your device, or use a recovery code.');
    expect(await t.storage.mfa.recoveryCodesLeft('default', (await t.storage.users.findByUsername('default', 'carol'))!.id)).toBe(9);
    const { claims: next } = await redeem(await submitCode(second, reused, codes[4]));
    expect(next.acr).toBe('2');
  });

  it('throttles wrong codes like passwords: after five, the sixth waits (429 with Retry-After)', async () => {
    const b = new InjectBrowser(t.app);
    const { secret } = await enrol(b, await securityPage(b, 'dave'));
    const fresh = new InjectBrowser(t.app);
    let page = await password(fresh, 'dave');
    const wrong = totpAt(secret, now()) === '999999' ? '888888' : '999999';
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      page = await submitCode(fresh, page, wrong);
      statuses.push(page.statusCode);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
    expect(page.headers['retry-after']).toBe('1');
    expect(alertOf(page.body)).toBe('Too many wrong codes. Try again in 1 seconds.');
  });

  it('a client that requires MFA takes a user without a factor through enrolment at sign-in, and gets amr with mfa', async () => {
    const b = new InjectBrowser(t.app);
    const enrolPage = await password(b, 'erin', strict.id);
    expect(enrolPage.statusCode).toBe(200);
    expect(textOf(enrolPage.body)).toContain('Set up two-step verification Default requires a second step when erin signs in here.');
    const secret = secretOf(enrolPage.body);
    const codesPage = await submitCode(b, enrolPage, totpAt(secret, now()));
    expect(codesPage.statusCode).toBe(200);
    expect(codesOf(codesPage.body)).toHaveLength(10);
    const f = formOf(codesPage.body);
    const { claims } = await redeem(await b.post(pathOf(f.action), f.fields), strict.id, strict.secret);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe('2');
  });

  it('steps up a password-only session when acr_values or a client asks for a second factor; prompt=none gets interaction_required', async () => {
    const b = new InjectBrowser(t.app);
    const { claims: one } = await redeem(await password(b, 'frank'));
    expect(one.amr).toEqual(['pwd']);
    expect(one.acr).toBe('1');
    // acr_values that also accept "1" do not force a second step.
    const { claims: lenient } = await redeem(await b.get(authorizeUrl(app.id, { acr_values: '2 1' })));
    expect(lenient.acr).toBe('1');
    const none = await b.get(authorizeUrl(app.id, { acr_values: '2', prompt: 'none' }));
    expect(none.statusCode).toBe(302);
    const err = new URL(none.headers.location as string).searchParams;
    expect(Object.fromEntries(err)).toEqual({ error: 'interaction_required', error_description: 'a second factor is needed and prompt=none forbids asking for it', state: 's1', iss: ISSUER });
    // No password again: straight to enrolment (frank has no factor), then the PAPE alias comes back as asked.
    const step = await b.get(authorizeUrl(app.id, { acr_values: PAPE_MULTI_FACTOR }));
    expect(step.statusCode).toBe(200);
    expect(textOf(step.body)).toContain('Set up two-step verification');
    const secret = secretOf(step.body);
    const codes = await submitCode(b, step, totpAt(secret, now()));
    const f = formOf(codes.body);
    const { claims } = await redeem(await b.post(pathOf(f.action), f.fields));
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(claims.acr).toBe(PAPE_MULTI_FACTOR);
    // The session now has the factor: the strict client needs no further step.
    const { claims: strictClaims } = await redeem(await b.get(authorizeUrl(strict.id)), strict.id, strict.secret);
    expect(strictClaims.acr).toBe('2');
    // max_age: an older session signs in again, password and code.
    clock.advance(120);
    const login = await b.get(authorizeUrl(app.id, { max_age: '60' }));
    expect(textOf(login.body)).toContain('Sign in to Default');
  });

  it('asks a session opened before the user enrolled for the code (no password again) before it signs in to any client', async () => {
    await createUser(t.deps, 'default', { username: 'ivan', password: PASSWORD });
    const b = new InjectBrowser(t.app);
    const { secret } = await enrol(b, await securityPage(b, 'ivan'));
    const step = await b.get(authorizeUrl(app.id));
    expect(step.statusCode).toBe(200);
    expect(textOf(step.body)).toContain('Two-step verification Signing in to Default as ivan');
    const none = await b.get(authorizeUrl(app.id, { prompt: 'none' }));
    expect(Object.fromEntries(new URL(none.headers.location as string).searchParams)).toMatchObject({ error: 'interaction_required' });
    clock.advance(30);
    const { claims } = await redeem(await submitCode(b, step, totpAt(secret, now())));
    expect(claims).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: '2' });
  });

  it('refuses the password grant for a user with a factor and for a client that requires one', async () => {
    const grant = (c: { id: string; secret: string }, username: string) =>
      t.app.inject({ method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(c.id, c.secret) }, payload: form({ grant_type: 'password', username, password: PASSWORD, scope: 'openid' }) });
    const withFactor = await grant(app, 'bob');
    expect(withFactor.statusCode).toBe(400);
    expect(withFactor.json()).toEqual({ error: 'invalid_grant', error_description: 'this account uses a second factor; sign in with a browser (authorization code flow)' });
    await createUser(t.deps, 'default', { username: 'gina', password: PASSWORD });
    const strictClient = await grant(strict, 'gina');
    expect(strictClient.statusCode).toBe(400);
    expect(strictClient.json()).toEqual({ error: 'invalid_grant', error_description: 'a second factor is required here; sign in with a browser (authorization code flow)' });
    const plain = await grant(app, 'gina');
    expect(plain.statusCode).toBe(200);
    expect(decodeJwt(plain.json().id_token)).toMatchObject({ amr: ['pwd'], acr: '1' });
  });

  it('a tenant that requires MFA asks everyone; an operator reset removes the factors (audited) and the user enrols again', async () => {
    await createUser(t.deps, 'default', { username: 'hana', password: PASSWORD });
    await setTenantMfa(t.deps, 'default', 'required');
    try {
      const b = new InjectBrowser(t.app);
      const page = await password(b, 'hana');
      expect(textOf(page.body)).toContain('Set up two-step verification');
      const codes = await submitCode(b, page, totpAt(secretOf(page.body), now()));
      const f = formOf(codes.body);
      await redeem(await b.post(pathOf(f.action), f.fields));
      const reset = await resetUserMfa(t.deps, 'default', 'hana');
      expect(reset).toEqual({ user_id: expect.any(String), username: 'hana', factors_removed: 1 });
      expect(await t.storage.mfa.list('default', reset.user_id)).toEqual([]);
      expect(await t.storage.mfa.recoveryCodesLeft('default', reset.user_id)).toBe(0);
      const events = await auditOf('mfa.reset');
      expect(events.map((e) => [e.actor, e.userId, e.detail])).toEqual([['operator', reset.user_id, { factors_removed: 1 }]]);
      const again = new InjectBrowser(t.app);
      expect(textOf((await password(again, 'hana')).body)).toContain('Set up two-step verification');
    } finally {
      await setTenantMfa(t.deps, 'default', 'optional');
    }
  });

  it('publishes acr_values_supported and the amr and acr claims in discovery', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/realms/default/.well-known/openid-configuration' });
    expect(res.json().acr_values_supported).toEqual(['1', '2', PAPE_MULTI_FACTOR]);
    expect(res.json().claims_supported).toEqual(expect.arrayContaining(['amr', 'acr']));
  });

  it('keeps amr and acr in the ID tokens of refreshed sessions', async () => {
    const b = new InjectBrowser(t.app);
    const { secret } = await enrol(b, await securityPage(b, 'gina'));
    clock.advance(30);
    const fresh = new InjectBrowser(t.app);
    const { refresh } = await redeem(await submitCode(fresh, await password(fresh, 'gina'), totpAt(secret, now())));
    const res = await t.app.inject({ method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(app.id, app.secret) }, payload: form({ grant_type: 'refresh_token', refresh_token: refresh }) });
    expect(res.statusCode).toBe(200);
    expect(decodeJwt(res.json().id_token)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: '2' });
  });
});
