/**
 * SECURITY-CHECKLIST §G item 56 for the password grant (RFC 6749 §4.3): the token endpoint
 * does not reveal whether an account exists — the same answer, headers and time (a dummy
 * argon2 verification) for an unknown user as for a wrong password. The sign-in page,
 * sign-up and password reset are in g_platform.test.ts. Black-box on every backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/manage/clients.js';
import { createUser } from '../../src/manage/users.js';
import { basic, BACKENDS, FakeClock, form, FORM_HEADERS, startTestApp, type TestApp } from '../helpers.js';
import { expectSameTimeForUnknownUser } from '../support/timing.js';
import { jsonView, PASSWORD, TOKEN, type TestClient } from './support.js';

const invalidCredentials = { status: 400, body: { error: 'invalid_grant', error_description: 'invalid username or password' } };

describe.each(BACKENDS)('SECURITY-CHECKLIST G: the password grant on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  let app: TestClient;
  let native: TestClient;

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    const mk = async (input: Parameters<typeof createClient>[2]) => {
      const c = await createClient(t.deps, 'default', { grantTypes: ['password'], ...input }, 86400);
      return { id: c.client.clientId, secret: c.secret };
    };
    app = await mk({ name: 'Avatar Studio' });
    native = await mk({ name: 'Avatar App', public: true });
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
  });
  afterAll(() => t?.close());

  /** A password grant request from `ip` (each test its own address, so the throttle's address counts do not leak between tests). */
  function signIn(client: TestClient, fields: Record<string, string>, ip: string) {
    const body: Record<string, string> = { grant_type: 'password', ...fields };
    if (client.secret === undefined) body.client_id = client.id;
    return t.app.inject({
      method: 'POST', url: TOKEN, remoteAddress: ip,
      headers: { ...FORM_HEADERS, ...(client.secret !== undefined && { authorization: basic(client.id, client.secret) }) },
      payload: form(body),
    });
  }

  it('56. an unknown user and a wrong password get the same invalid_grant, with the same headers, for confidential and public clients', async () => {
    for (const [client, ip] of [[app, '192.0.2.15'], [native, '192.0.2.25']] as const) {
      // usernames of equal length, so even Content-Length matches
      const wrong = await signIn(client, { username: 'alice', password: 'wrong password 1' }, ip);
      const unknown = await signIn(client, { username: 'alicx', password: 'wrong password 1' }, ip);
      const upper = await signIn(client, { username: 'ALICE', password: 'wrong password 1' }, ip);
      expect(jsonView(wrong)).toEqual(invalidCredentials);
      expect(jsonView(unknown)).toEqual(invalidCredentials);
      expect(jsonView(upper)).toEqual(invalidCredentials);
      // The date and the request id differ per response, whatever the account.
      const { date: _a, 'x-request-id': _c, ...wrongHeaders } = wrong.headers;
      const { date: _b, 'x-request-id': _d, ...unknownHeaders } = unknown.headers;
      expect(unknownHeaders).toEqual(wrongHeaders);
      clock.advance(901);
    }
  });

  it('56. an unknown user takes the same time as a wrong password (a dummy argon2 verification)', async () => {
    const attempt = async (username: string) => {
      // past the throttle window each time, so every attempt reaches the password check
      clock.advance(901);
      const start = performance.now();
      const res = await signIn(app, { username, password: 'wrong password 1' }, '192.0.2.16');
      const ms = performance.now() - start;
      expect(jsonView(res)).toEqual(invalidCredentials);
      return ms;
    };
    await expectSameTimeForUnknownUser(attempt);
  });
});
