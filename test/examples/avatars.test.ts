/**
 * The avatars example end to end: Tessera started as users start it, provisioned by
 * examples/setup.mjs, the API started by `node examples/avatars-api/server.mjs`, and called
 * with tokens apps get from the token endpoint (client credentials, password) or an operator
 * issues by hand (opaque, checked by introspection).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionedTessera, seen, startExample, tokenFor, type ExampleWorld, type RunningExample } from './support.js';

const ID = expect.stringMatching(/^[A-Za-z0-9_-]{22}$/);
const SECRET = expect.stringMatching(/^[A-Za-z0-9_-]{43}$/);
const UUID = expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
const REALM = 'Bearer realm="https://api.loomai.com/"';

describe('examples/avatars-api', () => {
  let world: ExampleWorld;
  let api: RunningExample;

  beforeAll(async () => {
    world = await provisionedTessera();
    try {
      api = await startExample('avatars-api/server.mjs', world, world.ports.avatars);
    } catch (err) {
      await world.close();
      throw err;
    }
  }, 120_000);
  afterAll(async () => {
    await api?.stop();
    await world?.close();
  });

  const call = (path: string, token: string | undefined, init: RequestInit = {}) =>
    fetch(`${api.url}${path}`, { ...init, headers: { ...(token && { authorization: `Bearer ${token}` }), ...(init.body ? { 'content-type': 'application/json' } : {}) } });
  const serviceToken = async (scope: string) => (await tokenFor(world, world.config.avatars.clients.service, { grant_type: 'client_credentials', scope })).access_token as string;

  it('was provisioned by setup.mjs with the tessera CLI', async () => {
    const issuer = `${world.server.baseUrl}/realms/examples`;
    expect(world.config).toEqual({
      tessera: { issuer, tenant: 'examples', token_endpoint: `${issuer}/protocol/openid-connect/token` },
      user: { username: 'alice', password: expect.stringMatching(/^[A-Za-z0-9_-]{16}$/) },
      avatars: {
        url: `http://localhost:${world.ports.avatars}`, audience: 'https://api.loomai.com/',
        api_credentials: { client_id: ID, client_secret: SECRET },
        clients: { service: { client_id: ID, client_secret: SECRET }, cli: { client_id: ID, client_secret: SECRET } },
      },
      heart_rate: {
        url: `http://localhost:${world.ports.heartRate}`, audience: 'https://dev.pulsoid.net/',
        api_credentials: { client_id: ID, client_secret: SECRET },
        clients: { recorder: { client_id: ID, client_secret: SECRET }, widget: { client_id: ID } },
      },
    });
    // Secrets on disk are for the owner only; the shell file carries the same values.
    expect(statSync(world.configPath).mode & 0o777).toBe(0o600);
    const envFile = world.configPath.replace(/\.json$/, '.env');
    expect(existsSync(envFile) && statSync(envFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(envFile, 'utf8')).toContain(`export AVATARS_SERVICE_SECRET='${world.config.avatars.clients.service.client_secret}'`);
    const apis = await world.server.cli('api', 'list', '--tenant', 'examples');
    const listed = apis.apis.map((a: { audience: string; scopes: { name: string }[] }) => [a.audience, a.scopes.map((s) => s.name)]);
    expect(listed.sort()).toEqual([
      ['https://api.loomai.com/', ['read:avatars', 'write:avatars']],
      ['https://dev.pulsoid.net/', ['data:heart_rate:read', 'data:heart_rate:write']],
    ]);
  });

  it('answers without a token with 401 and a Bearer challenge', async () => {
    expect(await seen(await call('/avatars', undefined))).toEqual({ status: 401, challenge: REALM, body: { error: 'invalid_token', error_description: 'an access token is required' } });
  });

  it('lists, creates, reads and deletes avatars with a client-credentials token', async () => {
    const token = await serviceToken('read:avatars write:avatars');
    const service = world.config.avatars.clients.service.client_id;
    expect(await seen(await call('/avatars', token))).toEqual({ status: 200, challenge: null, body: { avatars: [] } });

    const created = await call('/avatars', token, { method: 'POST', body: JSON.stringify({ name: 'Alice in 3D' }) });
    const avatar = { id: UUID, name: 'Alice in 3D', status: 'ready', created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), created_by: service };
    const body = (await seen(created)).body;
    expect({ status: created.status, location: created.headers.get('location'), body }).toEqual({ status: 201, location: `/avatars/${body.id}`, body: avatar });

    expect(await seen(await call('/avatars', token))).toEqual({ status: 200, challenge: null, body: { avatars: [body] } });
    expect(await seen(await call(`/avatars/${body.id}`, token))).toEqual({ status: 200, challenge: null, body });
    expect(await seen(await call(`/avatars/${body.id}`, token, { method: 'DELETE' }))).toEqual({ status: 204, challenge: null, body: undefined });
    expect(await seen(await call(`/avatars/${body.id}`, token))).toEqual({ status: 404, challenge: null, body: { error: 'not_found', error_description: 'no avatar with this id' } });
  });

  it('lets a read-only token list but not create (403 insufficient_scope)', async () => {
    const token = await serviceToken('read:avatars');
    expect((await call('/avatars', token)).status).toBe(200);
    const description = 'the access token lacks scope write:avatars';
    expect(await seen(await call('/avatars', token, { method: 'POST', body: JSON.stringify({ name: 'x' }) }))).toEqual({
      status: 403,
      challenge: `${REALM}, error="insufficient_scope", error_description="${description}", scope="write:avatars"`,
      body: { error: 'insufficient_scope', error_description: description },
    });
  });

  it("keeps a user's avatars apart from the service's (password grant)", async () => {
    const { access_token: token } = await tokenFor(world, world.config.avatars.clients.cli, {
      grant_type: 'password', username: world.config.user.username, password: world.config.user.password, scope: 'read:avatars write:avatars',
    });
    const created = await seen(await call('/avatars', token, { method: 'POST', body: JSON.stringify({ name: 'Mine' }) }));
    expect(created).toMatchObject({ status: 201, body: { name: 'Mine', created_by: world.config.avatars.clients.cli.client_id } });
    expect(await seen(await call('/avatars', token))).toEqual({ status: 200, challenge: null, body: { avatars: [created.body] } });
    const service = await serviceToken('read:avatars');
    expect((await seen(await call('/avatars', service))).body.avatars).not.toContainEqual(created.body);
  });

  it('accepts an opaque personal token by introspection, and refuses an unknown one', async () => {
    const issued = await world.server.cli('token', 'issue', '--tenant', 'examples', '--user', 'alice', '--scopes', 'read:avatars');
    expect(await seen(await call('/avatars', issued.access_token))).toMatchObject({ status: 200, body: { avatars: expect.any(Array) } });
    expect(await seen(await call('/avatars', 'not-a-token-tessera-issued'))).toEqual({
      status: 401,
      challenge: `${REALM}, error="invalid_token", error_description="the access token is not active (unknown, expired or revoked)"`,
      body: { error: 'invalid_token', error_description: 'the access token is not active (unknown, expired or revoked)' },
    });
  });

  it('refuses a body without a name', async () => {
    const token = await serviceToken('write:avatars');
    expect(await seen(await call('/avatars', token, { method: 'POST', body: JSON.stringify({ name: '' }) }))).toEqual({
      status: 400, challenge: null, body: { error: 'invalid_request', error_description: 'name must be a string of 1 to 100 characters' },
    });
  });
});
