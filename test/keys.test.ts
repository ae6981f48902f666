import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/manage/clients.js';
import { listKeys, revokeKey, rotateKeys } from '../src/manage/keys.js';
import { BACKENDS, basic, FakeClock, form, FORM_HEADERS, startTestApp, type TestApp } from './helpers.js';

const POLICY = { jwksCacheSeconds: 300, retentionSeconds: 86400 };

describe.each(BACKENDS)('signing key rotation on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  let svc: { id: string; secret: string };

  const kids = async () => (await t.app.inject({ url: '/realms/default/protocol/openid-connect/certs' })).json().keys.map((k: { kid: string }) => k.kid) as string[];
  const token = async () => {
    const res = await t.app.inject({
      method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(svc.id, svc.secret) },
      payload: form({ grant_type: 'client_credentials' }),
    });
    expect(res.statusCode).toBe(200);
    return res.json().access_token as string;
  };
  const accessKid = async () => (await listKeys(t.deps, 'default', POLICY)).find((k) => k.purpose === 'access' && k.status === 'active')!.kid;

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    const { client, secret } = await createClient(t.deps, 'default', { name: 'svc', grantTypes: ['client_credentials'] }, 86400);
    svc = { id: client.clientId, secret: secret! };
  });
  afterAll(() => t?.close());

  it('publishes a rotated-in key at once but signs with it only after the JWKS cache lifetime', async () => {
    const before = await accessKid();
    const oldToken = await token();
    const [added] = await rotateKeys(t.deps, 'default', POLICY, { purpose: 'access' });
    expect(added).toEqual({ kid: expect.any(String), alg: 'ES256', purpose: 'access', status: 'pending', created_at: expect.any(Number), activates_at: added.created_at + 300 });
    expect(await kids()).toContain(added.kid);
    expect(decodeProtectedHeader(await token()).kid).toBe(before);

    clock.advance(301);
    expect(decodeProtectedHeader(await token()).kid).toBe(added.kid);
    // SECURITY-CHECKLIST 41: the previous key stays published while its tokens live.
    const jwks = createLocalJWKSet({ keys: (await t.app.inject({ url: '/realms/default/protocol/openid-connect/certs' })).json().keys });
    await expect(jwtVerify(oldToken, jwks, { currentDate: new Date(clock.now()) })).resolves.toBeDefined();
    expect((await listKeys(t.deps, 'default', POLICY)).find((k) => k.kid === before)?.status).toBe('retiring');

    clock.advance(86400);
    expect(await kids()).not.toContain(before);
  });

  it('rotates with --now for emergencies', async () => {
    const [added] = await rotateKeys(t.deps, 'default', POLICY, { purpose: 'access', immediately: true });
    expect(added.status).toBe('active');
    expect(decodeProtectedHeader(await token()).kid).toBe(added.kid);
  });

  it('rotates to another algorithm when asked', async () => {
    const [added] = await rotateKeys(t.deps, 'default', POLICY, { purpose: 'access', alg: 'EdDSA', immediately: true });
    const tok = await token();
    expect(decodeProtectedHeader(tok)).toEqual({ alg: 'EdDSA', typ: 'at+jwt', kid: added.kid });
    const jwks = createLocalJWKSet((await t.app.inject({ url: '/realms/default/protocol/openid-connect/certs' })).json());
    await expect(jwtVerify(tok, jwks, { currentDate: new Date(clock.now()) })).resolves.toBeDefined();
  });

  it('revoking a key pulls it from the JWKS at once and a replacement signs', async () => {
    const active = await accessKid();
    const result = await revokeKey(t.deps, 'default', active, POLICY);
    expect(await kids()).not.toContain(active);
    const now = decodeProtectedHeader(await token()).kid;
    expect(now).not.toBe(active);
    expect(result.revoked).toBe(active);
  });

  it('refuses an unknown key id and an unknown algorithm', async () => {
    await expect(revokeKey(t.deps, 'default', 'nope', POLICY)).rejects.toThrow('tenant default has no key nope');
    await expect(rotateKeys(t.deps, 'default', POLICY, { purpose: 'access', alg: 'HS256' })).rejects.toThrow('unsupported key algorithm HS256 (use ES256, EdDSA, RS256)');
  });
});
