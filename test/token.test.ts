import { createHash } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../src/manage/apis.js';
import { createClient } from '../src/manage/clients.js';
import { createTenant } from '../src/manage/tenants.js';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS, basic, form, FORM_HEADERS, PUBLIC_URL, startTestApp, type TestApp } from './helpers.js';

const ISSUER = `${PUBLIC_URL}/realms/default`;
const TOKEN = '/realms/default/protocol/openid-connect/token';
const CHALLENGE = { 'www-authenticate': 'Basic realm="default", charset="UTF-8"' };

describe.each(BACKENDS)('token endpoint, client_credentials, on %s', (backend) => {
  let t: TestApp;
  let cc: { id: string; secret: string };
  let opaque: { id: string; secret: string };
  let codeOnly: { id: string; secret: string };
  let publicId: string;

  const make = async (input: Parameters<typeof createClient>[2], tenant = 'default') => {
    const { client, secret } = await createClient(t.deps, tenant, input, 86400);
    return { id: client.clientId, secret: secret! };
  };
  const post = (body: string, headers: Record<string, string> = {}, url = TOKEN) =>
    t.app.inject({ method: 'POST', url, payload: body, headers: { ...FORM_HEADERS, ...headers } });
  const ccPost = (fields: Record<string, string | string[]>, url = TOKEN) =>
    post(form({ grant_type: 'client_credentials', ...fields }), { authorization: basic(cc.id, cc.secret) }, url);
  const jwks = async () => createLocalJWKSet((await t.app.inject({ url: '/realms/default/protocol/openid-connect/certs' })).json());

  beforeAll(async () => {
    t = await startTestApp(backend);
    await createApi(t.deps, 'default', { audience: 'https://api.loomai.com/', scopes: ['read:avatars=Read your avatars', 'write:avatars'], accessTokenTtl: 900 }, 86400);
    await createApi(t.deps, 'default', { audience: 'https://pulsoid.example/', scopes: ['data:heart_rate:read'] }, 86400);
    cc = await make({ name: 'svc', grantTypes: ['client_credentials'], scopes: ['read:avatars', 'write:avatars', 'data:heart_rate:read', 'tenant:level'] });
    opaque = await make({ name: 'svc-opaque', grantTypes: ['client_credentials'], scopes: ['read:avatars'], accessTokenFormat: 'opaque', accessTokenTtl: 120 });
    codeOnly = await make({ name: 'web', grantTypes: ['authorization_code'], redirectUris: ['https://app.example/cb'] });
    publicId = (await createClient(t.deps, 'default', { name: 'spa', public: true, redirectUris: ['https://spa.example/cb'] }, 86400)).client.clientId;
  });
  afterAll(() => t?.close());

  it('issues an RFC 9068 JWT access token that verifies against the JWKS', async () => {
    const res = await ccPost({ scope: 'read:avatars' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers.pragma).toBe('no-cache');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = res.json();
    expect(body).toEqual({ access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 900, scope: 'read:avatars' });
    const { payload, protectedHeader } = await jwtVerify(body.access_token, await jwks(), { issuer: ISSUER, typ: 'at+jwt', audience: 'https://api.loomai.com/' });
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: expect.any(String) });
    expect(payload).toEqual({
      iss: ISSUER, sub: cc.id, aud: 'https://api.loomai.com/', client_id: cc.id, scope: 'read:avatars',
      iat: expect.any(Number), exp: payload.iat! + 900, jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
    });
  });

  it('gives each token its own jti', async () => {
    const a = (await ccPost({})).json().access_token;
    const b = (await ccPost({})).json().access_token;
    const jti = async (tok: string) => (await jwtVerify(tok, await jwks())).payload.jti;
    expect(await jti(a)).not.toBe(await jti(b));
  });

  it('accepts client_secret_post as well as Basic', async () => {
    const res = await post(form({ grant_type: 'client_credentials', client_id: cc.id, client_secret: cc.secret, scope: 'write:avatars' }));
    expect(res.statusCode).toBe(200);
    expect(res.json().scope).toBe('write:avatars');
  });

  it('selects the API by audience (Auth0) and grants only its scopes when none are named', async () => {
    const res = await ccPost({ audience: 'https://api.loomai.com/' });
    expect(res.json()).toEqual({ access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 900, scope: 'read:avatars write:avatars tenant:level' });
    const { payload } = await jwtVerify(res.json().access_token, await jwks());
    expect(payload.aud).toBe('https://api.loomai.com/');
  });

  it('selects APIs by repeated resource parameters (RFC 8707) with an aud array', async () => {
    const res = await ccPost({ resource: ['https://api.loomai.com/', 'https://pulsoid.example/'], scope: 'read:avatars data:heart_rate:read' });
    expect(res.statusCode).toBe(200);
    const { payload } = await jwtVerify(res.json().access_token, await jwks());
    expect(payload.aud).toEqual(['https://api.loomai.com/', 'https://pulsoid.example/']);
    expect(res.json().expires_in).toBe(900);
  });

  it('infers the API from the scopes when no audience is named', async () => {
    const res = await ccPost({ scope: 'data:heart_rate:read' });
    expect(res.json()).toEqual({ access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'data:heart_rate:read' });
    expect((await jwtVerify(res.json().access_token, await jwks())).payload.aud).toBe('https://pulsoid.example/');
  });

  it("uses the tenant's default audience for scopes no API defines", async () => {
    const res = await ccPost({ scope: 'tenant:level' });
    expect((await jwtVerify(res.json().access_token, await jwks())).payload.aud).toBe(`${ISSUER}/api`);
  });

  it('issues opaque tokens stored only as a digest, with the client lifetime', async () => {
    const before = Date.now();
    const res = await post(form({ grant_type: 'client_credentials' }), { authorization: basic(opaque.id, opaque.secret) });
    // A millisecond time prefix (12 hex digits), then 256 random bits.
    expect(res.json()).toEqual({ access_token: expect.stringMatching(/^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 120, scope: 'read:avatars' });
    const token: string = res.json().access_token;
    expect(parseInt(token.slice(0, 12), 16)).toBeGreaterThanOrEqual(before);
    expect(parseInt(token.slice(0, 12), 16)).toBeLessThanOrEqual(Date.now());
    const stored = await t.storage.accessTokens.find(storageKey(token));
    expect(storageKey(token)).toBe(token.slice(0, 12) + createHash('sha256').update(token).digest('base64url'));
    expect(stored).toEqual({
      digest: storageKey(token), tenantId: 'default', grantId: `cc.${opaque.id}`, clientId: opaque.id, subject: opaque.id,
      scope: 'read:avatars', audience: ['https://api.loomai.com/'], issuedAt: expect.any(Number), expiresAt: stored!.issuedAt + 120, revokedAt: null,
    });
    expect(await t.storage.accessTokens.find(res.json().access_token)).toBeUndefined();
  });

  it('serves the same tokens on the legacy and default-tenant aliases', async () => {
    for (const url of ['/auth/realms/default/protocol/openid-connect/token', '/oauth/token', '/oauth2/token']) {
      const res = await ccPost({ scope: 'read:avatars' }, url);
      expect(res.statusCode, url).toBe(200);
      expect((await jwtVerify(res.json().access_token, await jwks(), { issuer: ISSUER })).payload.iss).toBe(ISSUER);
    }
  });

  it('accepts comma-separated scopes on /oauth2/ aliases only', async () => {
    expect((await ccPost({ scope: 'read:avatars,write:avatars' }, '/oauth2/token')).json().scope).toBe('read:avatars write:avatars');
    const res = await ccPost({ scope: 'read:avatars,write:avatars' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'invalid_scope', error_description: 'the client may not request scope read:avatars,write:avatars' });
  });

  describe('errors', () => {
    const expectError = (res: Awaited<ReturnType<typeof post>>, status: number, body: object, headers: object = {}) => {
      expect({ status: res.statusCode, body: res.json() }).toEqual({ status, body });
      expect(res.headers).toMatchObject({ 'cache-control': 'no-store', ...headers });
    };

    it('wrong secret → 401 invalid_client with a Basic challenge', async () => {
      expectError(await post(form({ grant_type: 'client_credentials' }), { authorization: basic(cc.id, 'wrong') }), 401,
        { error: 'invalid_client', error_description: 'client authentication failed' }, CHALLENGE);
    });

    it('unknown client → 401 invalid_client, the same answer as a wrong secret', async () => {
      expectError(await post(form({ grant_type: 'client_credentials' }), { authorization: basic('nobody', 'x') }), 401,
        { error: 'invalid_client', error_description: 'client authentication failed' }, CHALLENGE);
    });

    it('no client authentication → 401 invalid_client', async () => {
      expectError(await post(form({ grant_type: 'client_credentials' })), 401,
        { error: 'invalid_client', error_description: 'client authentication is required' }, CHALLENGE);
    });

    it('a confidential client without its secret → 401 invalid_client', async () => {
      expectError(await post(form({ grant_type: 'client_credentials', client_id: cc.id })), 401,
        { error: 'invalid_client', error_description: 'client authentication failed' }, CHALLENGE);
    });

    it('credentials in both the header and the body → invalid_request', async () => {
      expectError(await post(form({ grant_type: 'client_credentials', client_secret: cc.secret }), { authorization: basic(cc.id, cc.secret) }), 400,
        { error: 'invalid_request', error_description: 'client credentials were given both in the authorization header and in the body' });
    });

    it('a body client_id that differs from the header → invalid_request', async () => {
      expectError(await post(form({ grant_type: 'client_credentials', client_id: opaque.id }), { authorization: basic(cc.id, cc.secret) }), 400,
        { error: 'invalid_request', error_description: 'client_id in the body does not match the authorization header' });
    });

    it('missing grant_type → invalid_request', async () => {
      expectError(await post('', { authorization: basic(cc.id, cc.secret) }), 400, { error: 'invalid_request', error_description: 'grant_type is required' });
    });

    it('unknown grant → unsupported_grant_type', async () => {
      expectError(await post(form({ grant_type: 'urn:example:magic' }), { authorization: basic(cc.id, cc.secret) }), 400,
        { error: 'unsupported_grant_type', error_description: 'grant type urn:example:magic is not supported' });
    });

    it('a grant the client may not use → unauthorized_client', async () => {
      expectError(await post(form({ grant_type: 'client_credentials' }), { authorization: basic(codeOnly.id, codeOnly.secret) }), 400,
        { error: 'unauthorized_client', error_description: 'the client is not allowed to use the client_credentials grant' });
    });

    it('a public client cannot use client_credentials', async () => {
      // The registration refuses it outright; a public client presenting a secret is not authenticated either.
      expectError(await post(form({ grant_type: 'client_credentials', client_id: publicId })), 400,
        { error: 'unauthorized_client', error_description: 'the client is not allowed to use the client_credentials grant' });
      expectError(await post(form({ grant_type: 'client_credentials', client_id: publicId, client_secret: 'x' })), 401,
        { error: 'invalid_client', error_description: 'client authentication failed' }, CHALLENGE);
    });

    it('duplicate parameters → invalid_request (RFC 6749 §3.2)', async () => {
      expectError(await post('grant_type=client_credentials&scope=read:avatars&scope=write:avatars', { authorization: basic(cc.id, cc.secret) }), 400,
        { error: 'invalid_request', error_description: 'parameter scope must not be repeated' });
      expectError(await post('grant_type=client_credentials&grant_type=client_credentials', { authorization: basic(cc.id, cc.secret) }), 400,
        { error: 'invalid_request', error_description: 'parameter grant_type must not be repeated' });
    });

    it('a JSON body → invalid_request', async () => {
      const res = await t.app.inject({ method: 'POST', url: TOKEN, payload: { grant_type: 'client_credentials' }, headers: { authorization: basic(cc.id, cc.secret) } });
      expectError(res, 400, { error: 'invalid_request', error_description: 'the request body must be application/x-www-form-urlencoded' });
    });

    it('an unsupported content type → invalid_request', async () => {
      expectError(await post('grant_type=client_credentials', { 'content-type': 'text/plain', authorization: basic(cc.id, cc.secret) }), 400,
        { error: 'invalid_request', error_description: 'the request body must be application/x-www-form-urlencoded' });
      expectError(await post('<grant_type/>', { 'content-type': 'application/xml', authorization: basic(cc.id, cc.secret) }), 400,
        { error: 'invalid_request', error_description: 'content type "application/xml" is not supported here' });
    });

    it('a malformed JSON body → invalid_request, not 500', async () => {
      expectError(await post('{"grant_type":', { 'content-type': 'application/json' }), 400, { error: 'invalid_request', error_description: 'malformed request' });
    });

    it('an oversized body → invalid_request', async () => {
      expectError(await post(`grant_type=client_credentials&scope=${'a'.repeat(70_000)}`, { authorization: basic(cc.id, cc.secret) }), 400,
        { error: 'invalid_request', error_description: 'request body is too large' });
    });

    it('a malformed Basic header → invalid_request', async () => {
      expectError(await post(form({ grant_type: 'client_credentials' }), { authorization: 'Basic bm9jb2xvbg==' }), 400,
        { error: 'invalid_request', error_description: 'malformed client credentials in the authorization header' });
      expectError(await post(form({ grant_type: 'client_credentials' }), { authorization: `Basic ${Buffer.from('%E0%A4%A:x').toString('base64')}` }), 400,
        { error: 'invalid_request', error_description: 'malformed client credentials in the authorization header' });
    });

    it('a scope the client may not request → invalid_scope', async () => {
      expectError(await post(form({ grant_type: 'client_credentials', scope: 'read:avatars admin' }), { authorization: basic(cc.id, cc.secret) }), 400,
        { error: 'invalid_scope', error_description: 'the client may not request scope admin' });
    });

    it('openid and offline_access need a user → invalid_scope', async () => {
      expectError(await ccPost({ scope: 'openid' }), 400, { error: 'invalid_scope', error_description: 'scope openid needs a user and cannot be granted with client_credentials' });
    });

    it('a malformed scope → invalid_scope', async () => {
      expectError(await ccPost({ scope: 'read:"avatars"' }), 400, { error: 'invalid_scope', error_description: 'scope "read:\\"avatars\\"" is malformed' });
    });

    it('a scope of another API than the requested audience → invalid_scope', async () => {
      expectError(await ccPost({ audience: 'https://api.loomai.com/', scope: 'data:heart_rate:read' }), 400,
        { error: 'invalid_scope', error_description: 'scope data:heart_rate:read belongs to https://pulsoid.example/, not to the requested audience' });
    });

    it('an unknown audience or resource → invalid_target', async () => {
      expectError(await ccPost({ audience: 'https://nowhere.example/' }), 400, { error: 'invalid_target', error_description: '"https://nowhere.example/" is not an API of this tenant' });
      expectError(await ccPost({ resource: 'https://nowhere.example/' }), 400, { error: 'invalid_target', error_description: '"https://nowhere.example/" is not an API of this tenant' });
    });

    it('audience and resource together → invalid_request', async () => {
      expectError(await ccPost({ audience: 'https://api.loomai.com/', resource: 'https://api.loomai.com/' }), 400,
        { error: 'invalid_request', error_description: 'give either audience or resource, not both' });
    });

    it('GET on the token endpoint → 405', async () => {
      const res = await t.app.inject({ method: 'GET', url: TOKEN });
      expectError(res, 405, { error: 'method_not_allowed', error_description: 'use POST for this endpoint' }, { allow: 'POST' });
    });

    it('a token endpoint under an unknown tenant → 404 JSON', async () => {
      expectError(await ccPost({}, '/realms/nowhere/protocol/openid-connect/token'), 404, { error: 'not_found', error_description: 'tenant "nowhere" does not exist' });
    });

    it('an unknown path → 404 JSON', async () => {
      expectError(await t.app.inject({ url: '/nothing/here?x=1' }), 404, { error: 'not_found', error_description: 'no endpoint at GET /nothing/here' });
    });
  });

  describe('tenant isolation (SECURITY-CHECKLIST 54)', () => {
    it("a client of one tenant cannot get tokens at another tenant's endpoint", async () => {
      await createTenant(t.deps, { id: 'acme' });
      const acme = await make({ name: 'acme-svc', grantTypes: ['client_credentials'] }, 'acme');
      const res = await post(form({ grant_type: 'client_credentials' }), { authorization: basic(acme.id, acme.secret) });
      expect(res.statusCode).toBe(401);
      const own = await post(form({ grant_type: 'client_credentials' }), { authorization: basic(acme.id, acme.secret) }, '/realms/acme/protocol/openid-connect/token');
      expect(own.statusCode).toBe(200);
      const token = own.json().access_token;
      const acmeKeys = createLocalJWKSet((await t.app.inject({ url: '/realms/acme/protocol/openid-connect/certs' })).json());
      expect((await jwtVerify(token, acmeKeys)).payload.iss).toBe(`${PUBLIC_URL}/realms/acme`);
      // The default tenant's keys do not verify acme's token.
      const kid = decodeProtectedHeader(token).kid;
      expect((await t.app.inject({ url: '/realms/default/protocol/openid-connect/certs' })).json().keys.map((k: { kid: string }) => k.kid)).not.toContain(kid);
      await expect(jwtVerify(token, await jwks())).rejects.toThrow();
    });
  });
});
