/**
 * RFC 8628, the device authorization grant: the device authorization endpoint (§3.1–3.2),
 * polling the token endpoint (§3.4–3.5: every error), tokens as the code flow issues them,
 * the device code bound to its client and consumed exactly once — 20 concurrent polls, one
 * winner — on every backend.
 */
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageKey } from '../src/tokens/opaque.js';
import { BACKENDS, FORM_HEADERS, basic, form } from './helpers.js';
import { tokenRequest } from './security/support.js';
import {
  API, DEVICE_AUTH, DEVICE_GRANT, ISSUER, OPAQUE, TOKEN, USER_CODE, deviceWorld, jsonView, oauthError, textOf, type DeviceWorld,
} from './support/device.js';

const CHALLENGE = 'Basic realm="default", charset="UTF-8"';
const PENDING = oauthError('authorization_pending', 'the user has not approved the request yet');
const USED = oauthError('invalid_grant', 'device code was already used');

describe.each(BACKENDS)('device authorization grant (RFC 8628) on %s', (backend) => {
  let w: DeviceWorld;
  beforeAll(async () => {
    w = await deviceWorld(backend);
  });
  afterAll(() => w?.t.close());

  const now = () => Math.floor(w.clock.ms / 1000);

  it('answers a device authorization request with both codes, the verification URIs, expires_in and interval (§3.2)', async () => {
    const res = await w.authorize(w.clients.tv, { scope: 'openid read:avatars' });
    expect({ ...jsonView(res), pragma: res.headers.pragma }).toEqual({
      status: 200, cacheControl: 'no-store', pragma: 'no-cache',
      body: {
        device_code: expect.stringMatching(OPAQUE), user_code: expect.stringMatching(USER_CODE),
        verification_uri: `${ISSUER}/device`, verification_uri_complete: `${ISSUER}/device?user_code=${res.json().user_code}`,
        expires_in: 600, interval: 5,
      },
    });
    // Stored by digest only, bound to the client, for 10 minutes.
    const stored = await w.t.storage.artifacts.find('device_code', storageKey(res.json().device_code));
    expect(stored).toEqual({
      digest: storageKey(res.json().device_code), tenantId: 'default', kind: 'device_code', grantId: null, clientId: w.clients.tv.id,
      data: { scopes: ['openid', 'read:avatars'], target: { scopes: ['read:avatars'], audience: [API], ttl: 3600 }, interval: 5, lastPollAt: null, decision: null },
      createdAt: now(), expiresAt: now() + 600, usedAt: null,
    });
  });

  it('runs the flow: pending until the user approves on the device page, then tokens as the code flow issues them', async () => {
    const { device_code, user_code } = await w.codes(w.clients.tv, 'openid offline_access read:avatars');
    expect(jsonView(await w.poll(w.clients.tv, device_code))).toEqual(PENDING);
    w.clock.advance(5);
    const done = await w.approve(user_code);
    expect({ status: done.statusCode, text: textOf(done.body) }).toEqual({ status: 200, text: 'Device connected Living Room TV now has access. Return to your device: it continues by itself.' });
    const authTime = now();

    w.clock.advance(5);
    const res = await w.poll(w.clients.tv, device_code);
    expect(jsonView(res)).toEqual({
      status: 200, cacheControl: 'no-store',
      body: {
        access_token: expect.any(String), token_type: 'Bearer', expires_in: 3600, refresh_token: expect.any(String),
        scope: 'openid offline_access read:avatars', id_token: expect.any(String), 'not-before-policy': 0,
      },
    });
    const body = res.json();
    const jwks = createLocalJWKSet((await w.t.app.inject({ url: '/realms/default/protocol/openid-connect/certs' })).json());
    const at = await jwtVerify(body.access_token, jwks, { issuer: ISSUER, audience: API, typ: 'at+jwt', currentDate: new Date(w.clock.ms) });
    expect(at.payload).toEqual({
      iss: ISSUER, sub: w.alice.id, aud: API, client_id: w.clients.tv.id, scope: 'openid offline_access read:avatars',
      iat: now(), exp: now() + 3600, jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/),
    });
    const id = await jwtVerify(body.id_token, jwks, { issuer: ISSUER, audience: w.clients.tv.id, currentDate: new Date(w.clock.ms) });
    expect(id.payload).toEqual({
      iss: ISSUER, sub: w.alice.id, aud: w.clients.tv.id, azp: w.clients.tv.id, iat: now(), exp: now() + 3600,
      auth_time: authTime, amr: ['pwd'], acr: '1', sid: expect.any(String), at_hash: expect.any(String),
    });
    expect(decodeJwt(body.refresh_token)).toMatchObject({ typ: 'Offline', azp: w.clients.tv.id, sub: w.alice.id, scope: 'openid offline_access read:avatars' });

    // The refresh token works as any other; the grant is the user's, revocable like any.
    const refreshed = await tokenRequest(w.t.app, w.clients.tv, { grant_type: 'refresh_token', refresh_token: body.refresh_token });
    expect(refreshed.statusCode, refreshed.body).toBe(200);
    const events = (await w.t.storage.audit.list('default', { type: 'token.issued', limit: 5 })).events;
    expect(events[0]).toMatchObject({ type: 'token.issued', actor: w.clients.tv.id, clientId: w.clients.tv.id, userId: w.alice.id, detail: { grant_type: DEVICE_GRANT, scope: 'openid offline_access read:avatars', grant_id: expect.any(String) } });
    const consent = (await w.t.storage.audit.list('default', { type: 'consent.granted', limit: 1 })).events;
    expect(consent[0]).toMatchObject({ actor: w.alice.id, clientId: w.clients.tv.id, detail: { scope: 'openid offline_access read:avatars', grant_type: DEVICE_GRANT } });

    // §3.5 / DESIGN.md §2: the device code is single-use.
    expect(jsonView(await w.poll(w.clients.tv, device_code))).toEqual(USED);
  });

  it('answers slow_down to a poll sooner than the interval, and the interval grows by 5 seconds for good (§3.5)', async () => {
    const { device_code } = await w.codes(w.clients.tv, 'read:avatars');
    const seen = [];
    for (const wait of [0, 2, 8, 9, 6, 15]) {
      w.clock.advance(wait);
      seen.push(jsonView(await w.poll(w.clients.tv, device_code)).body);
    }
    const slow = (n: number) => ({ error: 'slow_down', error_description: `polling too often; wait at least ${n} seconds between requests` });
    // 0: first poll; +2: too soon (10 s now); +8 = 10 s after the last answered poll; +9: too soon (15 s); +6 = 15 s; +15 = 15 s.
    expect(seen).toEqual([PENDING.body, slow(10), PENDING.body, slow(15), PENDING.body, PENDING.body]);
    expect(jsonView(await w.poll(w.clients.tv, device_code))).toEqual({ ...oauthError('slow_down', slow(20).error_description) });
  });

  it('answers access_denied once the user denies, to every later poll', async () => {
    const { device_code, user_code } = await w.codes(w.clients.tv, 'read:avatars');
    const done = await w.approve(user_code, 'deny');
    expect({ status: done.statusCode, text: textOf(done.body) }).toEqual({ status: 200, text: 'Access denied Living Room TV was not given access. You can close this page.' });
    for (const wait of [5, 5]) {
      w.clock.advance(wait);
      expect(jsonView(await w.poll(w.clients.tv, device_code))).toEqual(oauthError('access_denied', 'the user denied the request'));
    }
  });

  it('answers expired_token once the device code is 600 seconds old, approved or not', async () => {
    const pending = await w.codes(w.clients.tv, 'read:avatars');
    const approved = await w.codes(w.clients.tv, 'read:avatars');
    await w.approve(approved.user_code);
    w.clock.advance(600);
    for (const code of [pending.device_code, approved.device_code]) {
      expect(jsonView(await w.poll(w.clients.tv, code))).toEqual(oauthError('expired_token', 'device code has expired; start the device authorization again'));
    }
  });

  it("refuses another client's device code with invalid_grant and leaves it to its own client", async () => {
    const { device_code, user_code } = await w.codes(w.clients.tv, 'read:avatars');
    await w.approve(user_code);
    w.clock.advance(5);
    expect(jsonView(await w.poll(w.clients.other, device_code))).toEqual(oauthError('invalid_grant', 'device code is invalid'));
    expect(jsonView(await w.poll(w.clients.other, 'not-a-device-code'))).toEqual(oauthError('invalid_grant', 'device code is invalid'));
    expect((await w.poll(w.clients.tv, device_code)).statusCode).toBe(200);
  });

  it('gives tokens to exactly one of 20 concurrent polls after approval; the others are told the code was used', async () => {
    const { device_code, user_code } = await w.codes(w.clients.tv, 'offline_access read:avatars');
    await w.approve(user_code);
    w.clock.advance(5);
    const results = (await Promise.all(Array.from({ length: 20 }, () => w.poll(w.clients.tv, device_code)))).map(jsonView);
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toEqual([{ status: 200, cacheControl: 'no-store', body: expect.objectContaining({ scope: 'offline_access read:avatars', refresh_token: expect.any(String) }) }]);
    expect(results.filter((r) => r.status !== 200)).toEqual(Array(19).fill(USED));
  });

  it('serves a public client by client_id alone, with opaque tokens and no refresh or ID token it did not ask for', async () => {
    const { device_code, user_code } = await w.codes(w.clients.console, 'read:avatars');
    await w.approve(user_code, 'allow', 'bob');
    w.clock.advance(5);
    const res = await w.poll(w.clients.console, device_code);
    expect(jsonView(res)).toEqual({ status: 200, cacheControl: 'no-store', body: { access_token: expect.stringMatching(OPAQUE), token_type: 'Bearer', expires_in: 3600, scope: 'read:avatars', 'not-before-policy': 0 } });
    const validate = await w.t.app.inject({ url: '/realms/default/protocol/openid-connect/validate', headers: { authorization: `Bearer ${res.json().access_token}` } });
    expect(validate.json()).toEqual({ client_id: w.clients.console.id, sub: w.bob.id, scopes: ['read:avatars'], expires_in: 3600 });
  });

  it('refuses a disabled user approval at the poll with invalid_grant', async () => {
    const { device_code, user_code } = await w.codes(w.clients.tv, 'read:avatars');
    await w.approve(user_code, 'allow', 'bob');
    await w.t.storage.users.update({ ...(await w.t.storage.users.get('default', w.bob.id))!, disabled: true });
    w.clock.advance(5);
    expect(jsonView(await w.poll(w.clients.tv, device_code))).toEqual(oauthError('invalid_grant', 'the user of this device code is disabled or gone'));
    await w.t.storage.users.update({ ...(await w.t.storage.users.get('default', w.bob.id))!, disabled: false });
  });

  it('refuses clients without the device grant with unauthorized_client, at both endpoints', async () => {
    const description = `the client is not allowed to use the ${DEVICE_GRANT} grant`;
    expect(jsonView(await w.authorize(w.clients.web, { scope: 'read:avatars' }))).toEqual(oauthError('unauthorized_client', description));
    const { device_code } = await w.codes(w.clients.tv);
    expect(jsonView(await w.poll(w.clients.web, device_code))).toEqual(oauthError('unauthorized_client', description));
  });

  it('refuses failed client authentication with invalid_client and a Basic challenge, at both endpoints', async () => {
    const wrong = { id: w.clients.tv.id, secret: 'wrong' };
    for (const url of [DEVICE_AUTH, TOKEN]) {
      for (const [client, description] of [[wrong, 'client authentication failed'], [{ id: 'nobody', secret: 'x' }, 'client authentication failed']] as const) {
        const res = await tokenRequest(w.t.app, client, { grant_type: DEVICE_GRANT, device_code: 'x' }, url);
        expect({ ...jsonView(res), challenge: res.headers['www-authenticate'] }).toEqual({ ...oauthError('invalid_client', description, 401), challenge: CHALLENGE });
      }
      const none = await w.t.app.inject({ method: 'POST', url, headers: FORM_HEADERS, payload: form({ grant_type: DEVICE_GRANT, device_code: 'x' }) });
      expect({ ...jsonView(none), challenge: none.headers['www-authenticate'] }).toEqual({ ...oauthError('invalid_client', 'client authentication is required', 401), challenge: CHALLENGE });
    }
  });

  it('refuses malformed requests with invalid_request, invalid_scope and invalid_target', async () => {
    const tv = w.clients.tv;
    expect(jsonView(await w.poll(tv, undefined))).toEqual(oauthError('invalid_request', 'device_code is missing'));
    const twice = await w.t.app.inject({ method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(tv.id, tv.secret!) }, payload: form({ grant_type: DEVICE_GRANT, device_code: ['a', 'b'] }) });
    expect(jsonView(twice)).toEqual(oauthError('invalid_request', 'parameter device_code must not be repeated'));
    const scopeTwice = await w.t.app.inject({ method: 'POST', url: DEVICE_AUTH, headers: { ...FORM_HEADERS, authorization: basic(tv.id, tv.secret!) }, payload: form({ scope: ['read:avatars', 'write:avatars'] }) });
    expect(jsonView(scopeTwice)).toEqual(oauthError('invalid_request', 'parameter scope must not be repeated'));
    const json = await w.t.app.inject({ method: 'POST', url: DEVICE_AUTH, headers: { 'content-type': 'application/json', authorization: basic(tv.id, tv.secret!) }, payload: '{}' });
    expect(jsonView(json)).toEqual(oauthError('invalid_request', 'the request body must be application/x-www-form-urlencoded'));
    expect(jsonView(await w.authorize(tv, { audience: API, resource: API }))).toEqual(oauthError('invalid_request', 'give either audience or resource, not both'));
    expect(jsonView(await w.authorize(tv, { scope: 'admin' }))).toEqual(oauthError('invalid_scope', 'the client may not request scope admin'));
    expect(jsonView(await w.authorize(tv, { audience: 'https://nowhere.example/' }))).toEqual(oauthError('invalid_target', '"https://nowhere.example/" is not an API of this tenant'));
    const get = await w.t.app.inject({ url: DEVICE_AUTH });
    expect({ ...jsonView(get), allow: get.headers.allow }).toEqual({ ...oauthError('method_not_allowed', 'use POST for this endpoint', 405), allow: 'POST' });
  });

  it('takes audience or resource as the other grants do: the approved token is for that API', async () => {
    for (const fields of [{ resource: API }, { audience: API, scope: 'write:avatars' }]) {
      const res = await w.authorize(w.clients.tv, fields);
      expect(res.statusCode, res.body).toBe(200);
      await w.approve(res.json().user_code);
      w.clock.advance(5);
      const tokens = await w.poll(w.clients.tv, res.json().device_code);
      expect(tokens.statusCode, tokens.body).toBe(200);
      const { aud, scope } = decodeJwt(tokens.json().access_token);
      expect({ aud, scope, response: tokens.json().scope }).toEqual({ aud: API, scope: fields.scope, response: fields.scope });
    }
  });
});
