/**
 * Keycloak's not-before policy (`tessera revoke-before`): tokens of a tenant, or of one
 * client, issued before the policy stop working at userinfo and at the refresh grant; tokens
 * issued after it work; every token response names the policy as `not-before-policy`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/manage/clients.js';
import { revokeBefore } from '../src/manage/not_before.js';
import { createTenant } from '../src/manage/tenants.js';
import { createUser } from '../src/manage/users.js';
import { BACKENDS, FakeClock, startTestApp, type TestApp } from './helpers.js';
import { authUrl, drive, InjectBrowser, invalidGrant, jsonView, PASSWORD, pkce, redirectView, tokenRequest, type TestClient } from './security/support.js';

const REDIRECT = 'https://app.example/cb';
const SCOPE = 'openid offline_access';
const paths = (tenant: string) => ({
  auth: `/realms/${tenant}/protocol/openid-connect/auth`,
  token: `/realms/${tenant}/protocol/openid-connect/token`,
  userinfo: `/realms/${tenant}/protocol/openid-connect/userinfo`,
});

describe.each(BACKENDS)('not-before policy on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  let web: TestClient;
  let opaque: TestClient;
  let other: TestClient;
  let svc: TestClient;
  let acmeWeb: TestClient;
  let acmeSvc: TestClient;
  const users: Record<string, string> = {};

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    await createTenant(t.deps, { id: 'acme' });
    const mk = async (tenant: string, input: Parameters<typeof createClient>[2]) => {
      const c = await createClient(t.deps, tenant, { redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'], consent: 'skip', ...input }, 86400);
      return { id: c.client.clientId, secret: c.secret };
    };
    web = await mk('default', { name: 'Web' });
    opaque = await mk('default', { name: 'Opaque', accessTokenFormat: 'opaque' });
    other = await mk('default', { name: 'Other' });
    svc = await mk('default', { name: 'Service', grantTypes: ['client_credentials'] });
    acmeWeb = await mk('acme', { name: 'Acme Web' });
    acmeSvc = await mk('acme', { name: 'Acme Service', grantTypes: ['client_credentials'] });
    users.default = (await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD })).id;
    users.acme = (await createUser(t.deps, 'acme', { username: 'alice', password: PASSWORD })).id;
  });
  afterAll(() => t?.close());

  async function tokensFor(client: TestClient, tenant = 'default') {
    const { verifier, challenge } = pkce();
    const { res } = await drive(
      new InjectBrowser(t.app),
      authUrl({ response_type: 'code', client_id: client.id, redirect_uri: REDIRECT, scope: SCOPE, state: 's', code_challenge: challenge, code_challenge_method: 'S256' }, paths(tenant).auth),
    );
    const code = redirectView(res).query.code;
    expect(code, JSON.stringify(redirectView(res))).toBeTruthy();
    return tokenRequest(t.app, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, paths(tenant).token);
  }
  const tokens = (notBefore: number) => ({
    status: 200,
    body: {
      access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600, refresh_token: expect.any(String), scope: SCOPE, id_token: expect.any(String),
      'not-before-policy': notBefore,
    },
  });
  const refreshed = tokens;
  const userinfo = (token: string, tenant = 'default') => t.app.inject({ url: paths(tenant).userinfo, headers: { authorization: `Bearer ${token}` } });
  const refresh = (client: TestClient, refreshToken: string, tenant = 'default') => tokenRequest(t.app, client, { grant_type: 'refresh_token', refresh_token: refreshToken }, paths(tenant).token);
  const serverToken = (client: TestClient, tenant = 'default') => tokenRequest(t.app, client, { grant_type: 'client_credentials' }, paths(tenant).token);
  const inactive = (tenant = 'default') => ({
    status: 401,
    body: { error: 'invalid_token', error_description: 'the access token is invalid, expired or revoked' },
    challenge: `Bearer realm="${tenant}", error="invalid_token", error_description="the access token is invalid, expired or revoked"`,
  });
  const bearerView = (res: Awaited<ReturnType<typeof userinfo>>) =>
    res.statusCode === 200 ? { status: 200, body: res.json() } : { status: res.statusCode, body: res.json(), challenge: res.headers['www-authenticate'] };
  const BEFORE = invalidGrant('token was issued before the not-before policy');

  it('answers not-before-policy 0 in every grant\'s response while there is no policy', async () => {
    const first = await tokensFor(web);
    expect(jsonView(first)).toEqual(tokens(0));
    expect(jsonView(await refresh(web, first.json().refresh_token))).toEqual(refreshed(0));
    expect(jsonView(await serverToken(svc))).toEqual({ status: 200, body: { access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600, 'not-before-policy': 0 } });
  });

  it('a tenant policy makes earlier tokens inactive at userinfo and refresh; later tokens work and every response carries it', async () => {
    const before = (await tokensFor(acmeWeb, 'acme')).json();
    const elsewhere = (await tokensFor(web)).json();
    expect(bearerView(await userinfo(before.access_token, 'acme'))).toEqual({ status: 200, body: { sub: users.acme } });
    clock.advance(30);

    const policy = await revokeBefore(t.deps, 'acme', { time: 'now' });
    // `now` covers the whole current second: a token minted earlier in it is earlier than the command.
    const notBefore = Math.floor(clock.ms / 1000) + 1;
    expect(policy).toEqual({ tenant: 'acme', notBefore });
    expect(bearerView(await userinfo(before.access_token, 'acme'))).toEqual(inactive('acme'));
    expect(jsonView(await refresh(acmeWeb, before.refresh_token, 'acme'))).toEqual(BEFORE);
    expect(jsonView(await serverToken(acmeSvc, 'acme'))).toEqual({
      status: 200, body: { access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600, 'not-before-policy': notBefore },
    });
    // Another tenant is untouched.
    expect(bearerView(await userinfo(elsewhere.access_token))).toEqual({ status: 200, body: { sub: users.default } });
    expect(jsonView(await refresh(web, elsewhere.refresh_token))).toEqual(refreshed(0));

    clock.advance(1);
    const after = await tokensFor(acmeWeb, 'acme');
    expect(jsonView(after)).toEqual(tokens(notBefore));
    expect(bearerView(await userinfo(after.json().access_token, 'acme'))).toEqual({ status: 200, body: { sub: users.acme } });
    const next = await refresh(acmeWeb, after.json().refresh_token, 'acme');
    expect(jsonView(next)).toEqual(refreshed(notBefore));
    expect(bearerView(await userinfo(next.json().access_token, 'acme'))).toEqual({ status: 200, body: { sub: users.acme } });
  });

  it('a client policy affects only that client, for JWT and opaque access tokens alike', async () => {
    const [w, o, x] = [(await tokensFor(web)).json(), (await tokensFor(opaque)).json(), (await tokensFor(other)).json()];
    clock.advance(30);
    const at = Math.floor(clock.ms / 1000) - 10;
    expect(await revokeBefore(t.deps, 'default', { clientId: web.id, time: at })).toEqual({ tenant: 'default', clientId: web.id, notBefore: at });
    await revokeBefore(t.deps, 'default', { clientId: opaque.id });
    const opaquePolicy = Math.floor(clock.ms / 1000) + 1;

    expect(bearerView(await userinfo(w.access_token))).toEqual(inactive());
    expect(jsonView(await refresh(web, w.refresh_token))).toEqual(BEFORE);
    expect(bearerView(await userinfo(o.access_token))).toEqual(inactive());
    expect(jsonView(await refresh(opaque, o.refresh_token))).toEqual(BEFORE);
    // The other client of the tenant keeps its tokens, and its responses say 0.
    expect(bearerView(await userinfo(x.access_token))).toEqual({ status: 200, body: { sub: users.default } });
    expect(jsonView(await refresh(other, x.refresh_token))).toEqual(refreshed(0));

    // An explicit time in the past spares tokens issued since.
    const fresh = await tokensFor(web);
    expect(jsonView(fresh)).toEqual(tokens(at));
    expect(bearerView(await userinfo(fresh.json().access_token))).toEqual({ status: 200, body: { sub: users.default } });
    clock.advance(1);
    const freshOpaque = await tokensFor(opaque);
    expect(jsonView(freshOpaque)).toEqual(tokens(opaquePolicy));
    expect(bearerView(await userinfo(freshOpaque.json().access_token))).toEqual({ status: 200, body: { sub: users.default } });
  });

  it('0 lifts a policy; a bad time or an unknown client is refused; each policy is an audit event', async () => {
    const old = (await tokensFor(other)).json();
    clock.advance(5);
    await revokeBefore(t.deps, 'default', { clientId: other.id });
    expect(bearerView(await userinfo(old.access_token))).toEqual(inactive());
    expect(await revokeBefore(t.deps, 'default', { clientId: other.id, time: 0 })).toEqual({ tenant: 'default', clientId: other.id, notBefore: 0 });
    expect(bearerView(await userinfo(old.access_token))).toEqual({ status: 200, body: { sub: users.default } });

    await expect(revokeBefore(t.deps, 'default', { time: -1 })).rejects.toThrow('the time must be now or whole seconds since the epoch');
    await expect(revokeBefore(t.deps, 'default', { clientId: 'nope' })).rejects.toThrow('tenant default has no client nope');
    await expect(revokeBefore(t.deps, 'nowhere', {})).rejects.toThrow('tenant nowhere does not exist');

    const { events } = await t.storage.audit.list('default', { type: 'token.revoked', limit: 2 });
    expect(events).toEqual([
      { id: expect.any(String), tenantId: 'default', type: 'token.revoked', at: Math.floor(clock.ms / 1000), actor: 'operator', clientId: other.id, userId: null, ip: null, detail: { reason: 'not_before_policy', not_before: 0 } },
      { id: expect.any(String), tenantId: 'default', type: 'token.revoked', at: Math.floor(clock.ms / 1000), actor: 'operator', clientId: other.id, userId: null, ip: null, detail: { reason: 'not_before_policy', not_before: Math.floor(clock.ms / 1000) + 1 } },
    ]);
  });
});
