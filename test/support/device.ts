/**
 * The world of the device-flow tests (RFC 8628): device clients of each kind, an API with
 * described scopes, two users, and a person at the device page — signing in through the
 * built-in "Device sign-in" client, typing a code, and answering the consent page — over
 * app.inject with a cookie jar.
 */
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { createApi } from '../../src/manage/apis.js';
import { createClient, type ClientInput } from '../../src/manage/clients.js';
import { createUser } from '../../src/manage/users.js';
import { FakeClock, startTestApp, type TestApp } from '../helpers.js';
import { tokenRequest, type TestClient } from '../security/support.js';
import { formOf, InjectBrowser, pathOf } from './inject_browser.js';

/** An https deployment (DESIGN.md §1): the device page is a redirect URI of its own tenant. */
export const PUBLIC = 'https://tessera.test';
export const ISSUER = `${PUBLIC}/realms/default`;
export const DEVICE_AUTH = '/realms/default/protocol/openid-connect/auth/device';
export const TOKEN = '/realms/default/protocol/openid-connect/token';
export const DEVICE_PAGE = '/realms/default/device';
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
export const API = 'https://api.avatars.example/';
export const PASSWORD = 'correct horse battery';
export const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;
export const OPAQUE = /^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/;
const DAY = 86400;

export const mainOf = (html: string): string => /<main>([\s\S]*)<\/main>/.exec(html)?.[1] ?? `(no <main> in ${html.slice(0, 200)})`;
/** The visible text of a page's <main>, whitespace collapsed. */
export const textOf = (html: string): string => mainOf(html).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
/** Status, retry-after and visible text of a page. */
export const pageView = (res: LightMyRequestResponse) => ({ status: res.statusCode, retryAfter: res.headers['retry-after'], text: textOf(res.body) });
export const jsonView = (res: LightMyRequestResponse) => ({ status: res.statusCode, cacheControl: res.headers['cache-control'], body: res.json() });
export const oauthError = (error: string, description: string, status = 400) => ({ status, cacheControl: 'no-store', body: { error, error_description: description } });

export async function deviceWorld(backend: 'sqlite' | 'postgres') {
  const clock = new FakeClock();
  const t: TestApp = await startTestApp(backend, { clock, config: { publicUrl: PUBLIC } });
  await createApi(t.deps, 'default', { audience: API, name: 'Avatars', scopes: ['read:avatars=Read your avatars', 'write:avatars=Change your avatars'] }, DAY);
  const mk = async (input: ClientInput): Promise<TestClient> => {
    const c = await createClient(t.deps, 'default', input, DAY);
    return { id: c.client.clientId, secret: c.secret };
  };
  const clients = {
    /** Confidential, JWT access tokens, refresh tokens with offline_access. */
    tv: await mk({ name: 'Living Room TV', grantTypes: [DEVICE_GRANT, 'refresh_token'], scopes: ['read:avatars', 'write:avatars'] }),
    /** Public: authenticates by client_id alone; opaque access tokens. */
    console: await mk({ name: 'Game Console', public: true, grantTypes: [DEVICE_GRANT], scopes: ['read:avatars'], accessTokenFormat: 'opaque' }),
    other: await mk({ name: 'Other TV', grantTypes: [DEVICE_GRANT], scopes: ['read:avatars'] }),
    /** Without the device grant. */
    web: await mk({ name: 'Web App', grantTypes: ['authorization_code'], redirectUris: ['https://app.example/cb'], scopes: ['read:avatars'] }),
  };
  const alice = await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD, name: 'Alice' });
  const bob = await createUser(t.deps, 'default', { username: 'bob', password: PASSWORD });

  /** A device authorization request (RFC 8628 §3.1). */
  const authorize = (client: TestClient, fields: Record<string, string | undefined> = {}) => tokenRequest(t.app, client, fields, DEVICE_AUTH);
  /** Codes for `client`, asserting success. */
  async function codes(client: TestClient, scope?: string): Promise<{ device_code: string; user_code: string; verification_uri_complete: string }> {
    const res = await authorize(client, { scope });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }
  /** A token request of the device grant (§3.4). */
  const poll = (client: TestClient, deviceCode: string | undefined) => tokenRequest(t.app, client, { grant_type: DEVICE_GRANT, device_code: deviceCode });

  /** Opens the device page in a fresh browser, signs in on the login page it leads to, and returns the code-entry page. */
  async function signIn(username = 'alice', url = DEVICE_PAGE): Promise<{ b: InjectBrowser; page: LightMyRequestResponse }> {
    const b = new InjectBrowser(t.app);
    const start = await b.get(url);
    expect(start.statusCode).toBe(302);
    const login = await b.get(pathOf(start.headers.location as string));
    expect(login.statusCode).toBe(200);
    const lf = formOf(login.body);
    const back = await b.post(pathOf(lf.action), { ...lf.fields, username, password: PASSWORD });
    expect(back.statusCode).toBe(303);
    const clean = await b.get(pathOf(back.headers.location as string));
    expect(clean.statusCode).toBe(303);
    const page = await b.get(pathOf(clean.headers.location as string));
    expect(page.statusCode).toBe(200);
    return { b, page };
  }
  /** Submits the code-entry form of `page` with `userCode`. */
  const enter = (b: InjectBrowser, page: LightMyRequestResponse, userCode: string) => {
    const f = formOf(page.body);
    return b.post(pathOf(f.action), { ...f.fields, user_code: userCode });
  };
  /** Presses Allow or Deny on a device consent page. */
  const decide = (b: InjectBrowser, consent: LightMyRequestResponse, decision: string) => {
    const f = formOf(consent.body);
    return b.post(pathOf(f.action), { ...f.fields, decision });
  };
  /** A user signs in, types the code and decides; returns the last page. */
  async function approve(userCode: string, decision: 'allow' | 'deny' = 'allow', username = 'alice') {
    const { b, page } = await signIn(username);
    const consent = await enter(b, page, userCode);
    expect(consent.statusCode, textOf(consent.body)).toBe(200);
    return decide(b, consent, decision);
  }

  return { t, clock, clients, alice, bob, authorize, codes, poll, signIn, enter, decide, approve };
}

export type DeviceWorld = Awaited<ReturnType<typeof deviceWorld>>;
