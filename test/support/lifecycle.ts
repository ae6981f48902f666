/**
 * The world of the token-lifecycle tests (revocation, introspection, validate): clients of
 * every kind, two APIs with resource-server credentials, users in two tenants, and helpers
 * that obtain tokens the way apps do — through the sign-in pages and the token endpoint.
 */
import type { LightMyRequestResponse } from 'fastify';
import { decodeJwt } from 'jose';
import { expect } from 'vitest';
import { createApiWithSecret } from '../../src/manage/apis.js';
import { createClient } from '../../src/manage/clients.js';
import { createTenant } from '../../src/manage/tenants.js';
import { createUser } from '../../src/manage/users.js';
import { FakeClock, FORM_HEADERS, basic, form, startTestApp, type TestApp } from '../helpers.js';
import { authUrl, drive, InjectBrowser, ISSUER, PASSWORD, pkce, redirectView, tokenRequest, type TestClient } from '../security/support.js';

export const REDIRECT = 'https://app.example/cb';
export const APP_ORIGIN = 'https://app.example';
export const AVATARS = 'https://api.loomai.com/';
export const STATS = 'https://stats.example/';
export const REVOKE = '/realms/default/protocol/openid-connect/revoke';
export const INTROSPECT = '/realms/default/protocol/openid-connect/token/introspect';
export const VALIDATE = '/realms/default/protocol/openid-connect/validate';
export const ACME_TOKEN = '/realms/acme/protocol/openid-connect/token';
const ACME_AUTH = '/realms/acme/protocol/openid-connect/auth';

export const INACTIVE = { status: 200, body: { active: false } };

export async function lifecycleWorld(backend: 'sqlite' | 'postgres') {
  const clock = new FakeClock();
  const t: TestApp = await startTestApp(backend, { clock });
  const avatars = await createApiWithSecret(t.deps, 'default', { audience: AVATARS, scopes: ['read:avatars', 'write:avatars'] }, 86400);
  const stats = await createApiWithSecret(t.deps, 'default', { audience: STATS, scopes: ['read:stats'] }, 86400);
  const mk = async (tenant: string, input: Parameters<typeof createClient>[2]): Promise<TestClient> => {
    const c = await createClient(t.deps, tenant, { redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'], scopes: ['read:avatars', 'write:avatars', 'read:stats'], ...input }, 86400);
    return { id: c.client.clientId, secret: c.secret };
  };
  const clients = {
    /** Confidential, JWT access tokens. */
    web: await mk('default', { name: 'Avatar Studio', corsOrigins: [APP_ORIGIN] }),
    /** Confidential, opaque access tokens. */
    opaque: await mk('default', { name: 'Opaque App', accessTokenFormat: 'opaque' }),
    /** Public (PKCE), JWT access tokens. */
    spa: await mk('default', { name: 'Public SPA', public: true }),
    other: await mk('default', { name: 'Other App' }),
    /** client_credentials, JWT. */
    svc: await mk('default', { name: 'Service', grantTypes: ['client_credentials'] }),
    /** client_credentials, opaque. */
    svcOpaque: await mk('default', { name: 'Opaque Service', grantTypes: ['client_credentials'], accessTokenFormat: 'opaque' }),
  };
  const aliceId = (await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD, name: 'Alice' })).id;
  await createTenant(t.deps, { id: 'acme' });
  const acme = await mk('acme', { name: 'Acme App', scopes: [] });
  const acmeAliceId = (await createUser(t.deps, 'acme', { username: 'alice', password: PASSWORD })).id;

  /** Signs in as alice, consents, and redeems the code: the token response. */
  async function tokensFor(client: TestClient, scope: string, opts: { tenant?: 'acme' } = {}): Promise<Record<string, string>> {
    const b = new InjectBrowser(t.app);
    const { verifier, challenge } = pkce();
    const { res } = await drive(
      b,
      authUrl({ response_type: 'code', client_id: client.id, redirect_uri: REDIRECT, scope, state: 's', code_challenge: challenge, code_challenge_method: 'S256' }, opts.tenant ? ACME_AUTH : undefined),
    );
    const code = redirectView(res).query.code;
    expect(code, JSON.stringify(redirectView(res))).toBeTruthy();
    const tokens = await tokenRequest(t.app, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, opts.tenant ? ACME_TOKEN : undefined);
    expect(tokens.statusCode, tokens.body).toBe(200);
    return tokens.json();
  }

  async function serviceToken(client: TestClient, scope = 'read:avatars'): Promise<string> {
    const res = await tokenRequest(t.app, client, { grant_type: 'client_credentials', scope });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().access_token;
  }

  const refresh = (client: TestClient, refreshToken: string) => tokenRequest(t.app, client, { grant_type: 'refresh_token', refresh_token: refreshToken });
  const revoke = (client: TestClient, fields: Record<string, string | undefined>, url = REVOKE) => tokenRequest(t.app, client, fields, url);
  const introspect = (caller: TestClient, fields: Record<string, string | undefined>, url = INTROSPECT) => tokenRequest(t.app, caller, fields, url);
  const validate = (token: string | undefined, opts: { scheme?: string; url?: string } = {}) =>
    t.app.inject({ url: opts.url ?? VALIDATE, headers: token === undefined ? {} : { authorization: `${opts.scheme ?? 'Bearer'} ${token}` } });
  /** A bare form POST, with whatever headers are given. */
  const post = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url, headers: { ...FORM_HEADERS, ...headers }, payload: form(fields) });

  /** The introspection of an active JWT access token, whole (RFC 7662 §2.2). */
  const activeJwt = (token: string, clientId: string, sub: string) => {
    const c = decodeJwt(token);
    return {
      status: 200,
      body: { active: true, ...(c.scope !== undefined && { scope: c.scope }), client_id: clientId, sub, aud: c.aud, exp: c.exp, iat: c.iat, iss: ISSUER, token_type: 'Bearer', jti: c.jti },
    };
  };

  return {
    t, clock, clients: { ...clients, acme }, apis: { avatars: { id: avatars.api.id, secret: avatars.secret }, stats: { id: stats.api.id, secret: stats.secret } },
    aliceId, acmeAliceId, tokensFor, serviceToken, refresh, revoke, introspect, validate, post, activeJwt, basic,
  };
}

export type LifecycleWorld = Awaited<ReturnType<typeof lifecycleWorld>>;

/** Status, Cache-Control and the raw body: what a revocation answers. */
export const revokeView = (res: LightMyRequestResponse) => ({ status: res.statusCode, cacheControl: res.headers['cache-control'], body: res.body });
export const REVOKED_OK = { status: 200, cacheControl: 'no-store', body: '' };

export const jsonWithHeaders = (res: LightMyRequestResponse) => ({ status: res.statusCode, challenge: res.headers['www-authenticate'], body: res.json() });

/** What /validate answers for a token it does not accept. */
export const INVALID_TOKEN = {
  status: 401,
  challenge: 'Bearer realm="default", error="invalid_token", error_description="the access token is invalid, expired or revoked"',
  body: { error: 'invalid_token', error_description: 'the access token is invalid, expired or revoked' },
};
