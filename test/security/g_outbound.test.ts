/**
 * SECURITY-CHECKLIST §G item 57: the server fetches no client-supplied URL that is not https,
 * resolves to a private or loopback address, or is slow (SSRF), and never inside the request
 * that named it. Client metadata is checked at registration; back-channel logout deliveries
 * (and jwks_uri fetches, in c_client_authentication.test.ts) go through one outbound guard,
 * tested here with a stub resolver; and a logout answers while its receiver hangs. On every
 * backend: the server runs on plain-http loopback (local development), so a loopback receiver
 * may be used where the development exception allows it.
 */
import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { addressKind, checkOutboundUrl, isLoopbackDevelopment, OUTBOUND_TIMEOUT_MS, OutboundError, postForm, type Resolver } from '../../src/http/outbound.js';
import { backchannelIdle, deliverLogoutToken, deliverySettings, RETRY_DELAYS_MS } from '../../src/logout/backchannel.js';
import { createClient } from '../../src/manage/clients.js';
import { createUser } from '../../src/manage/users.js';
import { BACKENDS, basic, form, FORM_HEADERS, startTestApp, type TestApp } from '../helpers.js';
import { Receiver } from '../support/receiver.js';
import { formOf, InjectBrowser, PASSWORD, pathOf } from './support.js';

const DEV_PUBLIC_URL = 'http://localhost:9000';
const LOGOUT = '/realms/default/protocol/openid-connect/logout';
const REDIRECT = 'https://app.example/cb';

describe.each(BACKENDS)('SECURITY-CHECKLIST G: outbound requests on %s', (backend) => {
  let t: TestApp;
  let receiver: Receiver;
  let withUri: { id: string; secret: string };
  const policy = { publicUrl: DEV_PUBLIC_URL };

  beforeAll(async () => {
    receiver = await new Receiver().start();
    t = await startTestApp(backend, { config: { publicUrl: DEV_PUBLIC_URL } });
    const c = await createClient(t.deps, 'default', {
      name: 'Avatar Studio', grantTypes: ['authorization_code'], redirectUris: [REDIRECT], consent: 'skip', backchannelLogoutUri: receiver.url('/bcl/studio'),
    }, 86400, policy);
    withUri = { id: c.client.clientId, secret: c.secret! };
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

  /** Signs alice in through the login page for `client`; returns the ID token of the code exchange. */
  async function signIn(b: InjectBrowser, client = withUri) {
    const login = await b.get(`/realms/default/protocol/openid-connect/auth?${new URLSearchParams({ response_type: 'code', client_id: client.id, redirect_uri: REDIRECT, scope: 'openid', state: 's', nonce: 'n' })}`);
    const lf = formOf(login.body);
    const done = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: PASSWORD });
    expect(done.statusCode).toBe(303);
    const code = new URL(done.headers.location as string).searchParams.get('code')!;
    const res = await t.app.inject({
      method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(client.id, client.secret) },
      payload: form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT }),
    });
    expect(res.statusCode).toBe(200);
    const idToken = res.json().id_token as string;
    return { idToken, sid: decodeJwt(idToken).sid as string };
  }
  const logout = (b: InjectBrowser, idToken: string) => b.get(`${LOGOUT}?${new URLSearchParams({ id_token_hint: idToken })}`);

  it('57. client-supplied URLs are refused at registration unless https on a public host (http only on loopback, in loopback development)', async () => {
    const register = (uri: string, publicUrl = DEV_PUBLIC_URL) =>
      createClient(t.deps, 'default', { name: 'Probe', redirectUris: [REDIRECT], backchannelLogoutUri: uri }, 86400, { publicUrl });
    const refused = async (uri: string, message: RegExp, publicUrl?: string) => {
      const err = await register(uri, publicUrl).then(() => undefined, (e: unknown) => e);
      expect({ uri, error: err instanceof InputError }).toEqual({ uri, error: true });
      expect((err as Error).message).toMatch(message);
    };
    await refused('http://rp.example/logout', /https/);
    await refused('ftp://rp.example/logout', /https/);
    await refused('https://10.1.2.3/logout', /private address/);
    await refused('https://192.168.0.10/logout', /private address/);
    await refused('https://169.254.169.254/latest/meta-data', /private address|link-local/);
    await refused('https://[fe80::1]/logout', /private address/);
    await refused('https://127.0.0.1/logout', /loopback address/, 'https://auth.example.com');
    await refused('http://127.0.0.1/logout', /https/, 'https://auth.example.com');
    await refused('/logout', /not an absolute URI/);
    expect((await register('https://rp.example/logout')).client.backchannelLogoutUri).toBe('https://rp.example/logout');
  });

  it('57. the server fetches no client-supplied URL that is not https, resolves to a private or loopback address, or is slow (SSRF), and never inside the request that named it', async () => {
    const lookups: string[] = [];
    const resolveTo = (...addresses: string[]): Resolver => async (hostname) => {
      lookups.push(hostname);
      return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
    const refusal = async (url: string, resolver: Resolver, allowLoopback = false) => {
      const result = await deliverLogoutToken(url, 'a.b.c', { allowLoopback, resolver, timeoutMs: 500, retryDelaysMs: [1, 1] });
      expect(result.ok).toBe(false);
      return result;
    };

    // Not https: refused before any lookup, and never retried.
    expect(await refusal('http://rp.example/logout', resolveTo('93.184.216.34'))).toEqual({ ok: false, attempts: 1, reason: 'the URL is not https' });
    expect(await refusal('http://127.0.0.1:1/logout', resolveTo('127.0.0.1'))).toMatchObject({ attempts: 1, reason: 'the URL is not https' });
    expect(lookups).toEqual([]);

    // Private, loopback, link-local, multicast, and any name with one such address among public ones.
    for (const address of ['10.0.0.7', '192.168.1.20', '172.16.5.4', '127.0.0.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '::1', 'fd00::1', 'fe80::1', 'ff02::1', '::ffff:10.0.0.1', '::ffff:127.0.0.1']) {
      const result = await refusal('https://rp.example/logout', resolveTo(address));
      expect(result.attempts).toBe(1);
      expect(result.reason).toMatch(/^the host resolves to a (private|loopback) address/);
    }
    expect(await refusal('https://rp.example/logout', resolveTo('93.184.216.34', '10.0.0.1'))).toMatchObject({ attempts: 1, reason: 'the host resolves to a private address (10.0.0.1)' });
    // IP literals are checked without a lookup.
    lookups.length = 0;
    for (const url of ['https://127.0.0.1/logout', 'https://[::1]/logout', 'https://169.254.169.254/latest/meta-data', 'https://192.168.0.1/', 'https://[::ffff:a00:1]/']) {
      expect((await refusal(url, resolveTo('93.184.216.34'))).reason).toMatch(/^the host resolves to a (private|loopback) address/);
    }
    expect(lookups).toEqual([]);
    // Loopback development allows loopback only: private networks stay out of reach.
    expect((await refusal('https://rp.example/logout', resolveTo('10.0.0.7'), true)).reason).toBe('the host resolves to a private address (10.0.0.7)');
    expect((await refusal('http://rp.example/logout', resolveTo('127.0.0.1'), true)).reason).toBe('the URL is not https');
    expect(isLoopbackDevelopment('http://localhost:9000')).toBe(true);
    expect(isLoopbackDevelopment('http://tessera.test')).toBe(false);
    expect(isLoopbackDevelopment('https://localhost:9000')).toBe(false);
    expect(() => checkOutboundUrl('http://10.0.0.1/', true)).toThrow(OutboundError);
    expect(['8.8.8.8', '2606:4700::1111', '93.184.216.34'].map(addressKind)).toEqual(['public', 'public', 'public']);

    // A name that does not resolve fails (and is retried: DNS may recover).
    const nxdomain: Resolver = async () => {
      throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    };
    expect(await refusal('https://nowhere.example/logout', nxdomain)).toEqual({ ok: false, attempts: 3, reason: 'the host name did not resolve (ENOTFOUND)' });

    // The connection goes to the address the guard checked, not to a second lookup's answer
    // (DNS rebinding): "localhost" is pinned to 127.0.0.2, where only this receiver listens.
    const pinned = await new Receiver('127.0.0.2').start();
    try {
      const ok = await deliverLogoutToken(`http://localhost:${pinned.port}/bcl`, 'a.b.c', { allowLoopback: true, resolver: resolveTo('127.0.0.2'), retryDelaysMs: [] });
      expect(ok).toEqual({ ok: true, attempts: 1 });
      expect(pinned.received.map((r) => [r.path, r.headers.host, r.body])).toEqual([['/bcl', `localhost:${pinned.port}`, 'logout_token=a.b.c']]);

      // A slow receiver times out: one attempt, then each retry, each cut at the timeout.
      pinned.hang = true;
      const started = Date.now();
      const slow = await deliverLogoutToken(`http://localhost:${pinned.port}/bcl`, 'a.b.c', { allowLoopback: true, resolver: resolveTo('127.0.0.2'), timeoutMs: 200, retryDelaysMs: [10, 10] });
      expect(slow).toEqual({ ok: false, attempts: 3, reason: 'timed out' });
      expect(Date.now() - started).toBeLessThan(2000);
      await expect(postForm(`http://localhost:${pinned.port}/bcl`, {}, { allowLoopback: true, resolver: resolveTo('127.0.0.2'), timeoutMs: 100 })).rejects.toThrow('timed out');
    } finally {
      await pinned.close();
    }

    // Never inside the request: a receiver that hangs does not hold up the logout that named it.
    receiver.hang = true;
    deliverySettings.timeoutMs = 1000;
    deliverySettings.retryDelaysMs = [];
    const b = new InjectBrowser(t.app);
    const { idToken } = await signIn(b);
    const started = Date.now();
    expect((await logout(b, idToken)).statusCode).toBe(200);
    expect(Date.now() - started).toBeLessThan(800);
    await backchannelIdle();
    expect(receiver.received).toHaveLength(1);
    const { events } = await t.storage.audit.list('default', { type: 'logout.backchannel_failed', limit: 1 });
    expect(events[0].detail).toMatchObject({ attempts: 1, reason: 'timed out' });
  });
});
