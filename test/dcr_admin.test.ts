import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, FakeClock, type TestApp } from './helpers.js';
import { adminApi, makeOperator, startAdminApp, tokenFor } from './support/admin.js';
import { DCR_OFF } from './support/dcr_policy.js';

const T0 = Math.floor(Date.UTC(2026, 0, 1) / 1000);

describe.each(BACKENDS)('dynamic client registration settings in the admin API on %s', (backend) => {
  let t: TestApp;
  let api: ReturnType<typeof adminApi>;

  beforeAll(async () => {
    t = await startAdminApp(backend, { clock: new FakeClock() });
    api = adminApi(t, await tokenFor(t, await makeOperator(t, 'root')));
  }, 60_000);
  afterAll(async () => t?.close());

  it('shows the policy on the tenant and changes only the fields given', async () => {
    expect((await api.get('/tenants/default')).body.dcr).toEqual(DCR_OFF);
    const on = await api.patch('/tenants/default', { dcr: { enabled: true, allow_consent_skip: true, scopes: ['read:photos'] } });
    expect(on.status).toBe(200);
    expect(on.body.dcr).toEqual({ ...DCR_OFF, enabled: true, allow_consent_skip: true, scopes: ['read:photos'] });
    const open = await api.patch('/tenants/default', { dcr: { open: true, grant_types: ['client_credentials'] } });
    expect(open.body.dcr).toEqual({ ...DCR_OFF, enabled: true, open: true, allow_consent_skip: true, scopes: ['read:photos'], grant_types: ['client_credentials'] });
    const discovery = (await t.app.inject({ method: 'GET', url: '/realms/default/.well-known/openid-configuration' })).json();
    expect(discovery.registration_endpoint).toBe('http://tessera.test/realms/default/clients-registrations/openid-connect');
  });

  it('refuses an unknown grant type and an unknown field', async () => {
    const bad = await api.patch('/tenants/default', { dcr: { grant_types: ['magic'] } });
    expect(bad).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
    expect(bad.body.error_description).toContain('unknown grant type magic');
    expect((await api.patch('/tenants/default', { dcr: { allow_everything: true } })).status).toBe(400);
  });

  it('makes, lists and revokes initial access tokens', async () => {
    const made = await api.post('/tenants/default/dcr/initial-access-tokens', { expires_in: 3600, max_uses: 2 });
    expect(made).toMatchObject({ status: 201 });
    expect(made.body).toEqual({
      id: expect.any(String), tenant: 'default', token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expires_at: T0 + 3600, max_uses: 2, uses: 0, revoked: false, created_at: T0,
    });
    const { token: _token, ...listed } = made.body;
    expect((await api.get('/tenants/default/dcr/initial-access-tokens')).body).toEqual({ tokens: [listed] });
    expect((await api.post(`/tenants/default/dcr/initial-access-tokens/${made.body.id}/revoke`)).body).toEqual({ revoked: { id: made.body.id } });
    expect((await api.get('/tenants/default/dcr/initial-access-tokens')).body).toEqual({ tokens: [{ ...listed, revoked: true }] });
    expect(await api.post('/tenants/default/dcr/initial-access-tokens/nope/revoke')).toMatchObject({
      status: 404, body: { error: 'not_found', error_description: 'tenant default has no initial access token nope' },
    });
    const res = await t.app.inject({ method: 'POST', url: '/realms/default/clients-registrations/openid-connect', headers: { 'content-type': 'application/json', authorization: `Bearer ${made.body.token}` }, payload: '{}' });
    expect(res.statusCode).toBe(401);
  });
});
