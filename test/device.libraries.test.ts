/**
 * The device authorization grant (RFC 8628) as oauth4webapi drives it against `tessera start`
 * (DESIGN.md §1 "Client libraries that must work unchanged"): discovery finds the device
 * authorization endpoint, the device polls with `deviceCodeGrantRequest` honouring the interval
 * and `slow_down`, and a person approves on the device page over HTTP with a cookie jar.
 * Needs the compiled dist/ (`npm test` builds it first).
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';
import { formOf } from './support/inject_browser.js';
import { sleep, startServer, type TesseraServer, waitForScope } from './support/server.js';
import { createUser, type CreatedUser } from './support/users.js';

const API = 'https://api.loomai.com/';
const ALICE = { username: 'alice', password: 'correct horse battery' };
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const insecure = { [oauth.allowInsecureRequests]: true };

/** A person with a browser of their own: fetch with a cookie jar, redirects followed by hand. */
function person() {
  const cookies = new Map<string, string>();
  const request = async (target: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (cookies.size) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      cookies.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    return res;
  };
  /** GETs `url` and follows redirects to the page they end on. */
  const open = async (url: string) => {
    let res = await request(url);
    while (res.status >= 300 && res.status < 400) res = await request(new URL(res.headers.get('location')!, url).href);
    return res;
  };
  const submit = async (page: Response, fields: Record<string, string>) => {
    const f = formOf(await page.text());
    const action = new URL(f.action, page.url || undefined).href;
    return request(action, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ ...f.fields, ...fields }) });
  };
  return { open, submit, request };
}

/** Alice opens verification_uri_complete, signs in, confirms the prefilled code and decides; returns the last page's text. */
async function decideOnDevicePage(verificationUriComplete: string, userCode: string, decision: 'allow' | 'deny'): Promise<string> {
  const alice = person();
  const login = await alice.open(verificationUriComplete);
  const back = await alice.submit(login, ALICE);
  expect(back.status).toBe(303);
  const entry = await alice.open(new URL(back.headers.get('location')!, verificationUriComplete).href);
  const entryHtml = await entry.clone().text();
  expect(entryHtml).toContain(`name="user_code" value="${userCode}"`);
  const consent = await alice.submit(entry, { user_code: userCode });
  expect(consent.status).toBe(200);
  const done = await alice.submit(consent, { decision });
  expect(done.status).toBe(200);
  return (await done.text()).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
}

describe.each(BACKENDS)('oauth4webapi: device authorization grant on %s', (backend) => {
  let server: TesseraServer;
  let alice: CreatedUser;
  let tv: { client_id: string; client_secret: string };
  let consoleApp: { client_id: string };

  beforeAll(async () => {
    server = await startServer({ backend });
    try {
      await server.cli('api', 'create', '--tenant', 'default', '--audience', API, '--scope', 'read:avatars=Read your avatars');
      [tv, consoleApp, alice] = await Promise.all([
        server.cli('client', 'create', '--tenant', 'default', '--name', 'Living Room TV', '--grant-types', `${DEVICE_GRANT},refresh_token`, '--scopes', 'read:avatars'),
        server.cli('client', 'create', '--tenant', 'default', '--name', 'Game Console', '--public', '--grant-types', DEVICE_GRANT, '--scopes', 'read:avatars'),
        createUser(server, ALICE),
      ]);
      await waitForScope(server.issuer, 'read:avatars');
    } catch (err) {
      await server.stop();
      throw err;
    }
  });
  afterAll(async () => {
    await server?.stop();
  });

  const discover = async () => oauth.processDiscoveryResponse(new URL(server.issuer), await oauth.discoveryRequest(new URL(server.issuer), { algorithm: 'oidc', ...insecure }));

  it('gets tokens for a user who approves on the device page, polling as RFC 8628 §3.5 says', async () => {
    const as = await discover();
    expect(as.device_authorization_endpoint).toBe(`${server.issuer}/protocol/openid-connect/auth/device`);
    expect(as.grant_types_supported).toContain(DEVICE_GRANT);
    const client: oauth.Client = { client_id: tv.client_id };
    const auth = oauth.ClientSecretBasic(tv.client_secret);
    const device = await oauth.processDeviceAuthorizationResponse(as, client,
      await oauth.deviceAuthorizationRequest(as, client, auth, { scope: 'openid offline_access read:avatars' }, insecure));
    expect(device).toEqual({
      device_code: expect.any(String), user_code: expect.stringMatching(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/),
      verification_uri: `${server.issuer}/device`, verification_uri_complete: `${server.issuer}/device?user_code=${device.user_code}`,
      expires_in: 600, interval: 5,
    });
    const poll = async () => oauth.processDeviceCodeResponse(as, client, await oauth.deviceCodeGrantRequest(as, client, auth, device.device_code, insecure));

    await expect(poll()).rejects.toMatchObject({ code: 'OAUTH_RESPONSE_BODY_ERROR', status: 400, error: 'authorization_pending' });
    // Asking again at once is too fast.
    await expect(poll()).rejects.toMatchObject({ error: 'slow_down', error_description: 'polling too often; wait at least 10 seconds between requests' });
    expect(await decideOnDevicePage(device.verification_uri_complete!, device.user_code, 'allow')).toContain('Device connected Living Room TV now has access.');

    // A client that honours slow_down: the interval is now 10 seconds, counted from the last answered poll.
    let interval = device.interval! + 5;
    let result: oauth.TokenEndpointResponse | undefined;
    while (!result) {
      await sleep(interval * 1000);
      try {
        result = await poll();
      } catch (err) {
        if (!(err instanceof oauth.ResponseBodyError) || !['authorization_pending', 'slow_down'].includes(err.error)) throw err;
        if (err.error === 'slow_down') interval += 5;
      }
    }
    expect(result).toMatchObject({ token_type: 'bearer', expires_in: 3600, scope: 'openid offline_access read:avatars', access_token: expect.any(String), refresh_token: expect.any(String), id_token: expect.any(String) });
    expect(oauth.getValidatedIdTokenClaims(result)).toMatchObject({ iss: server.issuer, sub: alice.id, aud: tv.client_id });
    // The device code is spent.
    await expect(poll()).rejects.toMatchObject({ error: 'invalid_grant', error_description: 'device code was already used' });
  }, 60_000);

  it('reports access_denied to a public client whose user pressed Deny', async () => {
    const as = await discover();
    const client: oauth.Client = { client_id: consoleApp.client_id, token_endpoint_auth_method: 'none' };
    const device = await oauth.processDeviceAuthorizationResponse(as, client,
      await oauth.deviceAuthorizationRequest(as, client, oauth.None(), { scope: 'read:avatars' }, insecure));
    expect(await decideOnDevicePage(device.verification_uri_complete!, device.user_code, 'deny')).toContain('Access denied Game Console was not given access.');
    await expect(oauth.processDeviceCodeResponse(as, client, await oauth.deviceCodeGrantRequest(as, client, oauth.None(), device.device_code, insecure)))
      .rejects.toMatchObject({ code: 'OAUTH_RESPONSE_BODY_ERROR', status: 400, error: 'access_denied', error_description: 'the user denied the request' });
  });
});
