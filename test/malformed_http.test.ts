/**
 * Malformed requests the fuzzer (test/fuzz, issue 9) turned into 5xx answers or non-RFC bodies,
 * each pinned here. Refused before any route runs: a path that is not valid percent-encoded
 * UTF-8, headers over Node's size limit, bytes that are not HTTP; they get the same RFC 6749
 * §5.2 body as every other refusal, not fastify's own error shape. And NUL characters, which
 * PostgreSQL text cannot hold or compare: in parameters, in HTTP Basic credentials, in a client
 * assertion's sub, in cookies; each was a 500 on PostgreSQL. And a console asset named
 * `__proto__`, a 500 on both.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../src/manage/clients.js';
import { BACKENDS, basic, form, FORM_HEADERS, startTestApp, type TestApp } from './helpers.js';

const b64url = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
/** A client assertion naming a client id with a NUL in it (unsigned: it is refused before any key is fetched). */
const nulAssertion = `${b64url({ alg: 'ES256' })}.${b64url({ iss: 'a\u0000b', sub: 'a\u0000b', aud: 'x', jti: 'j', exp: 4e9 })}.AAAA`;
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Writes raw bytes to the listening server and reads until it closes the connection. */
function raw(port: number, bytes: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.on('data', (c) => { data += c; });
    socket.on('error', reject);
    socket.on('close', () => {
      const [head, body] = [data.slice(0, data.indexOf('\r\n\r\n')), data.slice(data.indexOf('\r\n\r\n') + 4)];
      resolve({ status: Number(head.split(' ')[1]), headers: head.toLowerCase(), body });
    });
    socket.end(bytes);
  });
}

describe.each(BACKENDS)('requests refused before routing on %s', (backend) => {
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await startTestApp(backend);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => t?.close());

  it('answers a path that is not valid percent-encoded UTF-8 with 400 invalid_request', async () => {
    for (const url of ['/realms/default/protocol/openid-connect/%FF%FE', '/admin/api/v1/tenants/%E2%82', '/realms/default/login-actions/%C0%AF']) {
      const res = await t.app.inject({ method: 'POST', url });
      expect({ url, status: res.statusCode, body: res.json(), cache: res.headers['cache-control'] }).toEqual({
        url, status: 400, body: { error: 'invalid_request', error_description: 'the request path is not valid percent-encoded UTF-8' }, cache: 'no-store',
      });
    }
  });

  it('refuses NUL characters in the path, the query or the body with 400 invalid_request', async () => {
    const nul = { error: 'invalid_request', error_description: 'request parameters must not contain NUL characters' };
    const cases = [
      { method: 'GET', url: '/realms/a%00b/protocol/openid-connect/certs' },
      { method: 'GET', url: '/realms/default/protocol/openid-connect/auth?client_id=a%00b&response_type=code' },
      { method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: FORM_HEADERS, payload: form({ grant_type: 'client_credentials', client_id: 'a\u0000b', client_secret: 'x' }) },
      { method: 'POST', url: '/realms/default/clients-registrations/openid-connect', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ redirect_uris: ['https://a.example/cb'], client_name: { 'k\u0000': 1 } }) },
      { method: 'GET', url: '/admin/api/v1/tenants/a%00b' },
    ] as const;
    for (const c of cases) {
      const res = await t.app.inject(c);
      expect({ url: c.url, status: res.statusCode, body: res.json() }).toEqual({ url: c.url, status: 400, body: nul });
    }
  });

  it('refuses HTTP Basic credentials whose client id decodes to a NUL with 400 invalid_request', async () => {
    for (const credentials of ['a%00b:secret', 'a\u0000b:secret']) {
      const res = await t.app.inject({
        method: 'POST', url: '/realms/default/protocol/openid-connect/token',
        headers: { ...FORM_HEADERS, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` }, payload: form({ grant_type: 'client_credentials' }),
      });
      expect({ status: res.statusCode, body: res.json() }).toEqual({ status: 400, body: { error: 'invalid_request', error_description: 'malformed client credentials in the authorization header' } });
    }
  });

  it('refuses a client assertion whose sub holds a NUL with 401 invalid_client, and audits it with the NUL replaced', async () => {
    for (const path of ['token', 'revoke', 'token/introspect']) {
      const res = await t.app.inject({
        method: 'POST', url: `/realms/default/protocol/openid-connect/${path}`, headers: FORM_HEADERS,
        payload: form({ ...(path === 'token' ? { grant_type: 'client_credentials' } : { token: 'x' }), client_assertion_type: ASSERTION_TYPE, client_assertion: nulAssertion }),
      });
      expect({ path, status: res.statusCode, body: res.json() }).toEqual({ path, status: 401, body: { error: 'invalid_client', error_description: 'client assertion sub is not a valid client_id' } });
    }
    await t.storage.audit.flush();
    const { events } = await t.storage.audit.list('default', { type: 'security', limit: 100 });
    expect(events.filter((e) => e.clientId === 'a\uFFFDb').map((e) => e.type).sort()).toEqual(['security.client_auth_failed', 'security.client_auth_failed', 'security.introspection_refused']);
  });

  it('treats a cookie that decodes to a NUL as absent: the account page asks for a sign-in', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/realms/default/account', headers: { cookie: 'tessera_session_default=a%00b; tessera_browser_default=%00' } });
    const plain = await t.app.inject({ method: 'GET', url: '/realms/default/account' });
    expect({ status: res.statusCode, location: res.headers.location }).toEqual({ status: plain.statusCode, location: plain.headers.location });
    expect(res.statusCode).toBe(302);
  });

  it('answers 404 for a console asset named after an Object.prototype key, and still serves the real ones', async () => {
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      const res = await t.app.inject({ method: 'GET', url: `/admin/assets/${name}` });
      expect({ name, status: res.statusCode, body: res.body }).toEqual({ name, status: 404, body: 'not found' });
    }
    const app = await t.app.inject({ method: 'GET', url: '/admin/assets/app.js' });
    expect({ status: app.statusCode, type: app.headers['content-type'] }).toEqual({ status: 200, type: 'text/javascript; charset=utf-8' });
  });

  it('still authenticates a client whose Basic credentials are percent-encoded as RFC 6749 §2.3.1 says', async () => {
    const { client, secret } = await createClient(t.deps, 'default', { name: 'Plain', grantTypes: ['client_credentials'] }, 3600);
    const res = await t.app.inject({
      method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(client.clientId, secret!) }, payload: form({ grant_type: 'client_credentials' }),
    });
    expect(res.statusCode).toBe(200);
  });

  it('answers headers over the size limit with 431 and an invalid_request body', async () => {
    const res = await raw(port, `GET /realms/default/protocol/openid-connect/certs?x=${'a'.repeat(100 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    expect({ status: res.status, json: res.headers.includes('content-type: application/json'), body: JSON.parse(res.body) }).toEqual({
      status: 431, json: true, body: { error: 'invalid_request', error_description: 'the request line and headers are too large' },
    });
  });

  it('answers a HEAD request over the header size limit with 431 and no content (RFC 9110 §9.3.2)', async () => {
    const res = await raw(port, `HEAD /realms/default/protocol/openid-connect/certs?x=${'a'.repeat(100 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    expect({ status: res.status, body: res.body }).toEqual({ status: 431, body: '' });
  });

  it('answers bytes that are not HTTP with 400 and an invalid_request body', async () => {
    const res = await raw(port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n');
    expect({ status: res.status, nostore: res.headers.includes('cache-control: no-store'), body: JSON.parse(res.body) }).toEqual({
      status: 400, nostore: true, body: { error: 'invalid_request', error_description: 'the request is not valid HTTP' },
    });
  });
});
