/**
 * CLI parity with the admin API for a user's sessions and grants (issue 6):
 * `tessera user sessions|revoke-session|grants|revoke-grant`, run as a separate process against
 * the database of an in-process server, which then shows the effect. Needs the compiled dist/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../src/manage/apis.js';
import { createUser } from '../src/manage/users.js';
import type { User } from '../src/storage/types.js';
import { BACKENDS, PUBLIC_URL, startTestApp, type TestApp } from './helpers.js';
import { runTessera } from './support/server.js';

const DAY = 86400;

describe.each(BACKENDS)('tessera user sessions and grants on %s', (backend) => {
  let t: TestApp;
  let alice: User;
  let env: NodeJS.ProcessEnv;
  const now = () => Math.floor(Date.now() / 1000);

  const cli = async (...args: string[]) => {
    const r = await runTessera(env, [...args, '--json']);
    return { code: r.code, stderr: r.stderr, json: r.stdout ? JSON.parse(r.stdout) : undefined };
  };

  beforeAll(async () => {
    t = await startTestApp(backend);
    env = { PATH: process.env.PATH, DATABASE_URL: t.database.url, TESSERA_PUBLIC_URL: PUBLIC_URL };
    await createApi(t.deps, 'default', { audience: 'https://api.avatars.example/', scopes: ['read:avatars'] }, DAY);
    alice = await createUser(t.deps, 'default', { username: 'alice', password: 'correct horse battery' });
  });
  afterAll(() => t?.close());

  it('lists a user’s live sessions and ends one, which then is gone; an unknown one is refused', async () => {
    const at = now();
    for (const id of ['sid-1', 'sid-2']) {
      await t.storage.sessions.create({
        key: `key-${id}`, id, tenantId: 'default', userId: alice.id, authTime: at, amr: ['pwd'], createdAt: at, idleExpiresAt: at + 1800, expiresAt: at + 36000, revokedAt: null,
      });
    }
    const session = (id: string) => ({ id, auth_time: at, amr: ['pwd'], created_at: at, idle_expires_at: at + 1800, expires_at: at + 36000 });
    const listed = await cli('user', 'sessions', '--tenant', 'default', 'alice');
    expect(listed).toEqual({ code: 0, stderr: '', json: { sessions: expect.arrayContaining([session('sid-1'), session('sid-2')]) } });
    expect(listed.json.sessions).toHaveLength(2);

    expect(await cli('user', 'revoke-session', '--tenant', 'default', 'alice', 'sid-1')).toEqual({ code: 0, stderr: '', json: { revoked: { session: 'sid-1' } } });
    expect(await cli('user', 'sessions', '--tenant', 'default', alice.id)).toEqual({ code: 0, stderr: '', json: { sessions: [session('sid-2')] } });
    expect((await t.storage.sessions.get('key-sid-1'))?.revokedAt).toEqual(expect.any(Number));
    expect(await cli('user', 'revoke-session', '--tenant', 'default', 'alice', 'sid-1')).toEqual({
      code: 1, stderr: 'tessera user revoke-session: the user has no live session sid-1\n', json: undefined,
    });
    expect(await cli('user', 'sessions', '--tenant', 'default', 'nobody')).toEqual({ code: 1, stderr: expect.stringMatching(/^tessera user sessions: .*nobody.*\n$/), json: undefined });
  });

  it('lists a user’s live grants and revokes one with its tokens; an unknown one is refused', async () => {
    const issued = await runTessera(env, ['token', 'issue', '--tenant', 'default', '--user', 'alice', '--scopes', 'read:avatars', '--json']);
    expect(issued.code).toBe(0);
    const token = JSON.parse(issued.stdout).access_token as string;
    const listed = await cli('user', 'grants', '--tenant', 'default', 'alice');
    expect(listed).toEqual({
      code: 0, stderr: '',
      json: { grants: [{ id: expect.any(String), client_id: 'tessera.personal-tokens.default', scope: 'read:avatars', created_at: expect.any(Number), expires_at: expect.any(Number) }] },
    });
    const grant = listed.json.grants[0].id as string;
    const validate = () => t.app.inject({ method: 'GET', url: '/realms/default/protocol/openid-connect/validate', headers: { authorization: `Bearer ${token}` } });
    expect((await validate()).statusCode).toBe(200);

    expect(await cli('user', 'revoke-grant', '--tenant', 'default', 'alice', grant)).toEqual({ code: 0, stderr: '', json: { revoked: { grant } } });
    expect(await cli('user', 'grants', '--tenant', 'default', 'alice')).toEqual({ code: 0, stderr: '', json: { grants: [] } });
    expect((await validate()).statusCode).toBe(401);
    expect(await cli('user', 'revoke-grant', '--tenant', 'default', 'alice', grant)).toEqual({
      code: 1, stderr: `tessera user revoke-grant: the user has no live grant ${grant}\n`, json: undefined,
    });
    // Audited as the admin API's revocations are, by the CLI's operator.
    const { events } = await t.storage.audit.list('default', { type: 'grant.revoked', limit: 10 });
    expect(events.map((e) => [e.actor, e.userId, e.detail])).toEqual([['operator', alice.id, { grant }]]);
  });
});
