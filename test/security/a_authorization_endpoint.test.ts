/**
 * SECURITY-CHECKLIST §A — redirect URIs and the authorization endpoint (items 1–13),
 * black-box through app.inject on every backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { createClient, updateClient } from '../../src/manage/clients.js';
import { createTenant } from '../../src/manage/tenants.js';
import { createUser } from '../../src/manage/users.js';
import type { Client } from '../../src/storage/types.js';
import { BACKENDS, PUBLIC_URL, startTestApp, type TestApp } from '../helpers.js';
import {
  AUTH, AUTHENTICATE, authUrl, CODE, CONSENT, corsHeaders, drive, errorPage, formOf, InjectBrowser, isConsentPage, isLoginPage, ISSUER, mainOf,
  PASSWORD, pageView, parseLocation, pathOf, pkce, redirectView, SESSION_STATE, tokenRequest, USERINFO, type TestClient,
} from './support.js';

const REG = 'https://app.example/cb';
const REG_Q = 'https://app.example/q?a=1&b=2';
const NOT_REGISTERED = 'redirect_uri is not registered for this client';
const IMPLICIT_DISABLED = 'Client is not allowed to initiate browser login with given response_type. Implicit flow is disabled for the client.';
const STANDARD_DISABLED = 'Client is not allowed to initiate browser login with given response_type. Standard flow is disabled for the client.';

describe.each(BACKENDS)('SECURITY-CHECKLIST A: redirect URIs and the authorization endpoint on %s', (backend) => {
  let t: TestApp;
  /** Confidential, code flow, two registered URIs (one with a query), CORS origin registered. */
  let web: TestClient;
  /** Confidential, one registered URI. */
  let single: TestClient;
  /** Public native app: loopback and private-use redirect URIs. */
  let native: TestClient;
  /** Confidential, implicit only. */
  let implicit: TestClient;
  /** Confidential, implicit with response_mode=web_page allowed. */
  let webPage: TestClient;
  /** Confidential, consent skipped (first party). */
  let firstParty: TestClient;

  beforeAll(async () => {
    t = await startTestApp(backend);
    const mk = async (input: Parameters<typeof createClient>[2]) => {
      const c = await createClient(t.deps, 'default', input, 86400);
      return { id: c.client.clientId, secret: c.secret };
    };
    web = await mk({ name: 'Avatar Studio', redirectUris: [REG, REG_Q], scopes: ['read:avatars'], corsOrigins: ['https://app.example'] });
    single = await mk({ name: 'Single', redirectUris: [REG], scopes: ['read:avatars'] });
    native = await mk({
      name: 'Native App', public: true, scopes: ['read:avatars'],
      redirectUris: ['http://127.0.0.1/cb', 'http://[::1]/cb', 'http://localhost/cb?x=1', 'http://127.0.0.1:8080/fixed', 'com.example.app:/cb'],
    });
    implicit = await mk({ name: 'Implicit App', grantTypes: ['implicit'], redirectUris: [REG], scopes: ['read:avatars'] });
    webPage = await mk({ name: 'Game Mod', grantTypes: ['implicit'], redirectUris: [REG], scopes: ['read:avatars'], webPage: true });
    firstParty = await mk({ name: 'First Party', redirectUris: [REG], scopes: ['read:avatars'], consent: 'skip' });
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD, email: 'alice@example.test', name: 'Alice' });
    await createTenant(t.deps, { id: 'acme' });
  });
  afterAll(() => t?.close());

  const codeUrl = (extra: Record<string, string | undefined> = {}, path = AUTH) =>
    authUrl({ response_type: 'code', client_id: web.id, redirect_uri: REG, scope: 'read:avatars', state: 'st-1', ...extra }, path);

  /** A browser already signed in as alice (consent for `web` given). */
  async function signedInBrowser(): Promise<InjectBrowser> {
    const b = new InjectBrowser(t.app);
    const { res } = await drive(b, codeUrl());
    expect(res.statusCode).toBe(303);
    return b;
  }

  describe('1', () => {
    const variants = [
      // trailing slash, extra / reordered / changed / missing query
      'https://app.example/cb/', 'https://app.example/cb?', 'https://app.example/cb?x=1', 'https://app.example/cb?a=1&b=2',
      'https://app.example/q?b=2&a=1', 'https://app.example/q?a=1&b=2&c=3', 'https://app.example/q?a=1&b=3', 'https://app.example/q?a=1',
      'https://app.example/q', 'https://app.example/q?a=1&b=2&', 'https://app.example/q?a=1&amp;b=2', 'https://app.example/q?a=1%26b=2',
      // case in scheme, host, path
      'HTTPS://app.example/cb', 'Https://app.example/cb', 'https://APP.EXAMPLE/cb', 'https://App.example/cb', 'https://app.example/CB', 'https://app.example/Cb',
      // dot segments, encodings, path parameters
      'https://app.example/cb/%2E%2E/cb', 'https://app.example/%2E%2E/cb', 'https://app.example/cb/%2e%2e/', 'https://app.example/x/../cb',
      'https://app.example/cb/..;/evil', 'https://app.example/x/..;/cb', 'https://app.example/cb;x=1', 'https://app.example/c%62', 'https://app.example/cb%2F',
      'https://app.example/cb%00', 'https://app.example/cb%20', 'https://app.example//cb', 'https://app.example/./cb',
      // host and port tricks
      'https://app.example:443/cb', 'https://app.example./cb', 'https://app.example.evil.example/cb', 'https://evil.example/cb', 'https://app.example/cbx',
      'https://app.example\\@evil.example/cb', 'https:\\\\app.example\\cb', 'https://app.example%2F@evil.example/cb',
      // userinfo, with one and several @
      'https://user@app.example/cb', 'https://app.example@evil.example/cb', 'https://app.example@evil.example@app.example/cb',
      'https://a@b@app.example/cb', 'https://evil.example@app.example/cb', 'https://app.example:x@evil.example/cb',
      // fragment, scheme downgrade
      'https://app.example/cb#', 'https://app.example/cb#x', 'http://app.example/cb',
      // dangerous schemes in any case
      'javascript:alert(1)', 'JavaScript:alert(document.domain)//https://app.example/cb', 'JAVASCRIPT://app.example/cb%0aalert(1)', ' javascript:alert(1)',
      'data:text/html,<script>alert(1)</script>', 'DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==', 'Data:,https://app.example/cb',
      'file:///etc/passwd', 'FILE://app.example/cb', 'File:///C:/Windows/win.ini', 'vbscript:msgbox(1)',
      // relative URIs
      '/cb', '//app.example/cb', '//evil.example/cb', 'cb', './cb', '../cb', 'app.example/cb', '?x=1', '#x',
    ];

    it('1. a redirect_uri that is not byte-for-byte equal to a registered one gets an error page (4xx, no Location), for every variant the checklist lists', async () => {
      const results = [];
      for (const v of variants) {
        const get = await t.app.inject({ url: codeUrl({ redirect_uri: v }) });
        const post = await t.app.inject({
          method: 'POST', url: AUTH, headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ response_type: 'code', client_id: web.id, redirect_uri: v, scope: 'read:avatars', state: 'st-1' }).toString(),
        });
        results.push({ v, get: pageView(get), post: pageView(post) });
      }
      expect(results).toEqual(variants.map((v) => ({ v, get: errorPage(NOT_REGISTERED), post: errorPage(NOT_REGISTERED) })));
    });

    it('1. a redirect_uri that is not byte-for-byte equal to a registered one gets an error page (also with prompt=none, a live session and on the aliases)', async () => {
      const b = await signedInBrowser();
      const results = [];
      for (const path of [AUTH, '/auth/realms/default/protocol/openid-connect/auth', '/authorize', '/oauth2/authorize']) {
        for (const v of ['https://app.example/cb/', 'https://evil.example/cb', 'javascript:alert(1)']) {
          const res = await b.get(codeUrl({ redirect_uri: v, prompt: 'none' }, path));
          results.push({ path, v, page: pageView(res) });
        }
      }
      expect(results).toEqual(results.map(({ path, v }) => ({ path, v, page: errorPage(NOT_REGISTERED) })));
    });

    it('1. a redirect_uri byte-for-byte equal to a registered one is accepted (control)', async () => {
      for (const v of [REG, REG_Q]) {
        const res = await t.app.inject({ url: codeUrl({ redirect_uri: v }) });
        expect({ v, login: isLoginPage(res) }).toEqual({ v, login: true });
      }
    });
  });

  describe('2', () => {
    const nativeUrl = (redirect: string, extra: Record<string, string> = {}) =>
      authUrl({ response_type: 'code', client_id: native.id, redirect_uri: redirect, scope: 'read:avatars', state: 'st-2', code_challenge: pkce().challenge, code_challenge_method: 'S256', ...extra });

    it('2. loopback redirect URIs (127.0.0.1, [::1], localhost) match on any port; path and query must still match exactly', async () => {
      const accepted = [
        'http://127.0.0.1/cb', 'http://127.0.0.1:1/cb', 'http://127.0.0.1:51234/cb', 'http://127.0.0.1:65535/cb',
        'http://[::1]/cb', 'http://[::1]:8765/cb', 'http://localhost/cb?x=1', 'http://localhost:3000/cb?x=1',
        // a loopback URI registered with a port matches on any other port too (RFC 8252 §7.3)
        'http://127.0.0.1:8080/fixed', 'http://127.0.0.1:9999/fixed', 'http://127.0.0.1/fixed',
      ];
      const refused = [
        'http://127.0.0.1:51234/cb/', 'http://127.0.0.1:51234/CB', 'http://127.0.0.1:51234/cb?x=1', 'http://127.0.0.1:51234/', 'http://127.0.0.1:51234/cb/../cb',
        'http://[::1]:8765/cb?', 'http://localhost:3000/cb', 'http://localhost:3000/cb?x=2', 'http://localhost:3000/cb?x=1&y=2', 'http://localhost/cb',
        'http://127.0.0.2:51234/cb', 'http://127.0.0.1.evil.example/cb', 'http://127.0.0.1.evil.example:51234/cb', 'http://localhost.evil.example/cb?x=1',
        'http://localhost:3000@evil.example/cb?x=1', 'http://127.0.0.1:51234@evil.example/cb', 'http://evil.example@127.0.0.1:51234/cb',
        'http://127.0.0.1:/cb', 'http://127.0.0.1:abc/cb', 'https://127.0.0.1:51234/cb', 'https://127.0.0.1/cb', 'HTTP://127.0.0.1:51234/cb',
        'http://LOCALHOST:3000/cb?x=1', 'http://[0:0:0:0:0:0:0:1]:8765/cb', 'http://[::1]:8765/cb/', 'http://0.0.0.0:51234/cb',
        // a loopback host registered for one path is not a wildcard for another host's path
        'http://localhost:51234/cb', 'http://127.0.0.1:51234/cb?x=1',
      ];
      const results = [];
      for (const v of [...accepted, ...refused]) {
        const res = await t.app.inject({ url: nativeUrl(v) });
        results.push({ v, accepted: isLoginPage(res), status: res.statusCode, location: res.headers.location });
      }
      expect(results).toEqual([
        ...accepted.map((v) => ({ v, accepted: true, status: 200, location: undefined })),
        ...refused.map((v) => ({ v, accepted: false, status: 400, location: undefined })),
      ]);
      for (const v of refused) expect(mainOf((await t.app.inject({ url: nativeUrl(v) })).body)).toContain(NOT_REGISTERED);
    });

    it('2. loopback redirect URIs match on any port (the code reaches the ephemeral port, and the token request repeats it)', async () => {
      const b = new InjectBrowser(t.app);
      const { verifier, challenge } = pkce();
      const redirect = 'http://127.0.0.1:51234/cb';
      const { res } = await drive(b, nativeUrl(redirect, { code_challenge: challenge }));
      expect(redirectView(res)).toEqual({ status: 303, target: redirect, query: { code: CODE, state: 'st-2', iss: ISSUER, session_state: SESSION_STATE }, fragment: {} });
      const code = parseLocation(res.headers.location).query.code;
      const token = await tokenRequest(t.app, native, { grant_type: 'authorization_code', code, redirect_uri: redirect, code_verifier: verifier });
      expect(token.statusCode).toBe(200);
    });

    it('2. native apps may register private-use schemes (com.example.app:/cb), matched exactly', async () => {
      const b = new InjectBrowser(t.app);
      const { verifier, challenge } = pkce();
      const { res } = await drive(b, nativeUrl('com.example.app:/cb', { code_challenge: challenge }));
      expect(redirectView(res)).toEqual({ status: 303, target: 'com.example.app:/cb', query: { code: CODE, state: 'st-2', iss: ISSUER, session_state: SESSION_STATE }, fragment: {} });
      const code = parseLocation(res.headers.location).query.code;
      const token = await tokenRequest(t.app, native, { grant_type: 'authorization_code', code, redirect_uri: 'com.example.app:/cb', code_verifier: verifier });
      expect(token.statusCode).toBe(200);

      const refused = ['com.example.app:/cb/', 'com.example.app://cb', 'com.example.app:cb', 'COM.EXAMPLE.APP:/cb', 'Com.example.app:/cb', 'com.example.app:/CB',
        'com.example.evil:/cb', 'com.example.app:/cb?x=1', 'com.example.app:/cb#x', 'com.example.app:/cb/../cb', 'com.example.app:%2Fcb'];
      const results = [];
      for (const v of refused) results.push({ v, page: pageView(await t.app.inject({ url: nativeUrl(v) })) });
      expect(results).toEqual(refused.map((v) => ({ v, page: errorPage(NOT_REGISTERED) })));
    });

    it('2. loopback redirect URIs and private-use schemes (RFC 8252 §7.1) may be registered', async () => {
      const ok = ['http://127.0.0.1/cb', 'http://127.0.0.1:8080/cb', 'http://[::1]/cb', 'http://[::1]:9000/cb', 'http://localhost/cb', 'http://localhost:3000/cb?x=1', 'com.example.app:/cb', 'com.example.app:/oauth2redirect'];
      const c = await createClient(t.deps, 'default', { name: 'Loopback', public: true, redirectUris: ok }, 86400);
      expect(c.client.redirectUris).toEqual(ok);
    });
  });

  describe('3', () => {
    it('3. http:// redirect URIs are refused at registration (create and update) unless loopback', async () => {
      const refused = ['http://app.example/cb', 'http://10.0.0.1/cb', 'http://192.168.1.1/cb', 'http://localhost.evil.example/cb', 'http://127.0.0.1.nip.io/cb', 'HTTP://app.example/cb'];
      const results = [];
      for (const uri of refused) {
        const created = await createClient(t.deps, 'default', { name: 'Bad', redirectUris: [uri] }, 86400).then(() => 'accepted', (e) => e);
        const updated = await updateClient(t.deps, 'default', single.id, { redirectUris: [REG, uri] }, 86400).then(() => 'accepted', (e) => e);
        results.push({ uri, created: created instanceof InputError ? created.message : created, updated: updated instanceof InputError ? updated.message : updated });
      }
      expect(results).toEqual(refused.map((uri) => {
        const message = `redirect URI ${uri} must use https (http is allowed only for loopback hosts, RFC 8252 §7.3)`;
        return { uri, created: message, updated: message };
      }));
      // the client kept its redirect URI
      expect((await t.storage.clients.get('default', single.id))!.redirectUris).toEqual([REG]);
    });

    it('3. http:// redirect URIs are refused at authorization unless loopback (a registered https URI presented as http)', async () => {
      for (const v of ['http://app.example/cb', 'http://app.example:443/cb', 'http://app.example/q?a=1&b=2']) {
        expect({ v, page: pageView(await t.app.inject({ url: codeUrl({ redirect_uri: v }) })) }).toEqual({ v, page: errorPage(NOT_REGISTERED) });
      }
    });

    it('3. http:// redirect URIs are refused at authorization unless loopback (a client stored with one before the registration check)', async () => {
      // A client row that bypassed registration (an import, an older version, a hand edit):
      // the authorization endpoint must still not redirect to plain http off the loopback.
      const now = Math.floor(Date.now() / 1000);
      const legacy: Client = {
        tenantId: 'default', clientId: 'legacy-http-client', name: 'Legacy', secretDigest: null, tokenEndpointAuthMethod: 'none',
        grantTypes: ['authorization_code'], redirectUris: ['http://legacy.example/cb'], postLogoutRedirectUris: [], corsOrigins: [], scopes: [],
        accessTokenFormat: 'jwt', accessTokenTtl: null, consent: 'required', webPage: false, sessionRefreshTokens: false, refreshGraceSeconds: 0, idTokenAlg: null, jwks: null, jwksUri: null, notBefore: 0,
        backchannelLogoutUri: null, backchannelLogoutSessionRequired: true, createdAt: now, updatedAt: now,
        requirePar: false, dpopBoundAccessTokens: false, tokenExchangeSubjectClients: [], tokenExchangeAudiences: [], assertionAudienceTokenEndpoint: false,
      };
      await t.storage.clients.create(legacy);
      const res = await t.app.inject({
        url: authUrl({ response_type: 'code', client_id: legacy.clientId, redirect_uri: 'http://legacy.example/cb', state: 's', code_challenge: pkce().challenge, code_challenge_method: 'S256' }),
      });
      expect({ status: res.statusCode, location: res.headers.location, login: isLoginPage(res) }).toEqual({ status: 400, location: undefined, login: false });
    });
  });

  describe('4', () => {
    it('4. a redirect URI with a fragment is refused at registration (create and update)', async () => {
      const refused = ['https://app.example/cb#frag', 'https://app.example/cb#', 'com.example.app:/cb#x', 'http://127.0.0.1/cb#x'];
      const results = [];
      for (const uri of refused) {
        const created = await createClient(t.deps, 'default', { name: 'Bad', redirectUris: [uri] }, 86400).then(() => 'accepted', (e) => e);
        const updated = await updateClient(t.deps, 'default', single.id, { redirectUris: [uri] }, 86400).then(() => 'accepted', (e) => e);
        results.push({ uri, created: created instanceof InputError ? created.message : created, updated: updated instanceof InputError ? updated.message : updated });
      }
      expect(results).toEqual(refused.map((uri) => {
        const message = `redirect URI ${uri} must not contain a fragment (RFC 6749 §3.1.2)`;
        return { uri, created: message, updated: message };
      }));
      expect((await t.storage.clients.get('default', single.id))!.redirectUris).toEqual([REG]);
    });
  });

  describe('5', () => {
    it('5. no redirect_uri and several registered → error page', async () => {
      const res = await t.app.inject({ url: codeUrl({ redirect_uri: undefined }) });
      expect(pageView(res)).toEqual(errorPage('redirect_uri is required: the client has several (or no) registered redirect URIs'));
      const native2 = await t.app.inject({ url: authUrl({ response_type: 'code', client_id: native.id, code_challenge: pkce().challenge, code_challenge_method: 'S256' }) });
      expect(pageView(native2)).toEqual(errorPage('redirect_uri is required: the client has several (or no) registered redirect URIs'));
    });

    it('5. no redirect_uri and one registered → it is used (and the token request needs none)', async () => {
      const b = new InjectBrowser(t.app);
      const { res } = await drive(b, authUrl({ response_type: 'code', client_id: single.id, scope: 'read:avatars', state: 'st-5' }));
      expect(redirectView(res)).toEqual({ status: 303, target: REG, query: { code: CODE, state: 'st-5', iss: ISSUER, session_state: SESSION_STATE }, fragment: {} });
      const token = await tokenRequest(t.app, single, { grant_type: 'authorization_code', code: parseLocation(res.headers.location).query.code });
      expect(token.statusCode).toBe(200);
      // an error after validation goes to that one URI too
      const err = await t.app.inject({ url: authUrl({ response_type: 'code', client_id: single.id, scope: 'admin', state: 'st-5' }) });
      expect(redirectView(err)).toEqual({
        status: 302, target: REG, query: { error: 'invalid_scope', error_description: 'the client may not request scope admin', state: 'st-5', iss: ISSUER }, fragment: {},
      });
    });

    it('5. no redirect_uri in an OpenID request (scope has openid) → error page even with one registered', async () => {
      for (const scope of ['openid', 'openid read:avatars', 'read:avatars openid profile']) {
        const res = await t.app.inject({ url: authUrl({ response_type: 'code', client_id: single.id, scope, state: 'st-5', nonce: 'n' }) });
        expect({ scope, page: pageView(res) }).toEqual({ scope, page: errorPage('redirect_uri is required for OpenID Connect requests') });
      }
    });
  });

  describe('6', () => {
    it('6. unknown client_id → error page, never a redirect', async () => {
      const cases: [string, Record<string, string | undefined>, string, number][] = [
        ['unknown client', { client_id: 'no-such-client', redirect_uri: 'https://evil.example/cb' }, 'the client is not known', 400],
        ['unknown client, registered URI of another client', { client_id: 'no-such-client' }, 'the client is not known', 400],
        ['missing client_id', { client_id: undefined, redirect_uri: 'https://evil.example/cb' }, 'client_id is missing', 400],
        ['empty client_id', { client_id: '', redirect_uri: 'https://evil.example/cb' }, 'client_id is missing', 400],
        ['client of another tenant', { client_id: 'ACME-CLIENT' }, 'the client is not known', 400],
      ];
      const acme = await createClient(t.deps, 'acme', { name: 'Acme', redirectUris: [REG] }, 86400);
      const results = [];
      for (const [name, extra, , ] of cases) {
        const params = { ...extra, client_id: extra.client_id === 'ACME-CLIENT' ? acme.client.clientId : extra.client_id };
        results.push({ name, page: pageView(await t.app.inject({ url: codeUrl(params) })) });
      }
      expect(results).toEqual(cases.map(([name, , message, status]) => ({ name, page: errorPage(message, status) })));
    });

    it('6. bad redirect_uri (or a repeated client_id / redirect_uri) → error page, never a redirect', async () => {
      const cases: [string, string, string][] = [
        ['unregistered', codeUrl({ redirect_uri: 'https://evil.example/cb' }), NOT_REGISTERED],
        ['repeated redirect_uri', `${codeUrl()}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`, 'parameter redirect_uri must not be repeated'],
        ['repeated client_id', `${codeUrl()}&client_id=${web.id}`, 'parameter client_id must not be repeated'],
      ];
      const results = [];
      for (const [name, url] of cases) results.push({ name, page: pageView(await t.app.inject({ url })) });
      expect(results).toEqual(cases.map(([name, , message]) => ({ name, page: errorPage(message) })));
    });

    it('6. an unknown tenant on the authorization endpoint → an HTML error page, never a redirect', async () => {
      const res = await t.app.inject({ url: codeUrl({}, '/realms/nope/protocol/openid-connect/auth') });
      expect(pageView(res)).toEqual(errorPage('tenant "nope" does not exist', 404));
    });
  });

  describe('7', () => {
    const errorCases: [string, Record<string, string | undefined>, string, string, string][] = [
      ['unsupported response_type', { response_type: 'foo' }, REG, 'unsupported_response_type', 'response_type foo is not supported'],
      ['scope the client may not ask for', { scope: 'admin' }, REG, 'invalid_scope', 'the client may not request scope admin'],
      ['unknown prompt', { prompt: 'bogus' }, REG, 'invalid_request', 'prompt bogus is not supported'],
      ['request object', { request: 'eyJhbGciOiJub25lIn0.e30.' }, REG, 'request_not_supported', 'request objects are not supported'],
      ['registered URI with its own query', { redirect_uri: REG_Q, scope: 'admin' }, REG_Q, 'invalid_scope', 'the client may not request scope admin'],
      ['repeated parameter after validation', { scope: undefined }, REG, 'invalid_request', 'parameter scope must not be repeated'],
    ];

    it('7. errors after validation redirect only to the validated URI, echo state and carry iss (RFC 9207)', async () => {
      const results = [];
      for (const [name, extra] of errorCases) {
        let url = codeUrl({ state: 'S t&a=te#1', ...extra });
        if (name === 'repeated parameter after validation') url += '&scope=a&scope=b';
        results.push({ name, view: redirectView(await t.app.inject({ url })) });
      }
      expect(results).toEqual(errorCases.map(([name, , target, error, description]) => {
        const own = target === REG_Q ? { a: '1', b: '2' } : {};
        return { name, view: { status: 302, target: target.split('?')[0], query: { ...own, error, error_description: description, state: 'S t&a=te#1', iss: ISSUER }, fragment: {} } };
      }));
    });

    it('7. errors after validation without state carry no state; under an alias path iss is still the canonical issuer', async () => {
      for (const path of [AUTH, '/authorize', '/oauth2/authorize', '/auth/realms/default/protocol/openid-connect/auth']) {
        const res = await t.app.inject({ url: codeUrl({ state: undefined, scope: 'admin' }, path) });
        expect({ path, view: redirectView(res) }).toEqual({
          path, view: { status: 302, target: REG, query: { error: 'invalid_scope', error_description: 'the client may not request scope admin', iss: ISSUER }, fragment: {} },
        });
      }
    });

    it('7. errors after validation redirect only to the validated URI (in the requested response mode: fragment, form_post)', async () => {
      const frag = await t.app.inject({ url: codeUrl({ scope: 'admin', response_mode: 'fragment' }) });
      expect(redirectView(frag)).toEqual({
        status: 302, target: REG, query: {}, fragment: { error: 'invalid_scope', error_description: 'the client may not request scope admin', state: 'st-1', iss: ISSUER },
      });
      const post = await t.app.inject({ url: codeUrl({ scope: 'admin', response_mode: 'form_post' }) });
      expect(post.statusCode).toBe(200);
      expect(post.headers.location).toBeUndefined();
      expect(formOf(post.body)).toEqual({ action: REG, fields: { error: 'invalid_scope', error_description: 'the client may not request scope admin', state: 'st-1', iss: ISSUER } });
    });

    it('7. successful responses carry iss and echo state; a denial (access_denied) too', async () => {
      const b = new InjectBrowser(t.app);
      const { res } = await drive(b, codeUrl({ state: 'S t&a=te#1' }));
      expect(redirectView(res)).toEqual({ status: 303, target: REG, query: { code: CODE, state: 'S t&a=te#1', iss: ISSUER, session_state: SESSION_STATE }, fragment: {} });
      const again = await b.get(codeUrl({ state: undefined, redirect_uri: REG_Q }, '/authorize'));
      expect(redirectView(again)).toEqual({ status: 302, target: 'https://app.example/q', query: { a: '1', b: '2', code: CODE, iss: ISSUER, session_state: SESSION_STATE }, fragment: {} });

      const other = await createClient(t.deps, 'default', { name: 'Deny Me', redirectUris: [REG], scopes: ['read:avatars'] }, 86400);
      const denied = await drive(b, codeUrl({ client_id: other.client.clientId, state: 'st-7' }), { decision: 'deny' });
      expect(redirectView(denied.res)).toEqual({ status: 303, target: REG, query: { error: 'access_denied', error_description: 'the user denied the request', state: 'st-7', iss: ISSUER }, fragment: {} });
    });
  });

  describe('8', () => {
    it('8. prompt=none without a session → login_required to the registered URI', async () => {
      const res = await t.app.inject({ url: codeUrl({ prompt: 'none' }) });
      expect(redirectView(res)).toEqual({
        status: 302, target: REG, query: { error: 'login_required', error_description: 'the user is not signed in', state: 'st-1', iss: ISSUER }, fragment: {},
      });
      // one registered URI, none given: it goes there
      const single1 = await t.app.inject({ url: authUrl({ response_type: 'code', client_id: single.id, prompt: 'none', state: 'st-8' }) });
      expect(redirectView(single1)).toEqual({
        status: 302, target: REG, query: { error: 'login_required', error_description: 'the user is not signed in', state: 'st-8', iss: ISSUER }, fragment: {},
      });
      // an implicit request: in the fragment
      const imp = await t.app.inject({ url: authUrl({ response_type: 'token', client_id: implicit.id, redirect_uri: REG, prompt: 'none', state: 'st-8' }) });
      expect(redirectView(imp)).toEqual({
        status: 302, target: REG, query: {}, fragment: { error: 'login_required', error_description: 'the user is not signed in', state: 'st-8', iss: ISSUER },
      });
    });

    it('8. prompt=none without a session → login_required to the registered URI (a session cookie that names no live session)', async () => {
      const b = new InjectBrowser(t.app);
      b.cookies.set('tessera_session_default', '000000000000AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA');
      const res = await b.get(codeUrl({ prompt: 'none' }));
      expect(redirectView(res)).toEqual({
        status: 302, target: REG, query: { error: 'login_required', error_description: 'the user is not signed in', state: 'st-1', iss: ISSUER }, fragment: {},
      });
    });
  });

  describe('9', () => {
    it('9. unknown parameters are ignored', async () => {
      const b = new InjectBrowser(t.app);
      const extra = { utm_source: 'newsletter', foo: 'bar', claims_locales: 'de', acr_values: 'urn:x', 'x-custom': '<script>', display: 'page', ui_locales: 'fr' };
      // an unknown parameter may even repeat: only the parameters the endpoint reads must be single
      const { res, sawLogin } = await drive(b, `${codeUrl(extra)}&foo=again&utm_source=twice`);
      expect(sawLogin).toBe(true);
      expect(redirectView(res)).toEqual({ status: 303, target: REG, query: { code: CODE, state: 'st-1', iss: ISSUER, session_state: SESSION_STATE }, fragment: {} });
    });

    it('9. a missing response_type → invalid_request (redirected once the client and redirect_uri are valid)', async () => {
      for (const rt of [undefined, '']) {
        const res = await t.app.inject({ url: codeUrl({ response_type: rt }) });
        expect({ rt, view: redirectView(res) }).toEqual({
          rt, view: { status: 302, target: REG, query: { error: 'invalid_request', error_description: 'response_type is missing', state: 'st-1', iss: ISSUER }, fragment: {} },
        });
      }
    });
  });

  describe('10', () => {
    it('10. no CORS headers on the authorization endpoint (any Origin, even one registered on a client)', async () => {
      const b = await signedInBrowser();
      const results = [];
      for (const origin of ['https://evil.example', 'https://app.example', 'null']) {
        const headers = { origin };
        const responses = {
          loginPage: await t.app.inject({ url: codeUrl(), headers }),
          errorPage: await t.app.inject({ url: codeUrl({ redirect_uri: 'https://evil.example/' }), headers }),
          errorRedirect: await t.app.inject({ url: codeUrl({ scope: 'admin' }), headers }),
          success: await t.app.inject({ url: codeUrl(), headers: { ...headers, cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } }),
          post: await t.app.inject({ method: 'POST', url: AUTH, headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, payload: codeUrl().split('?')[1] }),
          preflight: await t.app.inject({ method: 'OPTIONS', url: AUTH, headers: { ...headers, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } }),
          aliasPreflight: await t.app.inject({ method: 'OPTIONS', url: '/authorize', headers: { ...headers, 'access-control-request-method': 'GET' } }),
        };
        for (const [name, res] of Object.entries(responses)) results.push({ origin, name, cors: corsHeaders(res), ok: name === 'preflight' || name === 'aliasPreflight' ? res.statusCode !== 204 && res.statusCode !== 200 : true });
        expect(responses.success.statusCode).toBe(302);
      }
      expect(results).toEqual(results.map(({ origin, name }) => ({ origin, name, cors: [], ok: true })));
    });
  });

  describe('11', () => {
    const CSP = /^default-src 'none'; style-src 'nonce-([A-Za-z0-9+/]{22}==)'; script-src 'nonce-\1'; img-src 'self' data:; form-action 'self'( https:\/\/app\.example)?; frame-ancestors 'none'; base-uri 'none'$/;

    /** Every absolute URL or protocol-relative reference in a page must be Tessera's own (or the client's redirect, for form-action). */
    const foreignUrls = (html: string) => [...html.matchAll(/(?:https?:)?\/\/[^\s"'<>)]+/g)].map((m) => m[0]).filter((u) => !u.startsWith(`${PUBLIC_URL}/`));

    const pageHeaders = (res: { headers: Record<string, unknown>; body: string }) => {
      const csp = String(res.headers['content-security-policy']);
      const nonce = CSP.exec(csp)?.[1];
      return {
        csp: CSP.test(csp) ? 'ok' : csp,
        xfo: res.headers['x-frame-options'],
        referrer: res.headers['referrer-policy'],
        nosniff: res.headers['x-content-type-options'],
        cache: res.headers['cache-control'],
        // the inline style (and script) carry this response's nonce
        nonced: nonce !== undefined && res.body.includes(`<style nonce="${nonce}">`),
        foreign: foreignUrls(res.body),
        externalRefs: [...res.body.matchAll(/<(?:script|link|img|iframe|object|embed)\b[^>]*(?:src|href)=/gi)].map((m) => m[0]),
      };
    };
    const SAFE = { csp: 'ok', xfo: 'DENY', referrer: 'no-referrer', nosniff: 'nosniff', cache: 'no-store', nonced: true, foreign: [], externalRefs: [] };

    it("11. login, consent and error pages send CSP frame-ancestors 'none', X-Frame-Options, Referrer-Policy no-referrer and load nothing from third parties", async () => {
      const b = new InjectBrowser(t.app);
      const login = await b.get(codeUrl({ prompt: 'consent' }));
      expect(isLoginPage(login)).toBe(true);
      const lf = formOf(login.body);
      const badLogin = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: 'wrong password!' });
      expect(badLogin.statusCode).toBe(401);
      const consent = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: PASSWORD });
      expect(isConsentPage(consent)).toBe(true);
      const error = await t.app.inject({ url: codeUrl({ redirect_uri: 'https://evil.example/' }) });
      const pages = { login, badLogin, consent, error };
      const results = Object.entries(pages).map(([name, res]) => ({ name, ...pageHeaders(res) }));
      expect(results).toEqual(Object.keys(pages).map((name) => ({ name, ...SAFE })));
      expect(String(login.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
      // the forms post to Tessera itself
      expect(formOf(login.body).action).toBe(`${ISSUER}/login-actions/authenticate`);
      expect(formOf(consent.body).action).toBe(`${ISSUER}/login-actions/consent`);
    });

    it('11. the login form carries CSRF protection: a wrong or missing csrf token, a missing browser-binding cookie or another browser is refused', async () => {
      const a = new InjectBrowser(t.app);
      const login = await a.get(codeUrl({ prompt: 'consent' }));
      const { action, fields } = formOf(login.body);
      expect(Object.keys(fields).sort()).toEqual(['csrf', 'interaction']);
      expect(fields.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const binding = a.cookies.get('tessera_browser_default');
      expect(binding).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const url = pathOf(action);
      const creds = { username: 'alice', password: PASSWORD };
      const CSRF = 'the form could not be verified (CSRF check failed); return to the application and start again';
      const INCOMPLETE = 'the form is incomplete; return to the application and start again';

      const noCookie = new InjectBrowser(t.app);
      const other = new InjectBrowser(t.app);
      await other.get(codeUrl()); // has a binding cookie of its own
      const forged = new InjectBrowser(t.app);
      forged.cookies.set('tessera_browser_default', 'A'.repeat(43));
      const attempts = {
        wrongCsrf: await a.post(url, { ...fields, csrf: `${fields.csrf.slice(0, -1)}${fields.csrf.endsWith('A') ? 'B' : 'A'}` }),
        emptyCsrf: await a.post(url, { ...fields, csrf: '', ...creds }),
        missingCsrf: await a.post(url, { interaction: fields.interaction, ...creds }),
        noBindingCookie: await noCookie.post(url, { ...fields, ...creds }),
        otherBrowser: await other.post(url, { ...fields, ...creds }),
        forgedBindingCookie: await forged.post(url, { ...fields, ...creds }),
      };
      const results = Object.entries(attempts).map(([name, res]) => ({ name, page: pageView(res), session: String(res.headers['set-cookie'] ?? '').includes('tessera_session_') }));
      expect(results).toEqual([
        { name: 'wrongCsrf', page: errorPage(CSRF), session: false },
        { name: 'emptyCsrf', page: errorPage(INCOMPLETE), session: false },
        { name: 'missingCsrf', page: errorPage(INCOMPLETE), session: false },
        { name: 'noBindingCookie', page: errorPage(CSRF), session: false },
        { name: 'otherBrowser', page: errorPage(CSRF), session: false },
        { name: 'forgedBindingCookie', page: errorPage(CSRF), session: false },
      ]);
      // none of those consumed the interaction: the real browser goes on
      const consent = await a.post(url, { ...fields, ...creds });
      expect(isConsentPage(consent)).toBe(true);
    });

    it('11. the consent form carries CSRF protection: a wrong csrf token, another browser or a replay is refused', async () => {
      const a = new InjectBrowser(t.app);
      const login = await a.get(codeUrl({ prompt: 'consent' }));
      const lf = formOf(login.body);
      const consent = await a.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: PASSWORD });
      expect(isConsentPage(consent)).toBe(true);
      const { action, fields } = formOf(consent.body);
      expect(pathOf(action)).toBe(CONSENT);
      const CSRF = 'the form could not be verified (CSRF check failed); return to the application and start again';

      // another browser with its own session and binding cookie, e.g. the attacker's
      const attacker = await signedInBrowser();
      const results = {
        wrongCsrf: pageView(await a.post(CONSENT, { ...fields, csrf: 'x'.repeat(43), decision: 'allow' })),
        otherBrowser: pageView(await attacker.post(CONSENT, { ...fields, decision: 'allow' })),
        noCookies: pageView(await new InjectBrowser(t.app).post(CONSENT, { ...fields, decision: 'allow' })),
      };
      expect(results).toEqual({ wrongCsrf: errorPage(CSRF), otherBrowser: errorPage(CSRF), noCookies: errorPage(CSRF) });
      const done = await a.post(CONSENT, { ...fields, decision: 'allow' });
      expect(done.statusCode).toBe(303);
      const replay = await a.post(CONSENT, { ...fields, decision: 'allow' });
      expect(pageView(replay)).toEqual(errorPage('this sign-in request has expired or was already completed; return to the application and start again'));
      // and the login form of a finished interaction cannot be replayed either
      const relogin = await a.post(AUTHENTICATE, { ...lf.fields, username: 'alice', password: PASSWORD });
      expect(pageView(relogin)).toEqual(errorPage('this sign-in request has expired or was already completed; return to the application and start again'));
    });

    it('11. their forms carry CSRF protection (the session and browser-binding cookies are HttpOnly and SameSite)', async () => {
      const b = new InjectBrowser(t.app);
      const login = await t.app.inject({ url: codeUrl() });
      const bindingCookie = String(login.headers['set-cookie']);
      expect(bindingCookie).toMatch(/^tessera_browser_default=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/);
      await b.get(codeUrl());
      const lf = formOf((await b.get(codeUrl())).body);
      const res = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: PASSWORD });
      const cookies = [res.headers['set-cookie']].flat().map(String);
      expect(cookies.filter((c) => c.startsWith('tessera_session_default='))).toEqual([
        expect.stringMatching(/^tessera_session_default=[0-9a-f]{12}[A-Za-z0-9_-]{43}; Max-Age=36000; Path=\/; HttpOnly; SameSite=Lax$/),
      ]);
    });
  });

  describe('12', () => {
    it('12. the redirect after a POSTed login or consent is 303 (never 307)', async () => {
      // consent POST, allow and deny
      const b = new InjectBrowser(t.app);
      const allow = await drive(b, codeUrl({ state: 'st-12', prompt: 'consent' }));
      expect({ sawConsent: allow.sawConsent, status: allow.res.statusCode }).toEqual({ sawConsent: true, status: 303 });
      const otherApp = await createClient(t.deps, 'default', { name: 'Other', redirectUris: [REG], scopes: ['read:avatars'] }, 86400);
      const deny = await drive(b, codeUrl({ client_id: otherApp.client.clientId, state: 'st-12' }), { decision: 'deny' });
      expect({ sawConsent: deny.sawConsent, view: redirectView(deny.res) }).toEqual({
        sawConsent: true, view: { status: 303, target: REG, query: { error: 'access_denied', error_description: 'the user denied the request', state: 'st-12', iss: ISSUER }, fragment: {} },
      });
      // login POST straight to the client (consent skipped for a first-party client)
      const fresh = new InjectBrowser(t.app);
      const login = await drive(fresh, codeUrl({ client_id: firstParty.id, state: 'st-12' }));
      expect({ sawLogin: login.sawLogin, sawConsent: login.sawConsent, view: redirectView(login.res) }).toEqual({
        sawLogin: true, sawConsent: false, view: { status: 303, target: REG, query: { code: CODE, state: 'st-12', iss: ISSUER, session_state: SESSION_STATE }, fragment: {} },
      });
      // implicit after a POSTed consent: the fragment redirect is 303 too
      const imp = await drive(fresh, authUrl({ response_type: 'token', client_id: implicit.id, redirect_uri: REG, scope: 'read:avatars', state: 'st-12' }));
      expect({ sawConsent: imp.sawConsent, status: imp.res.statusCode }).toEqual({ sawConsent: true, status: 303 });
    });

    it('12. the redirect after a POST is 303/302, never 307 (a POSTed authorization request answered at once from a live session)', async () => {
      const b = await signedInBrowser();
      const res = await t.app.inject({
        method: 'POST', url: AUTH,
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
        payload: codeUrl({ state: 'st-12' }).split('?')[1],
      });
      expect([302, 303]).toContain(res.statusCode);
      expect(redirectView(res)).toEqual({ status: res.statusCode, target: REG, query: { code: CODE, state: 'st-12', iss: ISSUER, session_state: SESSION_STATE }, fragment: {} });
    });
  });

  describe('13', () => {
    it('13. a flow disabled for a client (implicit) is refused with a clear error page (Keycloak wording), never a redirect', async () => {
      const results = [];
      for (const rt of ['token', 'id_token', 'id_token token', 'token id_token', 'code id_token', 'code token', 'code id_token token']) {
        const res = await t.app.inject({ url: codeUrl({ response_type: rt, scope: 'openid', nonce: 'n', response_mode: 'fragment' }) });
        results.push({ rt, page: pageView(res) });
      }
      // and the code flow for an implicit-only client
      results.push({ rt: 'code (implicit-only client)', page: pageView(await t.app.inject({ url: codeUrl({ client_id: implicit.id }) })) });
      expect(results).toEqual([
        ...['token', 'id_token', 'id_token token', 'token id_token', 'code id_token', 'code token', 'code id_token token'].map((rt) => ({ rt, page: errorPage(IMPLICIT_DISABLED) })),
        { rt: 'code (implicit-only client)', page: errorPage(STANDARD_DISABLED) },
      ]);
    });

    it('13. a response carrying tokens is never sent with response_mode=query', async () => {
      const results = [];
      for (const rt of ['token', 'id_token', 'id_token token']) {
        const res = await t.app.inject({ url: authUrl({ response_type: rt, client_id: implicit.id, redirect_uri: REG, scope: 'openid read:avatars', nonce: 'n', state: 'st-13', response_mode: 'query' }) });
        results.push({ rt, view: redirectView(res) });
      }
      expect(results).toEqual(['token', 'id_token', 'id_token token'].map((rt) => ({
        rt, view: { status: 302, target: REG, query: { error: 'invalid_request', error_description: 'response_mode query cannot carry tokens; use fragment or form_post', state: 'st-13', iss: ISSUER }, fragment: {} },
      })));
      // with a live session too: the error comes before any token is made
      const b = new InjectBrowser(t.app);
      await drive(b, authUrl({ response_type: 'token', client_id: implicit.id, redirect_uri: REG, scope: 'read:avatars', state: 'st-13' }));
      const res = await b.get(authUrl({ response_type: 'token', client_id: implicit.id, redirect_uri: REG, scope: 'read:avatars', state: 'st-13', response_mode: 'query' }));
      expect(redirectView(res).query).toEqual({ error: 'invalid_request', error_description: 'response_mode query cannot carry tokens; use fragment or form_post', state: 'st-13', iss: ISSUER });
      // web_page is only for an opted-in client, and only for response_type token
      const notOptedIn = await b.get(authUrl({ response_type: 'token', client_id: implicit.id, redirect_uri: REG, scope: 'read:avatars', state: 'st-13', response_mode: 'web_page' }));
      expect(redirectView(notOptedIn)).toEqual({
        status: 302, target: REG, query: {}, fragment: { error: 'unauthorized_client', error_description: 'the client is not allowed to use response_mode web_page', state: 'st-13', iss: ISSUER },
      });
    });

    it('13. a response carrying tokens is never sent with response_mode=query (implicit tokens go in the fragment, a form_post page or the web_page)', async () => {
      const b = new InjectBrowser(t.app);
      const frag = await drive(b, authUrl({ response_type: 'token', client_id: implicit.id, redirect_uri: REG, scope: 'openid read:avatars', state: 'st-13' }));
      expect(redirectView(frag.res)).toEqual({
        status: 303, target: REG, query: {},
        fragment: { access_token: expect.any(String), token_type: 'Bearer', expires_in: '3600', scope: 'openid read:avatars', state: 'st-13', iss: ISSUER, session_state: SESSION_STATE },
      });
      const token = parseLocation(frag.res.headers.location).fragment.access_token;
      expect((await t.app.inject({ url: USERINFO, headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);

      const explicitFrag = await b.get(authUrl({ response_type: 'token', client_id: implicit.id, redirect_uri: REG, scope: 'read:avatars', state: 'st-13', response_mode: 'fragment' }));
      expect(redirectView(explicitFrag)).toEqual({
        status: 302, target: REG, query: {},
        fragment: { access_token: expect.any(String), token_type: 'Bearer', expires_in: '3600', scope: 'read:avatars', state: 'st-13', iss: ISSUER, session_state: SESSION_STATE },
      });

      const post = await b.get(authUrl({ response_type: 'token', client_id: implicit.id, redirect_uri: REG, scope: 'read:avatars', state: 'st-13', response_mode: 'form_post' }));
      expect({ status: post.statusCode, location: post.headers.location, cache: post.headers['cache-control'] }).toEqual({ status: 200, location: undefined, cache: 'no-store' });
      expect(formOf(post.body)).toEqual({
        action: REG,
        fields: { access_token: expect.any(String), token_type: 'Bearer', expires_in: '3600', scope: 'read:avatars', state: 'st-13', iss: ISSUER, session_state: SESSION_STATE },
      });
      expect(post.body).toContain('<form method="post" action="https://app.example/cb" id="response">');

      const page = await drive(b, authUrl({ response_type: 'token', client_id: webPage.id, redirect_uri: REG, scope: 'openid read:avatars', state: 'st-13', response_mode: 'web_page' }));
      expect({ status: page.res.statusCode, location: page.res.headers.location, cache: page.res.headers['cache-control'], referrer: page.res.headers['referrer-policy'] })
        .toEqual({ status: 200, location: undefined, cache: 'no-store', referrer: 'no-referrer' });
      const shown = /<textarea id="token" rows="6" readonly>([^<]+)<\/textarea>/.exec(page.res.body)?.[1];
      expect(shown).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      expect(page.res.body).toContain('<h1>Your token for Game Mod</h1>');
      expect(page.res.body).toContain('Keep this token secret.');
      // no link or form on that page sends the token anywhere
      expect(page.res.body).not.toMatch(/<form|<a\s|https?:\/\/app\.example/);
      expect((await t.app.inject({ url: USERINFO, headers: { authorization: `Bearer ${shown}` } })).statusCode).toBe(200);

      // no response of any of these put a token in a query string
      for (const res of [frag.res, explicitFrag, post, page.res]) {
        const loc = res.headers.location as string | undefined;
        if (loc) expect(Object.keys(parseLocation(loc).query)).toEqual([]);
      }
    });

    it('13. a response carrying tokens is never sent with response_mode=query (hybrid response types)', async () => {
      const hybrid = await createClient(t.deps, 'default', { name: 'Hybrid', grantTypes: ['authorization_code', 'implicit'], redirectUris: [REG] }, 86400);
      for (const rt of ['code id_token', 'code token', 'code id_token token']) {
        const res = await t.app.inject({ url: authUrl({ response_type: rt, client_id: hybrid.client.clientId, redirect_uri: REG, scope: 'openid', nonce: 'n', state: 'st-13', response_mode: 'query' }) });
        expect({ rt, view: redirectView(res) }).toEqual({
          rt, view: { status: 302, target: REG, query: { error: 'invalid_request', error_description: 'response_mode query cannot carry tokens; use fragment or form_post', state: 'st-13', iss: ISSUER }, fragment: {} },
        });
      }
    });
  });
});
