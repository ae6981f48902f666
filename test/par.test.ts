/**
 * Pushed authorization requests (RFC 9126): the PAR endpoint's answers and errors, and the
 * authorization endpoint's use of a request_uri (only the pushed parameters, one use, bound
 * to the client, short-lived), on every backend through app.inject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../src/manage/apis.js';
import { createClient, updateClient } from '../src/manage/clients.js';
import { createTenant } from '../src/manage/tenants.js';
import { createUser } from '../src/manage/users.js';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS, basic, FakeClock, FORM_HEADERS, form, startTestApp, type TestApp } from './helpers.js';
import {
  authUrl, CODE, corsHeaders, drive, errorPage, formOf, InjectBrowser, isConsentPage, isLoginPage, ISSUER, pageView, PASSWORD, pathOf, pkce, redirectView,
  SESSION_STATE, tokenRequest, type TestClient,
} from './security/support.js';

const PAR = '/realms/default/protocol/openid-connect/ext/par/request';
const REG = 'https://app.example/cb';
const API = 'https://api.loomai.com/';
const REQUEST_URI = expect.stringMatching(/^urn:ietf:params:oauth:request_uri:[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
const USED = 'request_uri was already used; push the authorization request again';
const CHALLENGE = 'Basic realm="default", charset="UTF-8"';

type Fields = Record<string, string | string[] | undefined>;
/** A form body from fields; undefined ones are left out. */
const formOfFields = (fields: Fields): string => form(Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<string, string | string[]>);

describe.each(BACKENDS)('pushed authorization requests (RFC 9126) on %s', (backend) => {
  let t: TestApp;
  let clock: FakeClock;
  /** Confidential, consent asked, a registered CORS origin. */
  let web: TestClient;
  /** Public: PKCE required. */
  let spa: TestClient;
  /** Confidential, registered with --require-par, consent skipped. */
  let strict: TestClient;
  let other: TestClient;
  /** client_credentials only: no browser flow. */
  let service: TestClient;

  beforeAll(async () => {
    clock = new FakeClock();
    t = await startTestApp(backend, { clock });
    await createApi(t.deps, 'default', { audience: API, scopes: ['read:avatars'] }, 86400);
    const mk = async (input: Parameters<typeof createClient>[2]): Promise<TestClient> => {
      const c = await createClient(t.deps, 'default', { redirectUris: [REG], scopes: ['read:avatars'], ...input }, 86400);
      return { id: c.client.clientId, secret: c.secret };
    };
    web = await mk({ name: 'Avatar Studio', corsOrigins: ['https://app.example'] });
    spa = await mk({ name: 'Public SPA', public: true });
    strict = await mk({ name: 'Strict App', requirePar: true, consent: 'skip' });
    other = await mk({ name: 'Other App' });
    service = await mk({ name: 'Service', grantTypes: ['client_credentials'] });
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD, name: 'Alice' });
    await createTenant(t.deps, { id: 'acme' });
  });
  afterAll(() => t?.close());

  /** A pushed request as the client sends it: client_id in the body, Basic for a confidential client. */
  const push = (client: TestClient, fields: Fields) => {
    const auth = client.secret !== undefined ? { authorization: basic(client.id, client.secret) } : {};
    return t.app.inject({ method: 'POST', url: PAR, headers: { ...FORM_HEADERS, ...auth }, payload: formOfFields({ client_id: client.id, ...fields }) });
  };
  /** Signs alice in on a login page already shown, and allows the consent page if one follows. */
  async function finish(b: InjectBrowser, loginPage: Awaited<ReturnType<InjectBrowser['get']>>) {
    const f = formOf(loginPage.body);
    let res = await b.post(pathOf(f.action), { ...f.fields, username: 'alice', password: PASSWORD });
    if (isConsentPage(res)) {
      const c = formOf(res.body);
      res = await b.post(pathOf(c.action), { ...c.fields, decision: 'allow' });
    }
    return res;
  }
  const codeRequest = (extra: Record<string, string | undefined> = {}): Record<string, string | undefined> => ({ response_type: 'code', redirect_uri: REG, scope: 'read:avatars', state: 'pushed-state', ...extra });
  const view = (res: Awaited<ReturnType<typeof push>>) => ({ status: res.statusCode, challenge: res.headers['www-authenticate'], body: res.json() });
  const refused = (error: string, description: string) => ({ status: 400, challenge: undefined, body: { error, error_description: description } });
  async function requestUriOf(client: TestClient, fields: Fields): Promise<string> {
    const res = await push(client, fields);
    expect(res.statusCode, res.body).toBe(201);
    return res.json().request_uri;
  }
  const useUrl = (client: TestClient, requestUri: string, extra: Record<string, string> = {}) => authUrl({ client_id: client.id, request_uri: requestUri, ...extra });

  it('answers 201 with a request_uri URN that is valid for 60 seconds, not cacheable, and keeps no client secret', async () => {
    const res = await t.app.inject({
      method: 'POST', url: PAR, headers: FORM_HEADERS,
      payload: formOfFields({ ...codeRequest(), client_id: web.id, client_secret: web.secret!, resource: [API] }),
    });
    expect({ status: res.statusCode, type: res.headers['content-type'], cache: res.headers['cache-control'], body: res.json() })
      .toEqual({ status: 201, type: 'application/json; charset=utf-8', cache: 'no-store', body: { request_uri: REQUEST_URI, expires_in: 60 } });
    const value = (res.json().request_uri as string).slice('urn:ietf:params:oauth:request_uri:'.length);
    const stored = await t.storage.artifacts.find('par_request', storageKey(value));
    const now = Math.floor(clock.ms / 1000);
    expect(stored).toMatchObject({ tenantId: 'default', clientId: web.id, grantId: null, usedAt: null, createdAt: now });
    // The authorization request's parameters, without the secret that authenticated the push.
    expect(stored!.data).toEqual({ params: { ...codeRequest(), client_id: web.id, resource: API }, useBy: now + 60 });
    // Every push gets its own request_uri.
    expect(await requestUriOf(web, codeRequest())).not.toBe(res.json().request_uri);
  });

  it('carries code + PKCE through a pushed request; the authorization endpoint ignores every front-channel parameter but client_id and request_uri', async () => {
    const { verifier, challenge } = pkce();
    const requestUri = await requestUriOf(spa, codeRequest({ code_challenge: challenge, code_challenge_method: 'S256' }));
    const b = new InjectBrowser(t.app);
    const tampered = { redirect_uri: 'https://evil.example/cb', state: 'evil', scope: 'openid', code_challenge: pkce().challenge, response_type: 'token', prompt: 'none' };
    const { res, sawLogin, sawConsent } = await drive(b, useUrl(spa, requestUri, tampered));
    expect({ sawLogin, sawConsent, view: redirectView(res) }).toEqual({
      sawLogin: true, sawConsent: true, view: { status: 303, target: REG, query: { code: CODE, state: 'pushed-state', iss: ISSUER, session_state: SESSION_STATE }, fragment: {} },
    });
    const code = redirectView(res).query.code;
    const wrong = await tokenRequest(t.app, spa, { grant_type: 'authorization_code', code, redirect_uri: REG, code_verifier: pkce().verifier });
    expect({ status: wrong.statusCode, body: wrong.json() }).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'code_verifier does not match the code_challenge' } });
    const token = await tokenRequest(t.app, spa, { grant_type: 'authorization_code', code, redirect_uri: REG, code_verifier: verifier });
    expect({ status: token.statusCode, body: token.json() }).toEqual({
      status: 200, body: { access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600, scope: 'read:avatars', 'not-before-policy': 0 },
    });
  });

  it('spends the request_uri when the response is issued: using it again gets an invalid_request_uri page', async () => {
    const requestUri = await requestUriOf(web, codeRequest());
    const b = new InjectBrowser(t.app);
    const { res } = await drive(b, useUrl(web, requestUri));
    expect(redirectView(res)).toMatchObject({ status: 303, target: REG, query: { code: CODE, state: 'pushed-state' } });
    // The same browser (signed in, consent remembered) and a fresh one alike.
    expect(pageView(await b.get(useUrl(web, requestUri)))).toEqual(errorPage(USED));
    expect(pageView(await t.app.inject({ url: useUrl(web, requestUri) }))).toEqual(errorPage(USED));
  });

  it('lets a reload of the login page start the sign-in again; of two sign-ins from one request_uri only the first to finish gets a response', async () => {
    const requestUri = await requestUriOf(web, codeRequest());
    const first = new InjectBrowser(t.app);
    const second = new InjectBrowser(t.app);
    const loaded = await first.get(useUrl(web, requestUri));
    const reloaded = await first.get(useUrl(web, requestUri));
    expect([isLoginPage(loaded), isLoginPage(reloaded)]).toEqual([true, true]);
    const { res: winner } = await drive(second, useUrl(web, requestUri));
    expect(redirectView(winner)).toMatchObject({ status: 303, target: REG, query: { code: CODE, state: 'pushed-state' } });
    // The first browser's sign-in, finished afterwards, gets the page instead of a second code.
    expect(pageView(await finish(first, reloaded))).toEqual(errorPage(USED));
  });

  it('lets exactly one of 100 concurrent uses of one request_uri proceed', async () => {
    const b = new InjectBrowser(t.app);
    const { res } = await drive(b, useUrl(strict, await requestUriOf(strict, codeRequest())));
    expect(redirectView(res)).toMatchObject({ status: 303, query: { code: CODE } });
    const requestUri = await requestUriOf(strict, codeRequest({ state: 'race' }));
    const results = await Promise.all(Array.from({ length: 100 }, () => b.get(useUrl(strict, requestUri))));
    const won = results.filter((r) => r.statusCode === 302);
    expect(won.map(redirectView)).toEqual([{ status: 302, target: REG, query: { code: CODE, state: 'race', iss: ISSUER, session_state: SESSION_STATE }, fragment: {} }]);
    expect(results.filter((r) => r.statusCode !== 302).map(pageView)).toEqual(Array(99).fill(errorPage(USED)));
  });

  it('refuses a request_uri that is unknown, another client\'s, another tenant\'s or expired with an invalid_request_uri page, never a redirect', async () => {
    const requestUri = await requestUriOf(web, codeRequest());
    const acme = await createClient(t.deps, 'acme', { name: 'Acme', redirectUris: [REG] }, 86400);
    const cases: [string, string, string][] = [
      ['unknown', useUrl(web, 'urn:ietf:params:oauth:request_uri:0000000000000000000000000000000000000000000000000000000'), 'request_uri is unknown'],
      ['not even a value', useUrl(web, 'urn:ietf:params:oauth:request_uri:'), 'request_uri is unknown'],
      ['another client', useUrl(other, requestUri), 'request_uri was issued to another client'],
      ['an unknown client', authUrl({ client_id: 'no-such-client', request_uri: requestUri }), 'request_uri was issued to another client'],
      ['no client_id', authUrl({ request_uri: requestUri, redirect_uri: REG }), 'client_id is missing'],
      ['another tenant', authUrl({ client_id: acme.client.clientId, request_uri: requestUri }, '/realms/acme/protocol/openid-connect/auth'), 'request_uri is unknown'],
    ];
    const results = [];
    for (const [name, url] of cases) results.push({ name, page: pageView(await t.app.inject({ url })) });
    expect(results).toEqual(cases.map(([name, , message]) => ({ name, page: errorPage(message) })));

    // RFC 9126 §4: an expired request_uri MUST be rejected; 59 seconds after the push it still works.
    const fresh = await requestUriOf(web, codeRequest());
    clock.advance(59);
    expect(isLoginPage(await t.app.inject({ url: useUrl(web, fresh) }))).toBe(true);
    clock.advance(1);
    expect(pageView(await t.app.inject({ url: useUrl(web, fresh) }))).toEqual(errorPage('request_uri has expired; push the authorization request again'));
    // The original one too, and it stays refused whatever else the front channel says.
    expect(pageView(await t.app.inject({ url: useUrl(web, requestUri, { redirect_uri: REG, response_type: 'code' }) }))).toEqual(errorPage('request_uri has expired; push the authorization request again'));
  });

  it('completes a sign-in that began before the request_uri expired, even when it ends after', async () => {
    const requestUri = await requestUriOf(web, codeRequest());
    const b = new InjectBrowser(t.app);
    const login = await b.get(useUrl(web, requestUri));
    expect(isLoginPage(login)).toBe(true);
    clock.advance(10 * 60);
    // A new visit is refused (expired); the sign-in already under way still completes, once.
    expect(pageView(await b.get(useUrl(web, requestUri)))).toEqual(errorPage('request_uri has expired; push the authorization request again'));
    expect(redirectView(await finish(b, login))).toMatchObject({ status: 303, target: REG, query: { code: CODE, state: 'pushed-state' } });
    expect(pageView(await b.get(useUrl(web, requestUri)))).toEqual(errorPage(USED));
  });

  it('validates the pushed request again at use: a redirect URI removed in between is refused', async () => {
    const c = await createClient(t.deps, 'default', { name: 'Changing', redirectUris: [REG, 'https://app.example/other'], scopes: ['read:avatars'] }, 86400);
    const changing = { id: c.client.clientId, secret: c.secret };
    const requestUri = await requestUriOf(changing, codeRequest());
    await updateClient(t.deps, 'default', changing.id, { redirectUris: ['https://app.example/other'] }, 86400);
    expect(pageView(await t.app.inject({ url: useUrl(changing, requestUri) }))).toEqual(errorPage('redirect_uri is not registered for this client'));
  });

  it('requires a pushed request from a client registered with require_pushed_authorization_requests (invalid_request, redirected)', async () => {
    const res = await t.app.inject({ url: authUrl({ client_id: strict.id, ...codeRequest() }) });
    expect(redirectView(res)).toEqual({
      status: 302, target: REG, query: { error: 'invalid_request', error_description: 'this client must use pushed authorization requests', state: 'pushed-state', iss: ISSUER }, fragment: {},
    });
    // Its unregistered redirect URI is still a page, never a redirect.
    const evil = await t.app.inject({ url: authUrl({ client_id: strict.id, ...codeRequest({ redirect_uri: 'https://evil.example/cb' }) }) });
    expect(pageView(evil)).toEqual(errorPage('redirect_uri is not registered for this client'));
    // A request_uri that is not a pushed request's does not count as one.
    const notPushed = await t.app.inject({ url: authUrl({ client_id: strict.id, request_uri: 'https://app.example/request.jwt', ...codeRequest() }) });
    expect(redirectView(notPushed).query).toEqual({ error: 'invalid_request', error_description: 'this client must use pushed authorization requests', state: 'pushed-state', iss: ISSUER });
  });

  it('keeps refusing request_uri values of other kinds (request objects by reference) with request_uri_not_supported', async () => {
    const res = await t.app.inject({ url: authUrl({ client_id: web.id, request_uri: 'https://app.example/request.jwt', ...codeRequest() }) });
    expect(redirectView(res)).toEqual({
      status: 302, target: REG, query: { error: 'request_uri_not_supported', error_description: 'request_uri is not supported', state: 'pushed-state', iss: ISSUER }, fragment: {},
    });
  });

  it('authenticates the client as the token endpoint does (invalid_client, 401 with a Basic challenge)', async () => {
    const bare = (fields: Fields) => t.app.inject({ method: 'POST', url: PAR, headers: FORM_HEADERS, payload: formOfFields(fields) });
    const failed = { status: 401, challenge: CHALLENGE, body: { error: 'invalid_client', error_description: 'client authentication failed' } };
    const cases = [
      ['no authentication at all', await bare(codeRequest()), { ...failed, body: { error: 'invalid_client', error_description: 'client authentication is required' } }],
      ['a confidential client without its secret', await bare({ ...codeRequest(), client_id: web.id }), failed],
      ['a wrong secret', await push({ id: web.id, secret: 'wrong' }, codeRequest()), failed],
      ['an unknown client', await push({ id: 'no-such-client', secret: 'x' }, codeRequest()), failed],
      ['a public client presenting a secret', await bare({ ...codeRequest(), client_id: spa.id, client_secret: 'x' }), failed],
    ] as const;
    expect(cases.map(([name, res]) => ({ name, ...view(res) }))).toEqual(cases.map(([name, , expected]) => ({ name, ...expected })));
  });

  it('refuses invalid authorization requests with the authorization endpoint\'s own errors, as JSON', async () => {
    const { challenge } = pkce();
    const cases: [string, TestClient, Fields, ReturnType<typeof refused>][] = [
      ['request_uri in the pushed request (§2.1)', web, codeRequest({ request_uri: 'urn:ietf:params:oauth:request_uri:abc' }), refused('invalid_request', 'request_uri must not be sent to the pushed authorization request endpoint')],
      ['a request object', web, codeRequest({ request: 'eyJhbGciOiJub25lIn0.e30.' }), refused('request_not_supported', 'request objects are not supported')],
      ['no client_id (Basic only)', web, { client_id: undefined, ...codeRequest() }, refused('invalid_request', 'client_id is missing')],
      ['an unregistered redirect_uri (§2.4)', web, codeRequest({ redirect_uri: 'https://evil.example/cb' }), refused('invalid_request', 'redirect_uri is not registered for this client')],
      ['no response_type', web, codeRequest({ response_type: undefined }), refused('invalid_request', 'response_type is missing')],
      ['an unknown response_type', web, codeRequest({ response_type: 'foo' }), refused('unsupported_response_type', 'response_type foo is not supported')],
      ['implicit for a code-only client', web, codeRequest({ response_type: 'token' }), refused('unauthorized_client', 'Client is not allowed to initiate browser login with given response_type. Implicit flow is disabled for the client.')],
      ['a client without browser flows', service, codeRequest(), refused('unauthorized_client', 'Client is not allowed to initiate browser login with given response_type. Standard flow is disabled for the client.')],
      ['a scope the client may not request', web, codeRequest({ scope: 'admin' }), refused('invalid_scope', 'the client may not request scope admin')],
      ['an unknown audience', web, codeRequest({ audience: 'https://nope.example/' }), refused('invalid_target', '"https://nope.example/" is not an API of this tenant')],
      ['a public client without PKCE', spa, codeRequest(), refused('invalid_request', 'PKCE is required for public clients: send code_challenge with code_challenge_method S256')],
      ['PKCE plain', spa, codeRequest({ code_challenge: challenge, code_challenge_method: 'plain' }), refused('invalid_request', 'code_challenge_method plain is not allowed; use S256')],
      ['a repeated parameter', web, { ...codeRequest(), scope: ['read:avatars', 'openid'] }, refused('invalid_request', 'parameter scope must not be repeated')],
    ];
    const results = [];
    for (const [name, client, fields] of cases) {
      const res = await push(client, fields);
      results.push({ name, view: view(res), cache: res.headers['cache-control'] });
    }
    expect(results).toEqual(cases.map(([name, , , expected]) => ({ name, view: expected, cache: 'no-store' })));
  });

  it('refuses a body client_id that differs from the Basic credentials, a body that is not form-encoded, and GET', async () => {
    const mismatch = await push(web, { ...codeRequest(), client_id: other.id });
    expect(view(mismatch)).toEqual(refused('invalid_request', 'client_id in the body does not match the authorization header'));
    const json = await t.app.inject({ method: 'POST', url: PAR, headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ ...codeRequest(), client_id: spa.id }) });
    expect(view(json)).toEqual(refused('invalid_request', 'the request body must be application/x-www-form-urlencoded'));
    const get = await t.app.inject({ url: `${PAR}?${new URLSearchParams({ ...codeRequest(), client_id: spa.id })}` });
    expect({ ...view(get), allow: get.headers.allow }).toEqual({ status: 405, challenge: undefined, allow: 'POST', body: { error: 'method_not_allowed', error_description: 'use POST for this endpoint' } });
  });

  it('answers CORS for the web origins registered on the tenant\'s clients, as the token endpoint does', async () => {
    const preflight = await t.app.inject({ method: 'OPTIONS', url: PAR, headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' } });
    expect({ status: preflight.statusCode, origin: preflight.headers['access-control-allow-origin'], credentials: preflight.headers['access-control-allow-credentials'], methods: preflight.headers['access-control-allow-methods'] })
      .toEqual({ status: 204, origin: 'https://app.example', credentials: 'true', methods: 'POST' });
    const res = await t.app.inject({ method: 'POST', url: PAR, headers: { ...FORM_HEADERS, origin: 'https://app.example' }, payload: formOfFields({ ...codeRequest({ code_challenge: pkce().challenge, code_challenge_method: 'S256' }), client_id: spa.id }) });
    expect({ status: res.statusCode, origin: res.headers['access-control-allow-origin'] }).toEqual({ status: 201, origin: 'https://app.example' });
    const evil = await t.app.inject({ method: 'OPTIONS', url: PAR, headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect({ status: evil.statusCode, cors: corsHeaders(evil) }).toEqual({ status: 204, cors: [] });
  });
});
