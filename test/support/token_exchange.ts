/**
 * The world of the token-exchange tests (RFC 8693): apps that hold user tokens, exchangers
 * with different policies, a service with client-credentials tokens, three APIs, and alice
 * in two tenants. User tokens come from the password grant (the quickest honest way to a
 * user's access, refresh and ID tokens); the clock is fake so expiry needs no sleeping.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { createApi } from '../../src/manage/apis.js';
import { createClient } from '../../src/manage/clients.js';
import { createTenant } from '../../src/manage/tenants.js';
import { createUser } from '../../src/manage/users.js';
import { FakeClock, PUBLIC_URL, startTestApp } from '../helpers.js';
import { PASSWORD, tokenRequest, type TestClient } from '../security/support.js';

export const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TYPE = {
  access: 'urn:ietf:params:oauth:token-type:access_token',
  refresh: 'urn:ietf:params:oauth:token-type:refresh_token',
  id: 'urn:ietf:params:oauth:token-type:id_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
};
export const ISSUER = `${PUBLIC_URL}/realms/default`;
export const AVATARS = 'https://api.loomai.com/';
export const STATS = 'https://stats.example/';
export const BILLING = 'https://billing.example/';
export const DEFAULT_AUD = `${ISSUER}/api`;
const ACME_TOKEN = '/realms/acme/protocol/openid-connect/token';

export async function exchangeWorld(backend: 'sqlite' | 'postgres') {
  const clock = new FakeClock();
  const t = await startTestApp(backend, { clock });
  await createApi(t.deps, 'default', { audience: AVATARS, scopes: ['read:avatars', 'write:avatars'] }, 86400);
  await createApi(t.deps, 'default', { audience: STATS, scopes: ['read:stats'] }, 86400);
  await createApi(t.deps, 'default', { audience: BILLING, scopes: ['read:billing'] }, 86400);
  const mk = async (input: Parameters<typeof createClient>[2], tenant = 'default'): Promise<TestClient> => {
    const c = await createClient(t.deps, tenant, { scopes: ['read:avatars', 'write:avatars', 'read:stats'], ...input }, 86400);
    return { id: c.client.clientId, secret: c.secret };
  };
  const userApp = { grantTypes: ['password', 'refresh_token'] };
  /** The app the user signed in to: the tokens to exchange. */
  const app = await mk({ name: 'Avatar Studio', ...userApp });
  const appOpaque = await mk({ name: 'Opaque App', ...userApp, accessTokenFormat: 'opaque' });
  /** A client-credentials service (JWT): client tokens, and actor tokens. */
  const svc = await mk({ name: 'Service', grantTypes: ['client_credentials'] });
  const clients = {
    app, appOpaque, svc,
    /** Exchanges app's tokens for the APIs its own scopes reach; has client tokens of its own (actor). */
    gateway: await mk({ name: 'Gateway', grantTypes: [GRANT, 'client_credentials'], scopes: ['read:avatars', 'read:stats'], tokenExchangeSubjectClients: [app.id, appOpaque.id] }),
    /** Only its own tokens (the default policy). */
    strict: await mk({ name: 'Strict', grantTypes: [GRANT], scopes: ['read:avatars'] }),
    /** Any client's tokens, for the stats API only. */
    statsOnly: await mk({ name: 'Stats Exchanger', grantTypes: [GRANT], tokenExchangeSubjectClients: ['*'], tokenExchangeAudiences: [STATS] }),
    /** Any client's tokens, any API its scopes reach, and client tokens of its own. */
    any: await mk({ name: 'Any Exchanger', grantTypes: [GRANT, 'client_credentials'], tokenExchangeSubjectClients: ['*'] }),
    /** Opaque access tokens. */
    opaque: await mk({ name: 'Opaque Exchanger', grantTypes: [GRANT], accessTokenFormat: 'opaque', tokenExchangeSubjectClients: ['*'] }),
    /** Exchanges its own user tokens (same grant). */
    self: await mk({ name: 'Self Exchanger', grantTypes: ['password', 'refresh_token', GRANT] }),
    noExchange: await mk({ name: 'No Exchange', grantTypes: ['password'], tokenExchangeSubjectClients: ['*'] }),
    publicClient: await mk({ name: 'Public', public: true, grantTypes: [GRANT], tokenExchangeSubjectClients: ['*'] }),
  };
  const aliceId = (await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD })).id;
  const bobId = (await createUser(t.deps, 'default', { username: 'bob', password: PASSWORD })).id;
  await createTenant(t.deps, { id: 'acme' });
  const acmeApp = await mk({ name: 'Acme App', ...userApp, scopes: [] }, 'acme');
  await createUser(t.deps, 'acme', { username: 'alice', password: PASSWORD });

  /** alice's (or another user's) token response from `client` by the password grant. */
  async function signIn(client: TestClient, scope: string, opts: { username?: string; tenant?: 'acme' } = {}): Promise<Record<string, string>> {
    const res = await tokenRequest(t.app, client, { grant_type: 'password', username: opts.username ?? 'alice', password: PASSWORD, scope }, opts.tenant ? ACME_TOKEN : undefined);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }
  async function serviceToken(client: TestClient, scope?: string): Promise<string> {
    const res = await tokenRequest(t.app, client, { grant_type: 'client_credentials', scope });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().access_token;
  }
  const exchange = (client: TestClient, fields: Record<string, string | undefined>) => tokenRequest(t.app, client, { grant_type: GRANT, ...fields });

  /** A JWT access token of this tenant signed with its key, with claims Tessera itself never writes (may_act). */
  async function forgeAccessToken(claims: Record<string, unknown>): Promise<string> {
    const ring = await t.services.cache.keyRing('default');
    const iat = Math.floor(clock.now() / 1000);
    return ring.signer('access')!.sign({ iss: ISSUER, aud: AVATARS, iat, exp: iat + 600, jti: randomBytes(16).toString('base64url'), ...claims });
  }

  return { t, clock, clients: { ...clients, acmeApp }, aliceId, bobId, signIn, serviceToken, exchange, forgeAccessToken };
}

export type ExchangeWorld = Awaited<ReturnType<typeof exchangeWorld>>;

/** The whole success body of a token exchange (RFC 8693 §2.2.1). */
export const issued = (fields: { expires_in: number; scope?: string; issued_token_type?: string }) => ({
  access_token: expect.any(String), issued_token_type: fields.issued_token_type ?? TYPE.access, token_type: 'Bearer', expires_in: fields.expires_in,
  ...(fields.scope !== undefined && { scope: fields.scope }), 'not-before-policy': 0,
});

export const oauthError = (error: string, description: string, status = 400) => ({ status, body: { error, error_description: description } });
