import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { OUTBOUND_TIMEOUT_MS } from '../src/http/outbound.js';
import { backchannelIdle, deliverySettings, RETRY_DELAYS_MS } from '../src/logout/backchannel.js';
import { createClient, updateClient } from '../src/manage/clients.js';
import { createUser } from '../src/manage/users.js';
import { BACKENDS, basic, form, FORM_HEADERS, startTestApp, type TestApp } from './helpers.js';
import { formOf, InjectBrowser, pathOf } from './support/inject_browser.js';
import { type Received, Receiver } from './support/receiver.js';
import { runTessera } from './support/server.js';

/** Plain-http loopback: the development exception that lets a loopback receiver get logout tokens. */
const DEV_PUBLIC_URL = 'http://localhost:9000';
const ISSUER = `${DEV_PUBLIC_URL}/realms/default`;
const LOGOUT = '/realms/default/protocol/openid-connect/logout';
const REDIRECT = 'https://app.example/cb';
const PASSWORD = 'correct horse battery';
const COOKIE = 'tessera_session_default';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

const tokenOf = (r: Received): string => new URLSearchParams(r.body).get('logout_token')!;

describe.each(BACKENDS)('OpenID Connect Back-Channel Logout on %s', (backend) => {
  let t: TestApp;
  let receiver: Receiver;
  let withUri: { id: string; secret: string };
  let unused: { id: string; secret: string };
  let withoutUri: { id: string; secret: string };
  const policy = { publicUrl: DEV_PUBLIC_URL };

  beforeAll(async () => {
    receiver = await new Receiver().start();
    t = await startTestApp(backend, { config: { publicUrl: DEV_PUBLIC_URL } });
    const make = async (name: string, backchannelLogoutUri?: string) => {
      const c = await createClient(t.deps, 'default', {
        name, grantTypes: ['authorization_code'], redirectUris: [REDIRECT], consent: 'skip', backchannelLogoutUri,
      }, 86400, policy);
      return { id: c.client.clientId, secret: c.secret! };
    };
    withUri = await make('Avatar Studio', receiver.url('/bcl/studio'));
    unused = await make('Never Used', receiver.url('/bcl/unused'));
    withoutUri = await make('No Back Channel');
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
  });
  afterAll(async () => {
    await backchannelIdle();
    await t?.close();
    await receiver?.close();
  });
  afterEach(async () => {
    await backchannelIdle();
    receiver.reset();
    deliverySettings.retryDelaysMs = RETRY_DELAYS_MS;
    deliverySettings.timeoutMs = OUTBOUND_TIMEOUT_MS;
  });

  const authorizeUrl = (clientId: string) =>
    `/realms/default/protocol/openid-connect/auth?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'openid', state: 's', nonce: 'n-0S6_WzA2Mj' })}`;

  async function exchange(client: { id: string; secret: string }, location: string) {
    const code = new URL(location).searchParams.get('code')!;
    const res = await t.app.inject({
      method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(client.id, client.secret) },
      payload: form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT }),
    });
    expect(res.statusCode).toBe(200);
    return res.json().id_token as string;
  }

  /** Signs alice in through the login page for `first`, then uses the same session for `also`. */
  async function signIn(b: InjectBrowser, first = withUri, also: { id: string; secret: string }[] = [withoutUri]) {
    const login = await b.get(authorizeUrl(first.id));
    expect(login.statusCode).toBe(200);
    const lf = formOf(login.body);
    const done = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: PASSWORD });
    expect(done.statusCode).toBe(303);
    const idToken = await exchange(first, done.headers.location as string);
    for (const c of also) {
      const res = await b.get(authorizeUrl(c.id));
      expect(res.statusCode).toBe(302);
      await exchange(c, res.headers.location as string);
    }
    return { idToken, sid: decodeJwt(idToken).sid as string, sub: decodeJwt(idToken).sub as string };
  }

  const logout = (b: InjectBrowser, idToken: string) => b.get(`${LOGOUT}?${new URLSearchParams({ id_token_hint: idToken })}`);

  async function jwks() {
    const res = await t.app.inject({ method: 'GET', url: '/realms/default/protocol/openid-connect/certs' });
    return createLocalJWKSet(res.json());
  }

  it('sends a verifiable logout token (typ logout+jwt, aud, sid, events, no nonce) to each client with a backchannel_logout_uri and a live grant of the user', async () => {
    const b = new InjectBrowser(t.app);
    const { idToken, sid, sub } = await signIn(b);
    const res = await logout(b, idToken);
    expect(res.statusCode).toBe(200);
    await backchannelIdle();
    // The unused client (no grant of alice's) and the client without a URI hear nothing.
    expect(receiver.received.map((r) => r.path)).toEqual(['/bcl/studio']);
    const [got] = receiver.received;
    expect(got.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect([...new URLSearchParams(got.body).keys()]).toEqual(['logout_token']);
    const token = tokenOf(got);
    const { payload, protectedHeader } = await jwtVerify(token, await jwks(), { issuer: ISSUER, audience: withUri.id, typ: 'logout+jwt', algorithms: ['RS256'] });
    expect(protectedHeader).toEqual({ alg: 'RS256', typ: 'logout+jwt', kid: decodeProtectedHeader(idToken).kid });
    expect(payload).toEqual({
      iss: ISSUER, aud: withUri.id, sub, sid, iat: expect.any(Number), exp: payload.iat! + 120, jti: expect.stringMatching(/^[A-Za-z0-9_-]{16,}$/),
      events: { [EVENT]: {} },
    });
    expect(payload).not.toHaveProperty('nonce');
    // A logout token is never mistaken for an ID token.
    await expect(jwtVerify(token, await jwks(), { issuer: ISSUER, typ: 'JWT' })).rejects.toThrow();
  });

  it('sends logout tokens when the CLI disables the user or sets their password, waiting for delivery before it exits', async () => {
    const b = new InjectBrowser(t.app);
    const { sid, sub } = await signIn(b, withUri, []);
    const env = { PATH: process.env.PATH, DATABASE_URL: t.database.url, TESSERA_PUBLIC_URL: DEV_PUBLIC_URL };
    const disabled = await runTessera(env, ['user', 'update', '--tenant', 'default', 'alice', '--disabled', '--json']);
    expect(disabled).toEqual({ code: 0, stdout: expect.stringContaining('"disabled":true'), stderr: '' });
    // Delivered before the CLI exited: nothing is pending in this process, yet it has arrived.
    expect(receiver.received.map((r) => r.path)).toEqual(['/bcl/studio']);
    const { payload } = await jwtVerify(tokenOf(receiver.received[0]), await jwks(), { issuer: ISSUER, audience: withUri.id, typ: 'logout+jwt' });
    expect(payload).toMatchObject({ sub, sid });
    expect((await b.get(authorizeUrl(withUri.id))).statusCode).toBe(200); // the login page: signed out

    receiver.reset();
    await runTessera(env, ['user', 'update', '--tenant', 'default', 'alice', '--enabled']);
    const again = await signIn(b, withUri, []);
    const reset = await runTessera(env, ['user', 'update', '--tenant', 'default', 'alice', '--password-stdin'], `${PASSWORD}\n`);
    expect(reset.code).toBe(0);
    expect(receiver.received).toHaveLength(1);
    expect(decodeJwt(tokenOf(receiver.received[0]))).toMatchObject({ sub, sid: again.sid });
    // Nothing more to say for a session already ended: a second change sends nothing.
    await runTessera(env, ['user', 'update', '--tenant', 'default', 'alice', '--disabled']);
    await runTessera(env, ['user', 'update', '--tenant', 'default', 'alice', '--enabled']);
    expect(receiver.received).toHaveLength(1);
  });

  it('answers the logout at once while a slow receiver is still working on it, then delivers', async () => {
    receiver.delayMs = 1000;
    const b = new InjectBrowser(t.app);
    const { idToken } = await signIn(b, withUri, []);
    const started = Date.now();
    const res = await logout(b, idToken);
    const answeredAfter = Date.now() - started;
    expect(res.statusCode).toBe(200);
    expect(answeredAfter).toBeLessThan(500);
    expect(receiver.received.filter((r) => r.answeredAt !== undefined)).toEqual([]);
    await backchannelIdle();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0].answeredAt! - started).toBeGreaterThanOrEqual(1000);
  });

  it('sends nothing while the session lives (confirmation page) and nothing for a session already ended', async () => {
    const b = new InjectBrowser(t.app);
    const { idToken } = await signIn(b, withUri, []);
    const confirm = await b.get(LOGOUT); // no hint: the user is asked first
    expect(confirm.statusCode).toBe(200);
    await backchannelIdle();
    expect(receiver.received).toEqual([]);
    expect((await logout(b, idToken)).statusCode).toBe(200);
    await backchannelIdle();
    expect(receiver.received).toHaveLength(1);
    expect((await logout(b, idToken)).statusCode).toBe(200);
    await backchannelIdle();
    expect(receiver.received).toHaveLength(1);
  });

  it('gives up after two retries and records logout.backchannel_failed without the token', async () => {
    receiver.status = 503;
    deliverySettings.retryDelaysMs = [20, 40];
    const b = new InjectBrowser(t.app);
    const { idToken, sub } = await signIn(b, withUri, []);
    expect((await logout(b, idToken)).statusCode).toBe(200);
    await backchannelIdle();
    expect(receiver.received).toHaveLength(3);
    const { events } = await t.storage.audit.list('default', { type: 'logout', limit: 10 });
    expect(events.map(({ type, actor, clientId, userId, detail }) => ({ type, actor, clientId, userId, detail }))).toEqual([
      { type: 'logout.backchannel_failed', actor: sub, clientId: withUri.id, userId: sub, detail: { host: `127.0.0.1:${receiver.port}`, attempts: 3, reason: 'answered 503' } },
    ]);
    expect(JSON.stringify(events)).not.toContain(tokenOf(receiver.received[0]));
  });

  it('does not follow a redirect from the receiver', async () => {
    receiver.status = 307;
    receiver.headers = { location: receiver.url('/elsewhere') };
    const b = new InjectBrowser(t.app);
    const { idToken } = await signIn(b, withUri, []);
    await logout(b, idToken);
    await backchannelIdle();
    expect(receiver.received.map((r) => r.path)).toEqual(['/bcl/studio']);
  });

  it('client metadata: backchannel_logout_uri is https (http only on loopback in loopback development), no fragment; session_required defaults to true', async () => {
    const create = (uri: string, p: { publicUrl?: string } = policy) =>
      createClient(t.deps, 'default', { name: 'Check', redirectUris: [REDIRECT], backchannelLogoutUri: uri }, 86400, p);
    const made = await create('https://rp.example/logout?x=1');
    expect(made.client).toMatchObject({ backchannelLogoutUri: 'https://rp.example/logout?x=1', backchannelLogoutSessionRequired: true });
    expect(await create('http://127.0.0.1:8080/logout')).toBeTruthy();
    expect(await create('http://[::1]:8080/logout')).toBeTruthy();
    const refused = async (uri: string, message: RegExp, p?: { publicUrl?: string }) => {
      const err = await create(uri, p).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toMatch(message);
    };
    await refused('http://rp.example/logout', /must use https/);
    await refused('http://127.0.0.1:8080/logout', /must use https/, {});
    await refused('http://127.0.0.1:8080/logout', /must use https/, { publicUrl: 'https://auth.example.com' });
    await refused('https://rp.example/logout#frag', /fragment/);
    await refused('https://user:pw@rp.example/logout', /user information/);
    await refused('ftp://rp.example/logout', /must use https/);
    await refused('/logout', /not an absolute URI/);
    await refused('https://10.1.2.3/logout', /private address/);
    await refused('https://[fe80::1]/logout', /private address/);
    await refused('https://127.0.0.1/logout', /loopback address/, { publicUrl: 'https://auth.example.com' });

    const updated = await updateClient(t.deps, 'default', made.client.clientId, { backchannelLogoutSessionRequired: false }, 86400, policy);
    expect(updated).toMatchObject({ backchannelLogoutUri: 'https://rp.example/logout?x=1', backchannelLogoutSessionRequired: false });
    const cleared = await updateClient(t.deps, 'default', made.client.clientId, { backchannelLogoutUri: '' }, 86400, policy);
    expect(cleared.backchannelLogoutUri).toBeNull();
    expect(await t.storage.clients.get('default', made.client.clientId)).toMatchObject({ backchannelLogoutUri: null, backchannelLogoutSessionRequired: false });
  });
});
