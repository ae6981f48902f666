/**
 * `tessera token issue` (DESIGN.md §1 CLI, Pulsoid's "Manual Token Issuing"), run as a
 * separate process against the database of an in-process server that then validates the
 * tokens it printed. Needs the compiled dist/ (`npm test` builds it first).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../src/manage/apis.js';
import { createClient } from '../src/manage/clients.js';
import { createUser } from '../src/manage/users.js';
import { updateTenant } from '../src/manage/tenants.js';
import type { User } from '../src/storage/types.js';
import { BACKENDS, PUBLIC_URL, startTestApp, type TestApp } from './helpers.js';
import { runTessera } from './support/server.js';

const API = 'https://api.avatars.example/';
const DAY = 86400;

describe.each(BACKENDS)('tessera token issue on %s', (backend) => {
  let t: TestApp;
  let alice: User;
  let clientId: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    t = await startTestApp(backend);
    env = { PATH: process.env.PATH, DATABASE_URL: t.database.url, TESSERA_PUBLIC_URL: PUBLIC_URL };
    await createApi(t.deps, 'default', { audience: API, scopes: ['read:avatars=Read your avatars', 'write:avatars=Change your avatars'] }, DAY);
    clientId = (await createClient(t.deps, 'default', { name: 'Heart Rate Overlay', redirectUris: ['https://app.example/cb'], scopes: ['read:avatars'] }, DAY)).client.clientId;
    alice = await createUser(t.deps, 'default', { username: 'alice', password: 'correct horse battery' });
  });
  afterAll(() => t?.close());

  const validate = (token: string) =>
    t.app.inject({ method: 'GET', url: '/realms/default/protocol/openid-connect/validate', headers: { authorization: `Bearer ${token}` } });

  it('issues an opaque personal token for a user, listed on their account page, with the default lifetime of 30 days', async () => {
    const r = await runTessera(env, ['token', 'issue', '--tenant', 'default', '--user', 'alice', '--scopes', 'read:avatars write:avatars', '--name', 'Stream overlay', '--json']);
    expect(r).toEqual({ code: 0, stdout: expect.stringMatching(/^\{.*\}\n$/), stderr: '' });
    const out = JSON.parse(r.stdout);
    expect(out).toEqual({ access_token: expect.stringMatching(/^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/), token_type: 'Bearer', expires_in: 30 * DAY, scope: 'read:avatars write:avatars' });
    const v = await validate(out.access_token);
    expect(v.statusCode).toBe(200);
    expect(v.json()).toEqual({ client_id: 'tessera.personal-tokens.default', sub: alice.id, scopes: ['read:avatars', 'write:avatars'], expires_in: expect.any(Number) });
    expect(v.json().expires_in).toBeGreaterThan(30 * DAY - 60);
    const listed = await t.storage.personalTokens.listLive('default', alice.id, Math.floor(Date.now() / 1000));
    expect(listed.map((p) => [p.name, p.scopes])).toEqual([['Stream overlay', ['read:avatars', 'write:avatars']]]);
  });

  it('issues under the client given, within its scopes, for the lifetime asked', async () => {
    const r = await runTessera(env, ['token', 'issue', '--tenant', 'default', '--user', alice.id, '--client', clientId, '--scopes', 'read:avatars', '--expires-in', '3600', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'read:avatars' });
    expect((await validate(out.access_token)).json()).toMatchObject({ client_id: clientId, sub: alice.id, scopes: ['read:avatars'] });
  });

  it('refuses scopes the client may not request and lifetimes beyond the cap, issuing nothing', async () => {
    const wide = await runTessera(env, ['token', 'issue', '--tenant', 'default', '--user', 'alice', '--client', clientId, '--scopes', 'read:avatars write:avatars', '--json']);
    expect(wide).toEqual({ code: 1, stdout: '', stderr: `tessera token issue: client ${clientId} may not request scope write:avatars\n` });
    const long = await runTessera(env, ['token', 'issue', '--tenant', 'default', '--user', 'alice', '--scopes', 'read:avatars', '--expires-in', String(90 * DAY + 1)]);
    expect(long).toEqual({ code: 1, stdout: '', stderr: 'tessera token issue: the lifetime must be from 60 seconds to 90 days (7776000 seconds)\n' });
    const oidc = await runTessera(env, ['token', 'issue', '--tenant', 'default', '--user', 'alice', '--scopes', 'openid']);
    expect(oidc).toEqual({ code: 1, stdout: '', stderr: 'tessera token issue: scope openid is not defined by an API of tenant default: a personal token carries API scopes only\n' });
  });

  it("caps a personal token's lifetime at the tenant's own maximum, and defaults to it when it is shorter than 30 days", async () => {
    await updateTenant(t.deps, 'default', { personalTokenMaxDays: 7 });
    try {
      const long = await runTessera(env, ['token', 'issue', '--tenant', 'default', '--user', 'alice', '--scopes', 'read:avatars', '--expires-in', String(8 * DAY)]);
      expect(long).toEqual({ code: 1, stdout: '', stderr: 'tessera token issue: the lifetime must be from 60 seconds to 7 days (604800 seconds)\n' });
      const dflt = await runTessera(env, ['token', 'issue', '--tenant', 'default', '--user', 'alice', '--scopes', 'read:avatars', '--json']);
      expect(JSON.parse(dflt.stdout)).toMatchObject({ expires_in: 7 * DAY });
    } finally {
      await updateTenant(t.deps, 'default', { personalTokenMaxDays: 90 });
    }
  });
});
