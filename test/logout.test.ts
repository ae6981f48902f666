import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/manage/clients.js';
import { createTenant } from '../src/manage/tenants.js';
import { createUser } from '../src/manage/users.js';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS, basic, FakeClock, form, FORM_HEADERS, PUBLIC_URL, startTestApp, type TestApp } from './helpers.js';
import { formOf, InjectBrowser, pathOf } from './support/inject_browser.js';

const ISSUER = `${PUBLIC_URL}/realms/default`;
const LOGOUT = '/realms/default/protocol/openid-connect/logout';
const REDIRECT = 'https://app.example/cb';
const AFTER_LOGOUT = 'https://app.example/logged-out';
const LOOPBACK_AFTER_LOGOUT = 'http://127.0.0.1/bye';
const APP_ORIGIN = 'https://app.example';
const PASSWORD = 'correct horse battery';
const COOKIE = 'tessera_session_default';
/** The session cookie cleared with the attributes it was set with (plain-http test issuer: SameSite=Lax, no Secure). */
const CLEARED = `${COOKIE}=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax`;

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
const mainOf = (html: string): string => /<main>([\s\S]*)<\/main>/.exec(html)?.[1] ?? `(no <main> in ${html.slice(0, 200)})`;

const SIGNED_OUT_MAIN = `<h1>You are signed out</h1>
<p>You are no longer signed in to Default.</p>
<p class="muted">You can close this page and return to the application.</p>`;

const errorMain = (message: string) =>
  `<h1>We could not sign you out</h1><p class="error" role="alert">${escape(message)}</p>\n<p class="muted">You can close this page and return to the application.</p>`;

/** A response as status, Location, type, Set-Cookie and the page's <main>, to compare whole. */
const view = (res: LightMyRequestResponse) => ({
  status: res.statusCode,
  location: res.headers.location,
  type: res.headers['content-type'],
  setCookie: res.headers['set-cookie'],
  main: res.headers['content-type']?.toString().startsWith('text/html') ? mainOf(res.body) : undefined,
});

const errorPage = (message: string) => ({ status: 400, location: undefined, type: 'text/html; charset=utf-8', setCookie: undefined, main: errorMain(message) });
const signedOutPage = (setCookie: string | undefined) => ({ status: 200, location: undefined, type: 'text/html; charset=utf-8', setCookie, main: SIGNED_OUT_MAIN });

const logoutUrl = (params: Record<string, string | undefined>, path = LOGOUT) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) p.append(k, v);
  return `${path}?${p}`;
};

describe.each(BACKENDS)('RP-initiated logout on %s', (backend) => {
  const clock = new FakeClock();
  let t: TestApp;
  let web: { id: string; secret: string };
  let other: { id: string; secret: string };
  let acme: { id: string; secret: string };

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    const make = async (tenant: string, name: string, postLogout: string[], corsOrigins: string[] = []) => {
      const c = await createClient(t.deps, tenant, {
        name, grantTypes: ['authorization_code'], redirectUris: [REDIRECT], postLogoutRedirectUris: postLogout, corsOrigins, consent: 'skip', accessTokenFormat: 'jwt',
      }, 86400);
      return { id: c.client.clientId, secret: c.secret! };
    };
    web = await make('default', 'Avatar Studio', [AFTER_LOGOUT, LOOPBACK_AFTER_LOGOUT], [APP_ORIGIN]);
    other = await make('default', 'Other App', ['https://other.example/bye']);
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
    await createTenant(t.deps, { id: 'acme', displayName: 'Acme' });
    acme = await make('acme', 'Acme App', [AFTER_LOGOUT]);
    await createUser(t.deps, 'acme', { username: 'alice', password: PASSWORD });
  });
  afterAll(() => t?.close());

  const authorizeUrl = (clientId: string, tenant = 'default', extra: Record<string, string> = {}) =>
    `/realms/${tenant}/protocol/openid-connect/auth?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'openid', state: 's', nonce: 'n', ...extra })}`;

  /** Signs the browser in through the login page and returns the ID token (and access token) of the code exchange. */
  async function signIn(b: InjectBrowser, client = web, tenant = 'default') {
    const login = await b.get(authorizeUrl(client.id, tenant));
    expect(login.statusCode).toBe(200);
    const lf = formOf(login.body);
    const done = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: PASSWORD });
    expect(done.statusCode).toBe(303);
    const code = new URL(done.headers.location as string).searchParams.get('code')!;
    const res = await t.app.inject({
      method: 'POST', url: `/realms/${tenant}/protocol/openid-connect/token`, headers: { ...FORM_HEADERS, authorization: basic(client.id, client.secret) },
      payload: form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT }),
    });
    expect(res.statusCode).toBe(200);
    const { id_token: idToken, access_token: accessToken } = res.json();
    return { idToken: idToken as string, accessToken: accessToken as string, sid: decodeJwt(idToken).sid as string, cookie: b.cookies.get(COOKIE)! };
  }

  /** Whether a session cookie value still signs the user in: `prompt=none` answers a code, or login_required. */
  async function signedIn(cookie: string): Promise<boolean> {
    const b = new InjectBrowser(t.app);
    b.cookies.set(COOKIE, cookie);
    const res = await b.get(authorizeUrl(web.id, 'default', { prompt: 'none' }));
    expect(res.statusCode).toBe(302);
    const params = new URL(res.headers.location as string).searchParams;
    if (params.get('code')) return true;
    expect(params.get('error')).toBe('login_required');
    return false;
  }

  async function revokedAt(cookie: string) {
    const session = await t.storage.sessions.get(storageKey(cookie));
    return session ? session.revokedAt : 'no session';
  }

  it('logs out at once with an id_token_hint of this session and returns to the registered URI with state', async () => {
    const b = new InjectBrowser(t.app);
    const { idToken, cookie } = await signIn(b);
    expect(await signedIn(cookie)).toBe(true);
    const res = await b.get(logoutUrl({ id_token_hint: idToken, post_logout_redirect_uri: AFTER_LOGOUT, state: 'af0if jsl&dkj', client_id: web.id }));
    expect(view(res)).toEqual({ status: 302, location: `${AFTER_LOGOUT}?state=af0if+jsl%26dkj`, type: undefined, setCookie: CLEARED, main: undefined });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(await revokedAt(cookie)).toBe(Math.floor(clock.ms / 1000));
    // The session is gone on the server, not just the cookie in this browser.
    expect(await signedIn(cookie)).toBe(false);
    const again = await b.get(authorizeUrl(web.id, 'default', { prompt: 'none' }));
    expect(new URL(again.headers.location as string).searchParams.get('error')).toBe('login_required');
  });

  it("works for keycloak-js's logout: GET with client_id, post_logout_redirect_uri and id_token_hint, or the same as a POSTed form", async () => {
    const b = new InjectBrowser(t.app);
    let { idToken, cookie } = await signIn(b);
    // keycloak-js createLogoutUrl(): exactly these parameters, in this order, and no state.
    const url = `${ISSUER}/protocol/openid-connect/logout?${new URLSearchParams([['client_id', web.id], ['post_logout_redirect_uri', 'http://127.0.0.1:8080/bye'], ['id_token_hint', idToken]])}`;
    const res = await b.get(pathOf(url));
    // RFC 8252 §7.3: a loopback URI matches on any port.
    expect(view(res)).toEqual({ status: 302, location: 'http://127.0.0.1:8080/bye', type: undefined, setCookie: CLEARED, main: undefined });
    expect(await signedIn(cookie)).toBe(false);

    // logoutMethod: 'POST' submits a form with the same fields (303 after a POST, SECURITY-CHECKLIST 12).
    ({ idToken, cookie } = await signIn(b));
    const posted = await b.post(LOGOUT, { id_token_hint: idToken, client_id: web.id, post_logout_redirect_uri: AFTER_LOGOUT });
    expect(view(posted)).toEqual({ status: 303, location: AFTER_LOGOUT, type: undefined, setCookie: CLEARED, main: undefined });
    expect(await signedIn(cookie)).toBe(false);
  });

  it("ends the session's refresh tokens with it (session-bound, as keycloak-js gets them)", async () => {
    const c = await createClient(t.deps, 'default', {
      name: 'SPA', grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [REDIRECT], postLogoutRedirectUris: [AFTER_LOGOUT], consent: 'skip', sessionRefreshTokens: true,
    }, 86400);
    const spa = { id: c.client.clientId, secret: c.secret! };
    const b = new InjectBrowser(t.app);
    const login = await b.get(authorizeUrl(spa.id));
    const lf = formOf(login.body);
    const done = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: PASSWORD });
    const code = new URL(done.headers.location as string).searchParams.get('code')!;
    const token = (payload: Record<string, string>) =>
      t.app.inject({ method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(spa.id, spa.secret) }, payload: form(payload) });
    const tokens = (await token({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT })).json();
    // Before logout the token refreshes (and rotates).
    const before = await token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(before.statusCode).toBe(200);
    const rotated = before.json().refresh_token as string;

    const out = await b.get(logoutUrl({ id_token_hint: tokens.id_token, post_logout_redirect_uri: AFTER_LOGOUT }));
    expect(out.statusCode).toBe(302);
    const refresh = await token({ grant_type: 'refresh_token', refresh_token: rotated });
    expect({ status: refresh.statusCode, body: refresh.json() }).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'the session of this refresh token has ended' } });
  });

  it('refuses a hint from another tenant, a forged hint and a token that is not an ID token, with an error page that ends nothing', async () => {
    const b = new InjectBrowser(t.app);
    const { idToken, accessToken, cookie } = await signIn(b);
    const fromAcme = (await signIn(new InjectBrowser(t.app), acme, 'acme')).idToken;

    const [h, p] = idToken.split('.');
    const claims = decodeJwt(idToken);
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sid: 'someone-else' })).toString('base64url')}.${idToken.split('.')[2]}`;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const selfSigned = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: decodeProtectedHeader(idToken).kid }).sign(privateKey);
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${p}.`;

    const INVALID = 'id_token_hint is not a valid ID token from this server';
    const hints: [string, string][] = [['another tenant', fromAcme], ['tampered', tampered], ['self-signed', selfSigned], ['alg none', unsigned], ['access token', accessToken], ['garbage', 'not-a-jwt']];
    for (const [what, hint] of hints) {
      const res = await b.get(logoutUrl({ id_token_hint: hint, post_logout_redirect_uri: AFTER_LOGOUT, state: 's' }));
      expect({ what, ...view(res) }).toEqual({ what, ...errorPage(INVALID) });
    }
    // The acme hint is valid at acme: the failure above is the tenant, not the token.
    expect((await new InjectBrowser(t.app).get(logoutUrl({ id_token_hint: fromAcme, post_logout_redirect_uri: AFTER_LOGOUT }, '/realms/acme/protocol/openid-connect/logout'))).statusCode).toBe(302);

    const mismatch = await b.get(logoutUrl({ id_token_hint: idToken, client_id: other.id, post_logout_redirect_uri: 'https://other.example/bye' }));
    expect(view(mismatch)).toEqual(errorPage('id_token_hint was not issued to client_id'));
    const unknown = await b.get(logoutUrl({ client_id: 'no-such-client', post_logout_redirect_uri: AFTER_LOGOUT }));
    expect(view(unknown)).toEqual(errorPage('the client is not known'));
    const repeated = await b.get(`${LOGOUT}?state=a&state=b`);
    expect(view(repeated)).toEqual(errorPage('parameter state must not be repeated'));

    expect(await revokedAt(cookie)).toBeNull();
    expect(await signedIn(cookie)).toBe(true);
  });

  it('without a hint asks the user to confirm; the confirmed POST ends the session and returns to the registered URI', async () => {
    const b = new InjectBrowser(t.app);
    const { cookie } = await signIn(b);
    const res = await b.get(logoutUrl({ client_id: web.id, post_logout_redirect_uri: AFTER_LOGOUT, state: 'st-9' }));
    expect({ status: res.statusCode, location: res.headers.location, setCookie: res.headers['set-cookie'] }).toEqual({ status: 200, location: undefined, setCookie: undefined });
    const page = formOf(res.body);
    expect(page).toEqual({ action: `${ISSUER}/protocol/openid-connect/logout`, fields: { csrf: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), client_id: web.id, post_logout_redirect_uri: AFTER_LOGOUT, state: 'st-9' } });
    expect(mainOf(res.body)).toBe(`<h1>Do you want to sign out of Default?</h1>
<p class="muted">You will then return to <strong>Avatar Studio</strong>.</p>
<form method="post" action="${ISSUER}/protocol/openid-connect/logout">
<input type="hidden" name="csrf" value="${page.fields.csrf}"><input type="hidden" name="client_id" value="${web.id}"><input type="hidden" name="post_logout_redirect_uri" value="${AFTER_LOGOUT}"><input type="hidden" name="state" value="st-9">
<button type="submit" name="confirm" value="yes">Sign out</button>
</form>`);
    // The redirect after the POST is subject to form-action too.
    expect(res.headers['content-security-policy']).toContain(`form-action 'self' ${APP_ORIGIN};`);
    expect(res.headers['cache-control']).toBe('no-store');
    // Showing the page ended nothing.
    expect(await signedIn(cookie)).toBe(true);

    const done = await b.post(pathOf(page.action), { ...page.fields, confirm: 'yes' });
    expect(view(done)).toEqual({ status: 303, location: `${AFTER_LOGOUT}?state=st-9`, type: undefined, setCookie: CLEARED, main: undefined });
    expect(await signedIn(cookie)).toBe(false);
  });

  it('without a hint or a redirect, confirms and then shows the signed-out page', async () => {
    const b = new InjectBrowser(t.app);
    const { cookie } = await signIn(b);
    const res = await b.get(LOGOUT);
    expect(res.statusCode).toBe(200);
    expect(mainOf(res.body)).toContain('<h1>Do you want to sign out of Default?</h1>\n\n<form');
    const page = formOf(res.body);
    expect(page.fields).toEqual({ csrf: expect.any(String) });
    expect(res.headers['content-security-policy']).toContain("form-action 'self';");
    const done = await b.post(pathOf(page.action), { ...page.fields, confirm: 'yes' });
    expect(view(done)).toEqual(signedOutPage(CLEARED));
    expect(await signedIn(cookie)).toBe(false);
  });

  it('refuses a confirmation whose CSRF token is not bound to this session, and answers a cross-site logout without a hint with the confirmation page', async () => {
    const victim = new InjectBrowser(t.app);
    const { cookie } = await signIn(victim);
    // The attacker's own session gives them a valid token, but for their session only.
    const attacker = new InjectBrowser(t.app);
    await signIn(attacker);
    const theirs = formOf((await attacker.get(LOGOUT)).body).fields.csrf;
    for (const csrf of [theirs, 'x'.repeat(43), 'short']) {
      const res = await victim.post(LOGOUT, { csrf, confirm: 'yes', client_id: web.id, post_logout_redirect_uri: AFTER_LOGOUT });
      expect({ csrf, ...view(res) }).toEqual({ csrf, ...errorPage('the sign-out form could not be verified (CSRF check failed); return to the application and sign out again') });
    }
    // Logout CSRF (RP-Initiated Logout §6): a GET or POST from anywhere without a hint only asks.
    const get = await victim.get(logoutUrl({ client_id: web.id, post_logout_redirect_uri: AFTER_LOGOUT }));
    const post = await victim.post(LOGOUT, { client_id: web.id, post_logout_redirect_uri: AFTER_LOGOUT });
    for (const res of [get, post]) {
      expect({ status: res.statusCode, location: res.headers.location, setCookie: res.headers['set-cookie'] }).toEqual({ status: 200, location: undefined, setCookie: undefined });
      expect(res.body).toContain('Do you want to sign out of Default?');
    }
    expect(await revokedAt(cookie)).toBeNull();
    expect(await signedIn(cookie)).toBe(true);
  });

  it("asks for confirmation when the hint names another session, and never ends that other session", async () => {
    const a = new InjectBrowser(t.app);
    const first = await signIn(a);
    const b = new InjectBrowser(t.app);
    const second = await signIn(b);
    expect(first.sid).not.toBe(second.sid);
    // Browser B presents A's ID token: the hint proves nothing about B's session, so B is asked.
    const res = await b.get(logoutUrl({ id_token_hint: first.idToken, post_logout_redirect_uri: AFTER_LOGOUT, state: 'x' }));
    expect(res.statusCode).toBe(200);
    const page = formOf(res.body);
    expect(page.fields).toEqual({ csrf: expect.any(String), client_id: web.id, post_logout_redirect_uri: AFTER_LOGOUT, state: 'x' });
    expect(await signedIn(first.cookie)).toBe(true);
    expect(await signedIn(second.cookie)).toBe(true);
    const done = await b.post(pathOf(page.action), page.fields);
    expect(view(done)).toEqual({ status: 303, location: `${AFTER_LOGOUT}?state=x`, type: undefined, setCookie: CLEARED, main: undefined });
    expect(await signedIn(second.cookie)).toBe(false);
    expect(await signedIn(first.cookie)).toBe(true);

    // With no session in the browser, A's hint ends nothing either: it only validates the redirect.
    const fresh = await new InjectBrowser(t.app).get(logoutUrl({ id_token_hint: first.idToken, post_logout_redirect_uri: AFTER_LOGOUT }));
    expect(view(fresh)).toEqual({ status: 302, location: AFTER_LOGOUT, type: undefined, setCookie: undefined, main: undefined });
    expect(await signedIn(first.cookie)).toBe(true);
  });

  it('accepts an expired id_token_hint (the OP need not be concerned with its expiry)', async () => {
    const b = new InjectBrowser(t.app);
    const { idToken, cookie } = await signIn(b);
    // Keep the session alive past the ID token's hour: each prompt=none request extends the idle timeout.
    for (let i = 0; i < 3; i++) {
      clock.advance(25 * 60);
      expect(await signedIn(cookie)).toBe(true);
    }
    expect(decodeJwt(idToken).exp!).toBeLessThan(clock.ms / 1000);
    const res = await b.get(logoutUrl({ id_token_hint: idToken, post_logout_redirect_uri: AFTER_LOGOUT }));
    expect(view(res)).toEqual({ status: 302, location: AFTER_LOGOUT, type: undefined, setCookie: CLEARED, main: undefined });
    expect(await signedIn(cookie)).toBe(false);
  });

  it('with no session and no redirect shows the signed-out page; a stale cookie is cleared', async () => {
    expect(view(await new InjectBrowser(t.app).get(LOGOUT))).toEqual(signedOutPage(undefined));
    const b = new InjectBrowser(t.app);
    b.cookies.set(COOKIE, randomBytes(32).toString('base64url'));
    expect(view(await b.get(logoutUrl({ client_id: web.id, state: 'ignored without a redirect' })))).toEqual(signedOutPage(CLEARED));
    // No session, a registered URI: straight back, nothing to confirm.
    const back = await new InjectBrowser(t.app).get(logoutUrl({ client_id: web.id, post_logout_redirect_uri: AFTER_LOGOUT, state: 'z' }));
    expect(view(back)).toEqual({ status: 302, location: `${AFTER_LOGOUT}?state=z`, type: undefined, setCookie: undefined, main: undefined });
  });

  it('answers under the legacy /auth/realms prefix, and with an HTML page for an unknown tenant', async () => {
    const b = new InjectBrowser(t.app);
    const { idToken, cookie } = await signIn(b);
    const res = await b.get(logoutUrl({ id_token_hint: idToken, post_logout_redirect_uri: AFTER_LOGOUT }, '/auth/realms/default/protocol/openid-connect/logout'));
    expect(view(res)).toEqual({ status: 302, location: AFTER_LOGOUT, type: undefined, setCookie: CLEARED, main: undefined });
    expect(await signedIn(cookie)).toBe(false);
    const unknown = await t.app.inject({ url: '/realms/nope/protocol/openid-connect/logout' });
    expect({ status: unknown.statusCode, type: unknown.headers['content-type'] }).toEqual({ status: 404, type: 'text/html; charset=utf-8' });
    expect(unknown.body).toContain('tenant &quot;nope&quot; does not exist');
  });

  it('allows CORS with credentials for registered origins only, preflight included', async () => {
    const cors = (res: LightMyRequestResponse) => ({
      origin: res.headers['access-control-allow-origin'], credentials: res.headers['access-control-allow-credentials'], methods: res.headers['access-control-allow-methods'],
    });
    const allowed = await t.app.inject({ url: LOGOUT, headers: { origin: APP_ORIGIN } });
    expect(cors(allowed)).toEqual({ origin: APP_ORIGIN, credentials: 'true', methods: undefined });
    expect(allowed.headers.vary).toContain('Origin');
    const refused = await t.app.inject({ url: LOGOUT, headers: { origin: 'https://evil.example' } });
    expect(cors(refused)).toEqual({ origin: undefined, credentials: undefined, methods: undefined });

    const preflight = (origin: string) => t.app.inject({ method: 'OPTIONS', url: LOGOUT, headers: { origin, 'access-control-request-method': 'POST' } });
    const ok = await preflight(APP_ORIGIN);
    expect({ status: ok.statusCode, ...cors(ok) }).toEqual({ status: 204, origin: APP_ORIGIN, credentials: 'true', methods: 'GET, POST' });
    const no = await preflight('https://evil.example');
    expect({ status: no.statusCode, ...cors(no) }).toEqual({ status: 204, origin: undefined, credentials: undefined, methods: undefined });
  });

  it('is listed in discovery as end_session_endpoint', async () => {
    const meta = (await t.app.inject({ url: '/realms/default/.well-known/openid-configuration' })).json();
    expect(meta.end_session_endpoint).toBe(`${ISSUER}/protocol/openid-connect/logout`);
    expect(Object.keys(meta)).toContain('end_session_endpoint');
  });
});
