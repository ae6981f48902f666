/**
 * The device flow (RFC 8628) and second factors, on both backends: a device client that requires
 * MFA sends a password-only session through step-up before the approval counts, and the device's
 * ID token then carries `amr` with `mfa`.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setClientMfa } from '../src/manage/mfa.js';
import { totpAt } from '../src/mfa/totp.js';
import { BACKENDS } from './helpers.js';
import { deviceWorld, ISSUER, type DeviceWorld } from './support/device.js';
import { formOf, pathOf } from './support/inject_browser.js';

describe.each(BACKENDS)('device flow with a second factor on %s', (backend) => {
  let w: DeviceWorld;
  beforeAll(async () => {
    w = await deviceWorld(backend);
    await setClientMfa(w.t.deps, 'default', w.clients.tv.id, true);
  });
  afterAll(() => w?.t.close());

  it('steps a password-only session up before approving for a client that requires MFA', async () => {
    const { device_code, user_code } = await w.codes(w.clients.tv, 'openid read:avatars');
    const { b, page } = await w.signIn('alice');
    const consent = await w.enter(b, page, user_code);
    expect(consent.statusCode).toBe(200);
    const allow = await w.decide(b, consent, 'allow');
    // Not approved yet: off to the authorization endpoint, asking for a second factor.
    expect(allow.statusCode).toBe(303);
    const auth = new URL(allow.headers.location as string);
    expect(`${auth.origin}${auth.pathname}`).toBe(`${ISSUER}/protocol/openid-connect/auth`);
    expect(Object.fromEntries(auth.searchParams)).toMatchObject({ acr_values: '2', state: user_code, redirect_uri: `${ISSUER}/device` });
    expect((await w.poll(w.clients.tv, device_code)).json()).toMatchObject({ error: 'authorization_pending' });

    // alice has no factor: she sets one up (no password again), then is back on the device page with the code.
    const enrol = await b.get(pathOf(auth.toString()));
    expect(enrol.statusCode).toBe(200);
    const secret = (/<code id="totp-secret">([^<]*)<\/code>/.exec(enrol.body)?.[1] ?? '').replace(/ /g, '');
    const f = formOf(enrol.body);
    const codes = await b.post(pathOf(f.action), { ...f.fields, code: totpAt(secret, Math.floor(w.clock.now() / 1000)) });
    const next = formOf(codes.body);
    const back = await b.post(pathOf(next.action), next.fields);
    expect(back.statusCode).toBe(303);
    const clean = await b.get(pathOf(back.headers.location as string));
    expect(clean.statusCode).toBe(303);
    const entry = await b.get(pathOf(clean.headers.location as string));
    expect(entry.body).toContain(`value="${user_code}"`);
    const again = await w.decide(b, await w.enter(b, entry, user_code), 'allow');
    expect(again.statusCode).toBe(200);
    const tokens = await w.poll(w.clients.tv, device_code);
    expect(tokens.statusCode).toBe(200);
    expect(decodeJwt(tokens.json().id_token)).toMatchObject({ amr: ['pwd', 'otp', 'mfa'], acr: '2' });
  });

  it('approves at once for a client that does not require MFA, with amr pwd', async () => {
    const { device_code, user_code } = await w.codes(w.clients.other, 'openid read:avatars');
    const res = await w.approve(user_code, 'allow', 'bob');
    expect(res.statusCode).toBe(200);
    const tokens = await w.poll(w.clients.other, device_code);
    expect(tokens.statusCode).toBe(200);
    expect(decodeJwt(tokens.json().id_token)).toMatchObject({ amr: ['pwd'], acr: '1' });
  });
});
