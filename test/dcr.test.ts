import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createClient } from '../src/manage/clients.js';
import { createInitialToken } from '../src/manage/dcr.js';
import { DCR_DEFAULTS, type DcrPolicyPatch } from '../src/manage/dcr_policy.js';
import { updateTenant } from '../src/manage/tenants.js';
import { BACKENDS, basic, FakeClock, form, FORM_HEADERS, PUBLIC_URL, startTestApp, type TestApp } from './helpers.js';

const ISSUER = `${PUBLIC_URL}/realms/default`;
const REGISTER = '/realms/default/clients-registrations/openid-connect';
const T0 = Math.floor(Date.UTC(2026, 0, 1) / 1000);
const ID = expect.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{21}$/);
const SECRET = expect.stringMatching(/^[A-Za-z0-9_-]{43}$/);
const CHALLENGE = 'Bearer realm="default"';
const challenge = (description: string) => `Bearer realm="default", error="invalid_token", error_description="${description}"`;
const BAD_IAT = 'the initial access token is invalid, expired, revoked or used up';

/** The client information response (RFC 7591 §3.2.1) of a confidential code-flow client, with `over` applied. */
const registered = (over: Record<string, unknown> = {}, ...without: string[]) => Object.fromEntries(Object.entries({
  client_id: ID, client_secret: SECRET, client_secret_expires_at: 0, client_id_issued_at: expect.toSatisfy((v: number) => v >= T0 && v < T0 + 3600, 'a time of the test clock'),
  client_name: 'Photo app', token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], redirect_uris: ['https://app.example/cb'],
  post_logout_redirect_uris: [], cors_origins: [], scope: 'openid profile', access_token_format: 'jwt', access_token_ttl: null,
  consent: 'required', web_page: false, session_refresh_tokens: false, refresh_token_grace_seconds: 0, id_token_signed_response_alg: 'RS256',
  backchannel_logout_uri: null, backchannel_logout_session_required: true, require_pushed_authorization_requests: false, dpop_bound_access_tokens: false,
  token_exchange: { subject_clients: [], audiences: [] }, client_assertion_audience_token_endpoint: false,
  registration_access_token: SECRET, registration_client_uri: expect.stringMatching(new RegExp(`^${ISSUER}/clients-registrations/openid-connect/[A-Za-z0-9_-]{22}$`)),
  ...over,
}).filter(([k]) => !without.includes(k)));

/** No secret: public and private_key_jwt clients, and every answer after the first (only its digest is kept). */
const NO_SECRET = ['client_secret', 'client_secret_expires_at'];

const PHOTO_APP = { client_name: 'Photo app', redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid profile' };

describe.each(BACKENDS)('dynamic client registration (RFC 7591/7592) on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
  }, 60_000);
  afterAll(async () => t?.close());

  /** Sets the whole policy: the defaults with `patch` applied. */
  const policy = async (patch: DcrPolicyPatch) => {
    await updateTenant(t.deps, 'default', { dcr: { enabled: false, open: false, grantTypes: DCR_DEFAULTS.grantTypes, scopes: [], allow: [], ...patch } });
  };
  const token = async (options: { expiresIn?: number; maxUses?: number } = {}) => (await createInitialToken(t.deps, 'default', options)).token;
  const register = async (body: unknown, bearer?: string) => {
    const res = await t.app.inject({
      method: 'POST', url: REGISTER, payload: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...(bearer !== undefined && { authorization: `Bearer ${bearer}` }) },
    });
    return { status: res.statusCode, body: res.body ? res.json() : undefined, headers: res.headers };
  };
  const manage = async (method: 'GET' | 'PUT' | 'DELETE', uri: string, bearer?: string, body?: unknown) => {
    const res = await t.app.inject({
      method, url: uri.slice(PUBLIC_URL.length),
      headers: { ...(bearer !== undefined && { authorization: `Bearer ${bearer}` }), ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { payload: JSON.stringify(body) }),
    });
    return { status: res.statusCode, body: res.body ? res.json() : undefined, headers: res.headers };
  };
  const discovery = async () => (await t.app.inject({ method: 'GET', url: '/realms/default/.well-known/openid-configuration' })).json();
  const refused = (error: string, error_description: string) => ({ status: 400, body: { error, error_description }, headers: expect.anything() });

  beforeEach(async () => policy({ enabled: true }));

  it('is off by default: the endpoint answers 404 and discovery names no registration_endpoint', async () => {
    await policy({ enabled: false });
    expect(await register(PHOTO_APP, await token())).toEqual({
      status: 404, body: { error: 'not_found', error_description: 'dynamic client registration is not enabled for this tenant' }, headers: expect.anything(),
    });
    expect((await discovery()).registration_endpoint).toBeUndefined();
    expect(await manage('GET', `${ISSUER}/clients-registrations/openid-connect/x`, 'y')).toMatchObject({ status: 404 });
  });

  it('names the registration endpoint in discovery once turned on', async () => {
    expect((await discovery()).registration_endpoint).toBe(`${ISSUER}/clients-registrations/openid-connect`);
  });

  it('registers a client with an initial access token and answers 201 with its metadata and credentials', async () => {
    const r = await register(PHOTO_APP, await token());
    expect(r.status).toBe(201);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.body).toEqual(registered());
    expect(r.body.registration_client_uri).toBe(`${ISSUER}/clients-registrations/openid-connect/${r.body.client_id}`);
    const { events } = await t.storage.audit.list('default', { limit: 50 });
    expect(events.find((e) => e.type === 'client.created' && e.clientId === r.body.client_id)).toMatchObject({ actor: 'dcr' });
  });

  it('requires an initial access token unless registration is open', async () => {
    const none = await register(PHOTO_APP);
    expect(none).toEqual({ status: 401, body: { error: 'invalid_token', error_description: 'an initial access token is required' }, headers: expect.objectContaining({ 'www-authenticate': CHALLENGE }) });
    const wrong = await register(PHOTO_APP, 'not-a-token');
    expect(wrong).toEqual({ status: 401, body: { error: 'invalid_token', error_description: BAD_IAT }, headers: expect.objectContaining({ 'www-authenticate': challenge(BAD_IAT) }) });
  });

  it('refuses an expired initial access token', async () => {
    const iat = await token({ expiresIn: 60 });
    clock.advance(61);
    expect(await register(PHOTO_APP, iat)).toMatchObject({ status: 401, body: { error: 'invalid_token', error_description: BAD_IAT } });
  });

  it('refuses a used-up token, and a refused request does not use it up', async () => {
    const iat = await token({ maxUses: 1 });
    expect(await register({ ...PHOTO_APP, redirect_uris: ['http://app.example/cb'] }, iat)).toMatchObject({ status: 400 });
    expect(await register(PHOTO_APP, iat)).toMatchObject({ status: 201 });
    expect(await register(PHOTO_APP, iat)).toMatchObject({ status: 401, body: { error: 'invalid_token', error_description: BAD_IAT } });
  });

  it('counts uses atomically: of 8 concurrent registrations with a 2-use token exactly 2 succeed, and no other client stays', async () => {
    const iat = await token({ maxUses: 2 });
    const before = (await t.storage.clients.list('default')).length;
    const results = await Promise.all(Array.from({ length: 8 }, () => register(PHOTO_APP, iat)));
    expect(results.map((r) => r.status).sort()).toEqual([201, 201, 401, 401, 401, 401, 401, 401]);
    expect((await t.storage.clients.list('default')).length).toBe(before + 2);
  });

  it('allows open registration only when the tenant says so', async () => {
    await policy({ enabled: true, open: true });
    expect(await register({ ...PHOTO_APP, token_endpoint_auth_method: 'none' })).toMatchObject({
      status: 201, body: registered({ token_endpoint_auth_method: 'none' }, ...NO_SECRET),
    });
    // A token that is presented is still checked.
    expect(await register(PHOTO_APP, 'wrong')).toMatchObject({ status: 401 });
  });

  it('refuses what the tenant policy does not allow, naming the field', async () => {
    const iat = await token();
    expect(await register({ ...PHOTO_APP, consent: 'skip' }, iat)).toEqual(refused('invalid_client_metadata', 'consent: skipping consent is not allowed for registered clients'));
    expect(await register({ ...PHOTO_APP, web_page: true }, iat)).toEqual(refused('invalid_client_metadata', 'web_page: response_mode=web_page is not allowed for registered clients'));
    expect(await register({ ...PHOTO_APP, grant_types: ['password'] }, iat)).toEqual(refused('invalid_client_metadata', 'grant_types: the password grant is not allowed for registered clients'));
    expect(await register({ ...PHOTO_APP, grant_types: ['urn:ietf:params:oauth:grant-type:token-exchange'] }, iat))
      .toEqual(refused('invalid_client_metadata', 'grant_types: token exchange is not allowed for registered clients'));
    expect(await register({ ...PHOTO_APP, grant_types: ['client_credentials'] }, iat)).toEqual(refused('invalid_client_metadata', 'grant_types: client_credentials is not allowed for registered clients'));
    expect(await register({ ...PHOTO_APP, scope: 'openid photos:delete' }, iat)).toEqual(refused('invalid_client_metadata', 'scope: photos:delete is not allowed for registered clients'));
  });

  it('allows what the policy allows', async () => {
    await policy({ enabled: true, allow: ['consent-skip', 'web-page'], scopes: ['photos:read'] });
    const r = await register({ ...PHOTO_APP, consent: 'skip', web_page: true, scope: 'openid photos:read' }, await token());
    expect(r.body).toEqual(registered({ consent: 'skip', web_page: true, scope: 'openid photos:read' }));
  });

  it('refuses redirect URIs that checklist items 3–4 refuse, with invalid_redirect_uri', async () => {
    const iat = await token();
    const with1 = (uri: string) => register({ ...PHOTO_APP, redirect_uris: [uri] }, iat);
    expect(await with1('https://app.example/cb#frag')).toEqual(refused('invalid_redirect_uri', 'redirect URI https://app.example/cb#frag must not contain a fragment (RFC 6749 §3.1.2)'));
    expect(await with1('http://app.example/cb')).toEqual(refused('invalid_redirect_uri', 'redirect URI http://app.example/cb must use https (http is allowed only for loopback hosts, RFC 8252 §7.3)'));
    expect(await with1('https://*.example/cb')).toEqual(refused('invalid_redirect_uri', 'redirect URI https://*.example/cb must not contain a wildcard'));
    expect(await with1('/cb')).toEqual(refused('invalid_redirect_uri', 'redirect URI "/cb" is not an absolute URI'));
    expect(await register({ ...PHOTO_APP, redirect_uris: undefined }, iat)).toEqual(refused('invalid_redirect_uri', 'redirect_uris is required for the authorization_code and implicit grants'));
    // Loopback http and private-use schemes are fine (RFC 8252 §7.1, §7.3).
    expect(await register({ ...PHOTO_APP, token_endpoint_auth_method: 'none', redirect_uris: ['http://127.0.0.1/cb', 'com.example.app:/cb'] }, iat)).toMatchObject({ status: 201 });
  });

  it('applies the SSRF rules to every URL it is given', async () => {
    const iat = await token();
    const keyClient = { ...PHOTO_APP, token_endpoint_auth_method: 'private_key_jwt' };
    expect(await register({ ...keyClient, jwks_uri: 'https://10.0.0.1/jwks' }, iat))
      .toEqual(refused('invalid_client_metadata', 'jwks URI https://10.0.0.1/jwks names a private address; the server calls nothing there'));
    expect(await register({ ...keyClient, jwks_uri: 'http://keys.example/jwks' }, iat))
      .toEqual(refused('invalid_client_metadata', 'jwks URI http://keys.example/jwks must use https (http is allowed only on a loopback host while the server\'s own public URL is http on loopback)'));
    expect(await register({ ...PHOTO_APP, backchannel_logout_uri: 'https://169.254.169.254/logout' }, iat))
      .toEqual(refused('invalid_client_metadata', 'back-channel logout URI https://169.254.169.254/logout names a private address; the server calls nothing there'));
    expect(await register({ ...PHOTO_APP, sector_identifier_uri: 'https://app.example/sector.json' }, iat)).toEqual(refused('invalid_client_metadata', 'sector_identifier_uri is not supported'));
    expect(await register({ ...PHOTO_APP, logo_uri: 'http://app.example/logo.png' }, iat)).toEqual(refused('invalid_client_metadata', 'logo_uri must be an https URL'));
    expect(await register({ ...PHOTO_APP, tos_uri: 'javascript:alert(1)' }, iat)).toEqual(refused('invalid_client_metadata', 'tos_uri must be an https URL'));
    expect(await register({ ...keyClient, jwks_uri: 'https://keys.example/jwks', logo_uri: 'https://app.example/logo.png' }, iat))
      .toMatchObject({ status: 201, body: registered({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://keys.example/jwks' }, ...NO_SECRET) });
  });

  it('reads, replaces and deletes a registered client with its registration access token (RFC 7592), rotating it on update', async () => {
    const r = (await register(PHOTO_APP, await token())).body;
    const uri = r.registration_client_uri;
    const read = await manage('GET', uri, r.registration_access_token);
    expect(read).toMatchObject({ status: 200, body: registered({ client_id: r.client_id, registration_access_token: r.registration_access_token }, ...NO_SECRET) });
    expect(read.body).not.toHaveProperty('client_secret');

    const put = await manage('PUT', uri, r.registration_access_token, { client_id: r.client_id, client_secret: r.client_secret, client_name: 'Photo app 2', redirect_uris: ['https://app.example/cb2'] });
    expect(put).toMatchObject({
      status: 200,
      body: registered({ client_id: r.client_id, client_name: 'Photo app 2', redirect_uris: ['https://app.example/cb2'], grant_types: ['authorization_code'], scope: '' }, ...NO_SECRET),
    });
    const rotated = put.body.registration_access_token;
    expect(rotated).not.toBe(r.registration_access_token);
    const stale = await manage('GET', uri, r.registration_access_token);
    expect(stale).toMatchObject({ status: 401, body: { error: 'invalid_token', error_description: 'the registration access token is invalid' } });
    expect(stale.headers['www-authenticate']).toBe(challenge('the registration access token is invalid'));
    expect(await manage('GET', uri)).toMatchObject({ status: 401, body: { error: 'invalid_token', error_description: 'a registration access token is required' } });

    // The body cannot change the client_id or the secret.
    expect(await manage('PUT', uri, rotated, { client_id: 'other', redirect_uris: ['https://app.example/cb'] }))
      .toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'client_id in the body must be the client_id of the client being updated' }, headers: expect.anything() });
    expect(await manage('PUT', uri, rotated, { client_id: r.client_id, client_secret: 'new', redirect_uris: ['https://app.example/cb'] })).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    // The same policy applies to an update.
    expect(await manage('PUT', uri, rotated, { client_id: r.client_id, redirect_uris: ['https://app.example/cb'], consent: 'skip' }))
      .toMatchObject({ status: 400, body: { error: 'invalid_client_metadata', error_description: 'consent: skipping consent is not allowed for registered clients' } });
    // The secret still works.
    const cc = await t.app.inject({ method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(r.client_id, r.client_secret) }, payload: form({ grant_type: 'client_credentials' }) });
    expect(cc.json()).toMatchObject({ error: 'unauthorized_client' });

    // Concurrent updates with one token: exactly one learns the new token.
    const racing = await Promise.all([1, 2, 3].map((n) => manage('PUT', uri, rotated, { client_id: r.client_id, client_name: `racer ${n}`, redirect_uris: ['https://app.example/cb'] })));
    expect(racing.map((x) => x.status).sort()).toEqual([200, 401, 401]);
    const current = racing.find((x) => x.status === 200)!.body.registration_access_token;
    expect(await manage('GET', uri, rotated)).toMatchObject({ status: 401 });

    const del = await manage('DELETE', uri, current);
    expect(del.status).toBe(204);
    expect(await t.storage.clients.get('default', r.client_id)).toBeUndefined();
    expect(await manage('GET', uri, current)).toMatchObject({ status: 401 });
    const types = (await t.storage.audit.list('default', { limit: 100 })).events.filter((e) => e.clientId === r.client_id).map((e) => `${e.type} ${e.actor}`);
    // One update, then the racing ones that got past the token check before the winner rotated it.
    expect([...new Set(types)].sort()).toEqual(['client.created dcr', 'client.deleted dcr', 'client.updated dcr']);
  });

  it('does not let a client made by an operator be managed this way', async () => {
    const { client } = await createClient(t.deps, 'default', { name: 'operator made' }, 3600);
    expect(await manage('GET', `${ISSUER}/clients-registrations/openid-connect/${client.clientId}`, 'anything'))
      .toMatchObject({ status: 401, body: { error: 'invalid_token', error_description: 'the registration access token is invalid' } });
  });

  it('issues tokens to a registered client (client_credentials)', async () => {
    await policy({ enabled: true, grantTypes: ['client_credentials'] });
    const r = (await register({ client_name: 'Backend', grant_types: ['client_credentials'] }, await token())).body;
    const res = await t.app.inject({ method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(r.client_id, r.client_secret) }, payload: form({ grant_type: 'client_credentials' }) });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String) });
  });
});
