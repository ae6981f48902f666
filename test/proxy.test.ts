import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/manage/clients.js';
import { BACKENDS, startTestApp, type TestApp } from './helpers.js';
import { formOf, InjectBrowser, pathOf } from './support/inject_browser.js';

/**
 * TESSERA_TRUSTED_PROXIES (DESIGN.md §1): X-Forwarded-For is believed only from a configured
 * proxy, so a client cannot choose the address that sign-in throttling and audit events see.
 */
describe.each(BACKENDS)('trusted proxies on %s', (backend) => {
  let t: TestApp;
  let clientId: string;

  beforeAll(async () => {
    t = await startTestApp(backend, { config: { trustedProxies: ['10.0.0.0/8'] } });
    clientId = (await createClient(t.deps, 'default', { name: 'Proxy Test', redirectUris: ['https://app.example/cb'] }, 86400)).client.clientId;
  });
  afterAll(async () => t?.close());

  /** A failed sign-in from `remoteAddress` claiming `forwardedFor`; returns the IP its audit event recorded. */
  async function recordedIp(remoteAddress: string, forwardedFor: string): Promise<string | null> {
    const b = new InjectBrowser(t.app);
    const login = await b.get(`/realms/default/protocol/openid-connect/auth?${new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: 'https://app.example/cb' })}`);
    const f = formOf(login.body);
    const res = await t.app.inject({
      method: 'POST', url: pathOf(f.action), remoteAddress,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': forwardedFor, cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      payload: new URLSearchParams({ ...f.fields, username: 'nobody', password: 'wrong password 1' }).toString(),
    });
    expect(res.statusCode).toBe(401);
    const { events } = await t.storage.audit.list('default', { type: 'sign_in.failure', limit: 1 });
    return events[0].ip;
  }

  it('believes X-Forwarded-For from a configured proxy', async () => {
    expect(await recordedIp('10.1.2.3', '203.0.113.7')).toBe('203.0.113.7');
  });

  it('ignores X-Forwarded-For from anyone else', async () => {
    expect(await recordedIp('198.51.100.9', '203.0.113.8')).toBe('198.51.100.9');
  });
});
