/**
 * SECURITY-CHECKLIST §G — tenants: the admin API refuses tokens from other tenants and tokens
 * without the admin scope (53), and nothing of one tenant — client, user, session, code,
 * refresh token, access token, ID token, device code — works in another (54). Black-box
 * through app.inject on every backend: two tenants set up alike, the same username in each.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../src/manage/apis.js';
import { createClient } from '../../src/manage/clients.js';
import { createInitialToken } from '../../src/manage/dcr.js';
import { ADMIN_TENANT, createTenant, updateTenant } from '../../src/manage/tenants.js';
import { createUser } from '../../src/manage/users.js';
import { BACKENDS, basic, FakeClock, form, FORM_HEADERS, PUBLIC_URL, type TestApp } from '../helpers.js';
import { adminApi, makeOperator, OPERATOR_PASSWORD, startAdminApp, tokenFor } from '../support/admin.js';
import { authUrl, drive, InjectBrowser, jsonView, mainOf, PASSWORD, pkce, redirectView, type TestClient } from './support.js';

const REDIRECT = 'https://app.example/cb';
const API = 'https://api.example/';
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const TENANTS = ['default', 'acme'] as const;
type Tenant = (typeof TENANTS)[number];
const path = (tenant: string, endpoint: string) => `/realms/${tenant}/protocol/openid-connect/${endpoint}`;
const otherOf = (tenant: Tenant): Tenant => (tenant === 'default' ? 'acme' : 'default');

describe.each(BACKENDS)('SECURITY-CHECKLIST G: tenants on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  /** Per tenant: a confidential client of every grant (JWT access tokens), its opaque twin, a public one, and an exchanger. */
  const clients = {} as Record<Tenant, { web: Required<TestClient>; opaque: Required<TestClient>; spa: TestClient; exchanger: Required<TestClient> }>;

  const post = (url: string, fields: Record<string, string>, client?: TestClient) =>
    t.app.inject({
      method: 'POST', url,
      headers: { ...FORM_HEADERS, ...(client?.secret !== undefined && { authorization: basic(client.id, client.secret) }) },
      payload: form({ ...fields, ...(client && client.secret === undefined && { client_id: client.id }) }),
    });
  const token = (tenant: string, client: TestClient, fields: Record<string, string>) => post(path(tenant, 'token'), fields, client);
  const bearer = (url: string, accessToken: string) => t.app.inject({ url, headers: { authorization: `Bearer ${accessToken}` } });
  const view = (res: LightMyRequestResponse) => ({ status: res.statusCode, challenge: res.headers['www-authenticate'], body: res.json() });

  /** Alice's tokens in `tenant` from the password grant (her password differs per tenant). */
  async function passwordTokens(tenant: Tenant, client: TestClient, scope = 'openid offline_access read:api') {
    const res = await token(tenant, client, { grant_type: 'password', username: 'alice', password: `${PASSWORD} ${tenant}`, scope });
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { access_token: string; refresh_token: string; id_token: string };
  }

  beforeAll(async () => {
    t = await startAdminApp(backend, { clock });
    await createTenant(t.deps, { id: 'acme', displayName: 'Acme' });
    for (const tenant of TENANTS) {
      await createApi(t.deps, tenant, { audience: API, scopes: ['read:api'] }, 86400);
      const mk = async (input: Parameters<typeof createClient>[2]) => {
        const c = await createClient(t.deps, tenant, { redirectUris: [REDIRECT], scopes: ['read:api'], consent: 'skip', ...input }, 86400);
        return { id: c.client.clientId, secret: c.secret! };
      };
      const grants = ['authorization_code', 'refresh_token', 'password', 'client_credentials', DEVICE_GRANT];
      clients[tenant] = {
        web: await mk({ name: 'Web', grantTypes: grants }),
        opaque: await mk({ name: 'Opaque', grantTypes: grants, accessTokenFormat: 'opaque' }),
        spa: { id: (await mk({ name: 'SPA', public: true, grantTypes: ['authorization_code', 'refresh_token'] })).id },
        exchanger: await mk({ name: 'Exchanger', grantTypes: [EXCHANGE], tokenExchangeSubjectClients: ['*'] }),
      };
      await createUser(t.deps, tenant, { username: 'alice', password: `${PASSWORD} ${tenant}` });
    }
    await createUser(t.deps, 'default', { username: 'dora', password: PASSWORD });
  });
  afterAll(() => t?.close());

  describe('53', () => {
    const me = async (accessToken: string | undefined) => {
      const r = await adminApi(t, accessToken).get('/me');
      return { status: r.status, body: r.body, challenge: r.headers['www-authenticate'] };
    };
    const NOT_ADMIN = 'the access token is invalid, expired or revoked, or not of the admin tenant';
    const notAdmin = { status: 401, body: { error: 'invalid_token', error_description: NOT_ADMIN }, challenge: `Bearer realm="admin", error="invalid_token", error_description="${NOT_ADMIN}"` };

    it('53. the admin API refuses tokens from other tenants, even ones carrying scope admin from a user named like an operator', async () => {
      const root = await makeOperator(t, 'root');
      expect((await me(await tokenFor(t, root))).status).toBe(200);
      for (const tenant of TENANTS) {
        // A tenant may define a scope called admin, and a user called root: neither means anything to the admin API.
        const pretender = await createClient(t.deps, tenant, { name: 'Pretender', grantTypes: ['password', 'client_credentials'], scopes: ['admin'] }, 86400);
        const client = { id: pretender.client.clientId, secret: pretender.secret! };
        await createUser(t.deps, tenant, { username: 'root', password: OPERATOR_PASSWORD });
        const userToken = await token(tenant, client, { grant_type: 'password', username: 'root', password: OPERATOR_PASSWORD, scope: 'admin' });
        expect(userToken.json()).toMatchObject({ scope: 'admin' });
        const clientToken = await token(tenant, client, { grant_type: 'client_credentials', scope: 'admin' });
        expect(clientToken.json()).toMatchObject({ scope: 'admin' });
        for (const accessToken of [userToken.json().access_token, clientToken.json().access_token]) {
          expect({ tenant, ...(await me(accessToken)) }).toEqual({ tenant, ...notAdmin });
        }
      }
      // An opaque token of another tenant, and a user's ID token, are refused the same way.
      expect(await me((await passwordTokens('default', clients.default.opaque)).access_token)).toEqual(notAdmin);
      expect(await me((await passwordTokens('acme', clients.acme.web)).id_token)).toEqual(notAdmin);
      expect(await me(undefined)).toEqual({ status: 401, body: { error: 'invalid_token', error_description: 'an access token of the admin tenant is required' }, challenge: 'Bearer realm="admin"' });
    });

    it('53. the admin API refuses admin-tenant tokens without the admin scope, and the admin scope without an operator', async () => {
      const ops = await makeOperator(t, 'ops');
      const reports = await createClient(t.deps, ADMIN_TENANT, { name: 'Reports', grantTypes: ['password', 'client_credentials'], scopes: ['reports', 'admin'] }, 86400);
      const client = { id: reports.client.clientId, secret: reports.secret! };
      const LACKS = 'the access token lacks scope admin';
      const insufficient = { status: 403, body: { error: 'insufficient_scope', error_description: LACKS }, challenge: `Bearer realm="admin", error="insufficient_scope", error_description="${LACKS}"` };
      // An operator's own token from the password grant, without scope admin.
      const narrow = await token(ADMIN_TENANT, client, { grant_type: 'password', username: 'ops', password: OPERATOR_PASSWORD, scope: 'reports' });
      expect(narrow.json()).toMatchObject({ scope: 'reports' });
      expect(await me(narrow.json().access_token)).toEqual(insufficient);
      expect(await me(await tokenFor(t, ops, ['reports'], client.id))).toEqual(insufficient);
      // With the scope, the same operator is let in.
      const wide = await token(ADMIN_TENANT, client, { grant_type: 'password', username: 'ops', password: OPERATOR_PASSWORD, scope: 'admin' });
      expect(await me(wide.json().access_token)).toEqual({ status: 200, body: { id: ops.id, username: 'ops', tenants: null }, challenge: undefined });
      // A client's own admin-tenant token with scope admin names no operator.
      const robot = await token(ADMIN_TENANT, client, { grant_type: 'client_credentials', scope: 'admin' });
      expect(robot.json()).toMatchObject({ scope: 'admin' });
      expect((await me(robot.json().access_token)).body).toEqual({ error: 'invalid_token', error_description: 'the access token was not issued to an operator' });
    });

    it('53. an operator scoped to one tenant is refused every other tenant, whether or not it exists', async () => {
      const scoped = adminApi(t, await tokenFor(t, await makeOperator(t, 'acme-ops', ['acme'])));
      expect((await scoped.get('/tenants/acme/clients')).status).toBe(200);
      for (const tenant of ['default', ADMIN_TENANT, 'no-such-tenant']) {
        const r = await scoped.get(`/tenants/${tenant}/clients`);
        expect({ tenant, status: r.status, body: r.body }).toEqual({ tenant, status: 403, body: { error: 'access_denied', error_description: `operator acme-ops may not manage tenant ${tenant}` } });
      }
      expect((await scoped.post('/tenants', { id: 'sneaky' })).status).toBe(403);
    });
  });

  describe('54', () => {
    const INVALID_CLIENT = (tenant: string) => ({ status: 401, challenge: `Basic realm="${tenant}", charset="UTF-8"`, body: { error: 'invalid_client', error_description: 'client authentication failed' } });

    it.each(TENANTS)('54. a client of one tenant (%s) is unknown in the other, at every endpoint', async (home) => {
      const away = otherOf(home);
      const { web, spa } = clients[home];
      // Back-channel endpoints: the client does not authenticate.
      expect(view(await token(away, web, { grant_type: 'client_credentials' }))).toEqual(INVALID_CLIENT(away));
      expect(view(await post(path(away, 'token/introspect'), { token: 'x' }, web))).toEqual(INVALID_CLIENT(away));
      expect(view(await post(path(away, 'revoke'), { token: 'x' }, web))).toEqual(INVALID_CLIENT(away));
      expect(view(await post(path(away, 'ext/par/request'), { response_type: 'code', client_id: web.id, redirect_uri: REDIRECT }, web))).toEqual(INVALID_CLIENT(away));
      expect(view(await post(path(away, 'auth/device'), {}, web))).toEqual(INVALID_CLIENT(away));
      // A public client (no secret) is not known either.
      expect(view(await token(away, spa, { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT, code_verifier: 'x'.repeat(43) }))).toEqual(INVALID_CLIENT(away));
      // The authorization endpoint: an error page, never a redirect.
      const page = await new InjectBrowser(t.app).get(authUrl({ response_type: 'code', client_id: web.id, redirect_uri: REDIRECT, state: 's' }, path(away, 'auth')));
      expect({ status: page.statusCode, location: page.headers.location, alert: /role="alert">([^<]*)</.exec(mainOf(page.body))?.[1] }).toEqual({
        status: 400, location: undefined, alert: 'the client is not known',
      });
      // Logout naming it.
      const logout = await t.app.inject({ url: `${path(away, 'logout')}?${new URLSearchParams({ client_id: web.id, post_logout_redirect_uri: REDIRECT })}` });
      expect({ status: logout.statusCode, location: logout.headers.location }).toEqual({ status: 400, location: undefined });
      // And at home it works.
      expect((await token(home, web, { grant_type: 'client_credentials' })).statusCode).toBe(200);
    });

    it.each(TENANTS)('54. a user of one tenant (%s) cannot sign in to the other, even with the same username', async (home) => {
      const away = otherOf(home);
      const { web } = clients[away];
      // alice exists in both tenants; her password of one does not open the other.
      expect(jsonView(await token(away, web, { grant_type: 'password', username: 'alice', password: `${PASSWORD} ${home}` }))).toEqual({
        status: 400, body: { error: 'invalid_grant', error_description: 'invalid username or password' },
      });
      if (home === 'default') {
        expect(jsonView(await token(away, web, { grant_type: 'password', username: 'dora', password: PASSWORD }))).toEqual({
          status: 400, body: { error: 'invalid_grant', error_description: 'invalid username or password' },
        });
      }
      // Nor does her session: signed in at home, she meets the login page away, and prompt=none says login_required.
      const b = new InjectBrowser(t.app);
      const { challenge } = pkce();
      const at = (tenant: Tenant, extra: Record<string, string> = {}) =>
        authUrl({ response_type: 'code', client_id: clients[tenant].web.id, redirect_uri: REDIRECT, state: 's', code_challenge: challenge, code_challenge_method: 'S256', ...extra }, path(tenant, 'auth'));
      const signedIn = await drive(b, at(home), { password: `${PASSWORD} ${home}` });
      expect(redirectView(signedIn.res).query.code).toBeTruthy();
      expect(redirectView(await b.get(at(home, { prompt: 'none' }))).query.code).toBeTruthy();
      expect(redirectView(await b.get(at(away, { prompt: 'none' }))).query).toMatchObject({ error: 'login_required' });
      const awayPage = await b.get(at(away));
      expect(awayPage.body).toContain('name="password"');
      // The account page away sends her to sign in there; at home it is hers.
      const account = await b.get(`/realms/${away}/account`);
      expect({ status: account.statusCode, location: String(account.headers.location).split('?')[0] }).toEqual({ status: 302, location: `${PUBLIC_URL}${path(away, 'auth')}` });
    });

    it.each(TENANTS)('54. a code, a refresh token and a device code of one tenant (%s) fail in the other', async (home) => {
      const away = otherOf(home);
      // A code of home's client, presented to away's token endpoint by away's client.
      const { verifier, challenge } = pkce();
      const { res } = await drive(new InjectBrowser(t.app), authUrl({
        response_type: 'code', client_id: clients[home].web.id, redirect_uri: REDIRECT, scope: 'openid read:api', state: 's', code_challenge: challenge, code_challenge_method: 'S256',
      }, path(home, 'auth')), { password: `${PASSWORD} ${home}` });
      const code = redirectView(res).query.code;
      expect(code).toBeTruthy();
      expect(jsonView(await token(away, clients[away].web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }))).toEqual({
        status: 400, body: { error: 'invalid_grant', error_description: 'authorization code is invalid' },
      });
      // Refused away, the code still works at home (it was not spent).
      expect((await token(home, clients[home].web, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier })).statusCode).toBe(200);

      const { refresh_token } = await passwordTokens(home, clients[home].web);
      expect(jsonView(await token(away, clients[away].web, { grant_type: 'refresh_token', refresh_token }))).toEqual({
        status: 400, body: { error: 'invalid_grant', error_description: 'refresh token is invalid' },
      });
      expect((await token(home, clients[home].web, { grant_type: 'refresh_token', refresh_token })).statusCode).toBe(200);

      const device = await post(path(home, 'auth/device'), { scope: 'read:api' }, clients[home].web);
      expect(device.statusCode, device.body).toBe(200);
      const polled = jsonView(await token(away, clients[away].web, { grant_type: DEVICE_GRANT, device_code: device.json().device_code }));
      expect(polled).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'device code is invalid' } });
      expect(jsonView(await token(home, clients[home].web, { grant_type: DEVICE_GRANT, device_code: device.json().device_code })).body).toMatchObject({ error: 'authorization_pending' });
    });

    it.each(TENANTS)('54. access and ID tokens of one tenant (%s), JWT or opaque, are worthless in the other', async (home) => {
      const away = otherOf(home);
      for (const kind of ['web', 'opaque'] as const) {
        const tokens = await passwordTokens(home, clients[home][kind]);
        const label = { kind };
        // Resource endpoints of the other tenant refuse it.
        expect({ ...label, status: (await bearer(path(away, 'userinfo'), tokens.access_token)).statusCode }).toEqual({ ...label, status: 401 });
        expect({ ...label, status: (await bearer(path(away, 'validate'), tokens.access_token)).statusCode }).toEqual({ ...label, status: 401 });
        // Introspection there knows nothing of it.
        expect({ ...label, ...jsonView(await post(path(away, 'token/introspect'), { token: tokens.access_token }, clients[away].web)) }).toEqual({ ...label, status: 200, body: { active: false } });
        expect({ ...label, ...jsonView(await post(path(away, 'token/introspect'), { token: tokens.refresh_token }, clients[away].web)) }).toEqual({ ...label, status: 200, body: { active: false } });
        // Revocation there does nothing to it.
        expect((await post(path(away, 'revoke'), { token: tokens.access_token }, clients[away].web)).statusCode).toBe(200);
        expect((await post(path(away, 'revoke'), { token: tokens.refresh_token }, clients[away].web)).statusCode).toBe(200);
        expect({ ...label, status: (await bearer(path(home, 'userinfo'), tokens.access_token)).statusCode }).toEqual({ ...label, status: 200 });
        expect((await post(path(home, 'token/introspect'), { token: tokens.refresh_token }, clients[home][kind])).json()).toMatchObject({ active: true });
        // Token exchange there refuses it as a subject token.
        const exchanged = jsonView(await token(away, clients[away].exchanger, { grant_type: EXCHANGE, subject_token: tokens.access_token, subject_token_type: ACCESS_TOKEN_TYPE }));
        expect({ ...label, status: exchanged.status, error: exchanged.body.error }).toEqual({ ...label, status: 400, error: 'invalid_grant' });
        // An ID token of home is no hint for a logout away.
        const logout = await t.app.inject({ url: `${path(away, 'logout')}?${new URLSearchParams({ id_token_hint: tokens.id_token })}` });
        expect({ ...label, status: logout.statusCode, location: logout.headers.location }).toEqual({ ...label, status: 400, location: undefined });
      }
    });

    it("54. the default tenant's alias paths (Auth0, Pulsoid) belong to it alone; the legacy /auth prefix keeps tenants apart too", async () => {
      const acme = clients.acme;
      const tokens = await passwordTokens('acme', acme.opaque);
      for (const url of ['/oauth/token', '/oauth2/token']) {
        expect({ url, ...view(await post(url, { grant_type: 'client_credentials' }, acme.web)) }).toEqual({ url, ...INVALID_CLIENT('default') });
      }
      for (const url of ['/oauth/revoke', '/oauth2/revoke']) {
        expect({ url, ...view(await post(url, { token: tokens.access_token }, acme.web)) }).toEqual({ url, ...INVALID_CLIENT('default') });
      }
      for (const url of ['/userinfo', '/oauth2/validate', '/auth/realms/default/protocol/openid-connect/userinfo']) {
        expect({ url, status: (await bearer(url, tokens.access_token)).statusCode }).toEqual({ url, status: 401 });
      }
      expect(view(await post('/auth/realms/default/protocol/openid-connect/token', { grant_type: 'client_credentials' }, acme.web))).toEqual(INVALID_CLIENT('default'));
      // Under its own legacy path the acme token is fine.
      expect((await bearer('/auth/realms/acme/protocol/openid-connect/userinfo', tokens.access_token)).statusCode).toBe(200);
    });

    it('54. dynamic client registration: an initial access token and a registration access token of one tenant are worthless in the other', async () => {
      for (const tenant of TENANTS) await updateTenant(t.deps, tenant, { dcr: { enabled: true, open: false } });
      const register = (tenant: string, bearer: string) =>
        t.app.inject({
          method: 'POST', url: `/realms/${tenant}/clients-registrations/openid-connect`, payload: JSON.stringify({ client_name: 'Photo App', redirect_uris: [REDIRECT] }),
          headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
        });
      const initial = (await createInitialToken(t.deps, 'default', {})).token;
      const away = await register('acme', initial);
      expect(jsonView(away)).toEqual({ status: 401, body: { error: 'invalid_token', error_description: 'the initial access token is invalid, expired, revoked or used up' } });
      const home = await register('default', initial);
      expect(home.statusCode, home.body).toBe(201);
      const { client_id: clientId, registration_access_token: rat } = home.json() as { client_id: string; registration_access_token: string };
      // The registered client's management URL, under the other tenant, with its registration access token.
      const read = (tenant: string) =>
        t.app.inject({ url: `/realms/${tenant}/clients-registrations/openid-connect/${clientId}`, headers: { authorization: `Bearer ${rat}` } });
      expect(jsonView(await read('acme'))).toEqual({ status: 401, body: { error: 'invalid_token', error_description: 'the registration access token is invalid' } });
      expect((await read('default')).statusCode).toBe(200);
      for (const tenant of TENANTS) await updateTenant(t.deps, tenant, { dcr: { enabled: false } });
    });

    it('54. the tenants sign with keys of their own and publish only their own', async () => {
      const kids = async (tenant: string) => ((await t.app.inject({ url: path(tenant, 'certs') })).json().keys as { kid: string }[]).map((k) => k.kid);
      const [a, b] = await Promise.all([kids('default'), kids('acme')]);
      expect(a.filter((k) => b.includes(k))).toEqual([]);
      const discovery = (tenant: string) => t.app.inject({ url: `/realms/${tenant}/.well-known/openid-configuration` });
      expect((await discovery('acme')).json().issuer).toBe(`${PUBLIC_URL}/realms/acme`);
    });
  });
});
