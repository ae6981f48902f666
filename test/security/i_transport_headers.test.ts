/**
 * SECURITY-CHECKLIST §G items 49–51 (transport, trusted proxies, nothing secret in logs), the
 * header rules of items 11 and 27 over every page and every secret-bearing JSON answer, and
 * private keys sealed at rest under TESSERA_MASTER_KEY (issue 9).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { checkPublicUrl } from '../../src/http/transport.js';
import { createLogger } from '../../src/log.js';
import { createApi } from '../../src/manage/apis.js';
import { createClient } from '../../src/manage/clients.js';
import { createInitialToken } from '../../src/manage/dcr.js';
import { ensureDefaultTenant, updateTenant } from '../../src/manage/tenants.js';
import { createUser } from '../../src/manage/users.js';
import { openDatabase } from '../../src/storage/database.js';
import { openStorage } from '../../src/storage/index.js';
import { BACKENDS, basic, createTestDatabase, form, FORM_HEADERS, PUBLIC_URL, startTestApp, testConfig, type TestApp } from '../helpers.js';
import { makeOperator, startAdminApp, tokenFor } from '../support/admin.js';
import { dpopKey, makeProof } from '../support/dpop.js';
import { freePort, runTessera, sleep, startServer, type TesseraServer } from '../support/server.js';
import { createUser as createUserByCli } from '../support/users.js';
import { AUTH, authUrl, drive, formOf, InjectBrowser, PASSWORD, pathOf, pkce, TOKEN } from './support.js';

const SECURE_URL = 'https://auth.example.com';
const DISCOVERY = '/realms/default/.well-known/openid-configuration';
const HTTPS_REQUIRED = { error: 'invalid_request', error_description: 'HTTPS is required: this server accepts requests over https only' };
const HSTS = 'max-age=31536000';

describe('49. HTTPS enforced for non-loopback deployments', () => {
  it('49. refuses to start with a plain-http public URL that is not loopback, saying why and what to do', async () => {
    const db = await createTestDatabase('sqlite');
    try {
      const env = { PATH: process.env.PATH, DATABASE_URL: db.url, PORT: String(await freePort()), TESSERA_PUBLIC_URL: 'http://auth.example.com' };
      expect(await runTessera(env, ['start'])).toEqual({
        code: 1,
        stdout: '',
        stderr:
          'tessera start: invalid configuration: TESSERA_PUBLIC_URL http://auth.example.com is not a loopback address, so it must use https:// ' +
          '(terminate TLS at a proxy listed in TESSERA_TRUSTED_PROXIES, or set TLS_CERT and TLS_KEY); plain http is allowed only for localhost, 127.0.0.0/8 and ::1\n',
      });
    } finally {
      await db.drop();
    }
  });

  it('49. allows plain http only for loopback public URLs (localhost and *.localhost, 127.0.0.0/8, ::1), never for look-alikes', () => {
    const verdict = (publicUrl: string) => {
      try {
        checkPublicUrl({ publicUrl });
        return 'allowed';
      } catch {
        return 'refused';
      }
    };
    const allowed = ['http://localhost:9000', 'http://LOCALHOST', 'http://auth.localhost:8080', 'http://127.0.0.1', 'http://127.8.9.10:1', 'http://[::1]:9000', 'https://auth.example.com', 'https://10.0.0.1'];
    const refused = ['http://auth.example.com', 'http://localhost.evil.example', 'http://127.0.0.1.nip.io', 'http://10.0.0.1', 'http://0.0.0.0:9000', 'http://[::2]', 'http://[::ffff:7f00:1]', 'http://128.0.0.1'];
    expect(Object.fromEntries([...allowed, ...refused].map((u) => [u, verdict(u)]))).toEqual(
      Object.fromEntries([...allowed.map((u) => [u, 'allowed']), ...refused.map((u) => [u, 'refused'])]),
    );
  });

  describe.each(BACKENDS)('behind an https public URL on %s', (backend) => {
    let t: TestApp;
    let svc: { id: string; secret: string };
    beforeAll(async () => {
      t = await startTestApp(backend, { config: { publicUrl: SECURE_URL, httpsOnly: true, trustedProxies: ['10.0.0.0/8'] } });
      const { client, secret } = await createClient(t.deps, 'default', { name: 'svc', grantTypes: ['client_credentials'], scopes: ['read:things'] }, 86400);
      svc = { id: client.clientId, secret: secret! };
    });
    afterAll(() => t?.close());

    it('49. refuses a request that arrived over plain http before any handler reads it: 403 invalid_request as JSON, no-store, no HSTS', async () => {
      const token = await t.app.inject({
        method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(svc.id, svc.secret) }, payload: form({ grant_type: 'client_credentials' }),
      });
      const discovery = await t.app.inject({ method: 'GET', url: DISCOVERY, headers: { accept: 'application/json' } });
      for (const res of [token, discovery]) {
        expect({ status: res.statusCode, body: res.json(), cache: res.headers['cache-control'], hsts: res.headers['strict-transport-security'] }).toEqual({
          status: 403, body: HTTPS_REQUIRED, cache: 'no-store', hsts: undefined,
        });
      }
      // Nothing was issued: the refusal came before the token endpoint.
      const { events } = await t.storage.audit.list('default', { limit: 10 });
      expect(events.filter((e) => e.type.startsWith('token'))).toEqual([]);
    });

    it('49. shows a browser an error page (with the page headers) instead of the sign-in page over plain http', async () => {
      const res = await t.app.inject({ method: 'GET', url: authUrl({ client_id: svc.id, response_type: 'code' }), headers: { accept: 'text/html,application/xhtml+xml' } });
      expect({ status: res.statusCode, type: res.headers['content-type'], ...pageHeaders(res) }).toEqual({ status: 403, type: 'text/html; charset=utf-8', ...SAFE_PAGE });
      expect(/<main>([\s\S]*)<\/main>/.exec(res.body)?.[1]).toBe(
        '<h1>HTTPS is required</h1><p class="error" role="alert">This server accepts requests over https only. Open the same address with https://.</p>\n' +
          '<p class="muted">You can close this page and return to the application.</p>',
      );
    });
  });

  it('49. serves over direct TLS (TLS_CERT, TLS_KEY) with HSTS, the issuer on https', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-tls-'));
    let server: TesseraServer | undefined;
    try {
      const cert = join(dir, 'cert.pem');
      const key = join(dir, 'key.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
      const ca = readFileSync(cert);
      const get = (port: number, path: string) => httpsGet(`https://127.0.0.1:${port}${path}`, ca);
      server = await startServer({
        publicUrl: (port) => `https://localhost:${port}`, env: { TLS_CERT: cert, TLS_KEY: key },
        ready: async (port) => (await get(port, DISCOVERY).catch(() => undefined))?.status === 200,
      });
      const res = await get(server.port, DISCOVERY);
      expect({ status: res.status, hsts: res.headers['strict-transport-security'], issuer: JSON.parse(res.body).issuer }).toEqual({
        status: 200, hsts: HSTS, issuer: `https://localhost:${server.port}/realms/default`,
      });
      // The same port speaks no plain http at all.
      expect(await fetch(`http://127.0.0.1:${server.port}${DISCOVERY}`).then((r) => r.status, () => 'no plain http')).not.toBe(200);
    } finally {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('49. refuses to start when TLS_CERT or TLS_KEY is missing or unreadable', async () => {
    const db = await createTestDatabase('sqlite');
    try {
      const env = { PATH: process.env.PATH, DATABASE_URL: db.url, PORT: String(await freePort()) };
      expect(await runTessera({ ...env, TLS_CERT: '/nonexistent/cert.pem' }, ['start'])).toEqual({
        code: 1, stdout: '', stderr: 'tessera start: invalid configuration: TLS_CERT and TLS_KEY go together: set both files or neither\n',
      });
      const r = await runTessera({ ...env, TLS_CERT: '/nonexistent/cert.pem', TLS_KEY: '/nonexistent/key.pem' }, ['start']);
      expect({ code: r.code, stderr: r.stderr.split('\n').filter((l) => l.startsWith('tessera start')) }).toEqual({
        code: 1, stderr: ['tessera start: invalid configuration: TLS_CERT: cannot read /nonexistent/cert.pem: ENOENT'],
      });
    } finally {
      await db.drop();
    }
  });
});

describe.each(BACKENDS)('50. X-Forwarded-* honoured only from trusted proxies on %s', (backend) => {
  let secure: TestApp;
  let plain: TestApp;
  let clientId: string;
  const PROXY = '10.1.2.3';
  const STRANGER = '203.0.113.9';
  beforeAll(async () => {
    secure = await startTestApp(backend, { config: { publicUrl: SECURE_URL, httpsOnly: true, trustedProxies: ['10.0.0.0/8'] } });
    plain = await startTestApp(backend, { config: { trustedProxies: ['10.0.0.0/8'] } });
    clientId = (await createClient(plain.deps, 'default', { name: 'Proxy Test', redirectUris: ['https://app.example/cb'] }, 86400)).client.clientId;
  });
  afterAll(async () => {
    await secure?.close();
    await plain?.close();
  });

  it('50. believes X-Forwarded-Proto: https from a trusted proxy (served, with HSTS) and from nobody else (refused)', async () => {
    const via = (remoteAddress: string) => secure.app.inject({ method: 'GET', url: DISCOVERY, remoteAddress, headers: { 'x-forwarded-proto': 'https' } });
    const trusted = await via(PROXY);
    expect({ status: trusted.statusCode, hsts: trusted.headers['strict-transport-security'], issuer: trusted.json().issuer }).toEqual({
      status: 200, hsts: HSTS, issuer: `${SECURE_URL}/realms/default`,
    });
    const spoofed = await via(STRANGER);
    expect({ status: spoofed.statusCode, body: spoofed.json(), hsts: spoofed.headers['strict-transport-security'] }).toEqual({ status: 403, body: HTTPS_REQUIRED, hsts: undefined });
    // A proxy that says the client came over http is believed too.
    const downgraded = await secure.app.inject({ method: 'GET', url: DISCOVERY, remoteAddress: PROXY, headers: { 'x-forwarded-proto': 'http' } });
    expect(downgraded.statusCode).toBe(403);
  });

  it('50. records the X-Forwarded-For address only when a trusted proxy sent it', async () => {
    const recordedIp = async (remoteAddress: string, forwardedFor: string) => {
      const b = new InjectBrowser(plain.app);
      const login = await b.get(authUrl({ response_type: 'code', client_id: clientId, redirect_uri: 'https://app.example/cb' }));
      const f = formOf(login.body);
      const res = await plain.app.inject({
        method: 'POST', url: pathOf(f.action), remoteAddress,
        headers: { ...FORM_HEADERS, 'x-forwarded-for': forwardedFor, cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
        payload: new URLSearchParams({ ...f.fields, username: 'nobody', password: 'wrong password 1' }).toString(),
      });
      expect(res.statusCode).toBe(401);
      return (await plain.storage.audit.list('default', { type: 'sign_in.failure', limit: 1 })).events[0].ip;
    };
    expect(await recordedIp(PROXY, '198.51.100.7')).toBe('198.51.100.7');
    expect(await recordedIp(STRANGER, '198.51.100.8')).toBe(STRANGER);
  });

  it('50. takes the host from X-Forwarded-Host only from a trusted proxy', async () => {
    await updateTenant(plain.deps, 'default', { hostname: 'auth.acme.example' });
    plain.services.cache.clear();
    try {
      const discovery = (remoteAddress: string) =>
        plain.app.inject({ method: 'GET', url: DISCOVERY, remoteAddress, headers: { host: new URL(PUBLIC_URL).host, 'x-forwarded-host': 'auth.acme.example' } });
      const trusted = await discovery(PROXY);
      expect({ status: trusted.statusCode, issuer: trusted.json().issuer }).toEqual({ status: 200, issuer: 'https://auth.acme.example/realms/default' });
      const spoofed = await discovery(STRANGER);
      expect({ status: spoofed.statusCode, location: spoofed.headers.location }).toEqual({ status: 308, location: `https://auth.acme.example${DISCOVERY}` });
    } finally {
      await updateTenant(plain.deps, 'default', { hostname: '' });
      plain.services.cache.clear();
    }
  });
});

/** What every page must send (SECURITY-CHECKLIST 11; "no inline script without a nonce"). */
const SAFE_PAGE = { csp: 'strict', frameAncestors: "'none'", xFrameOptions: 'DENY', referrerPolicy: 'no-referrer', cacheControl: 'no-store', unnoncedScripts: 0 };

/** The security-relevant headers of a page, reduced to what SAFE_PAGE states. */
function pageHeaders(res: LightMyRequestResponse) {
  const csp = String(res.headers['content-security-policy'] ?? '');
  const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([name, ...values]) => [name, values]));
  const scriptSrc = directives.get('script-src') ?? directives.get('default-src') ?? ['*'];
  const nonces = scriptSrc.filter((v) => v.startsWith("'nonce-")).map((v) => v.slice(7, -1));
  // Inline script: a <script> without src, or an event handler attribute, allowed only by a nonce of this CSP.
  const scripts = [...res.body.matchAll(/<script\b([^>]*)>/gi)].filter((m) => !/\bsrc=/.test(m[1]) && !nonces.some((n) => m[1].includes(`nonce="${n}"`)));
  const handlers = [...res.body.matchAll(/<[a-z]+\b[^>]*\son[a-z]+\s*=/gi)];
  const strict = csp !== '' && !scriptSrc.some((v) => v === "'unsafe-inline'" || v === '*' || v.startsWith('http')) && (directives.get('default-src') ?? []).join(' ') === "'none'";
  return {
    csp: strict ? 'strict' : csp || '(none)',
    frameAncestors: (directives.get('frame-ancestors') ?? []).join(' '),
    xFrameOptions: res.headers['x-frame-options'],
    referrerPolicy: res.headers['referrer-policy'],
    cacheControl: res.headers['cache-control'],
    unnoncedScripts: scripts.length + handlers.length,
  };
}

describe.each(BACKENDS)('11, 27. security headers on every page and on every answer that carries a secret, on %s', (backend) => {
  let t: TestApp;
  let web: { id: string; secret: string };
  let webPage: { id: string; secret: string };
  let svc: { id: string; secret: string };
  let device: { id: string; secret: string };
  let operatorToken: string;
  const REDIRECT = 'https://app.example/cb';
  beforeAll(async () => {
    t = await startAdminApp(backend);
    await createApi(t.deps, 'default', { audience: 'https://api.example/', scopes: ['read:things=Read your things'] }, 86400);
    const mk = async (input: Parameters<typeof createClient>[2]) => {
      const { client, secret } = await createClient(t.deps, 'default', input, 86400);
      return { id: client.clientId, secret: secret! };
    };
    web = await mk({ name: 'Web', redirectUris: [REDIRECT], scopes: ['openid', 'read:things'], grantTypes: ['authorization_code', 'refresh_token'] });
    webPage = await mk({ name: 'Token Page', redirectUris: [REDIRECT], grantTypes: ['implicit'], scopes: ['read:things'], webPage: true });
    svc = await mk({ name: 'svc', grantTypes: ['client_credentials'], scopes: ['read:things'] });
    device = await mk({ name: 'TV', grantTypes: ['urn:ietf:params:oauth:grant-type:device_code'], scopes: ['read:things'] });
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
    await updateTenant(t.deps, 'default', { registration: true });
    operatorToken = await tokenFor(t, await makeOperator(t, 'root'));
    t.services.cache.clear();
  });
  afterAll(() => t?.close());

  it('11. every HTML page Tessera serves sends a strict CSP (no unsafe-inline script), frame-ancestors none, X-Frame-Options, no referrer and no-store', async () => {
    const pages: [string, LightMyRequestResponse][] = [];
    const add = (name: string, res: LightMyRequestResponse) => {
      expect(res.headers['content-type'], name).toBe('text/html; charset=utf-8');
      pages.push([name, res]);
    };
    const b = new InjectBrowser(t.app);
    const { challenge } = pkce();
    const auth = authUrl({ client_id: web.id, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid read:things', code_challenge: challenge, code_challenge_method: 'S256' });
    const login = await b.get(auth);
    add('login', login);
    const lf = formOf(login.body);
    add('login failure', await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: 'wrong password' }));
    const again = await b.get(auth);
    const af = formOf(again.body);
    let res = await b.post(pathOf(af.action), { ...af.fields, username: 'alice', password: PASSWORD });
    while (res.statusCode === 303 && !String(res.headers.location).startsWith(REDIRECT)) res = await b.get(pathOf(res.headers.location as string));
    add('consent', res);
    const cf = formOf(res.body);
    expect((await b.post(pathOf(cf.action), { ...cf.fields, decision: 'allow' })).statusCode).toBe(303);
    add('form_post response', await b.get(authUrl({ client_id: web.id, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid read:things', response_mode: 'form_post', code_challenge: challenge, code_challenge_method: 'S256' })));
    const consented = await drive(b, authUrl({ client_id: webPage.id, redirect_uri: REDIRECT, response_type: 'token', scope: 'read:things', response_mode: 'web_page' }));
    add('web_page response', consented.res);
    add('error page (unknown client)', await t.app.inject({ method: 'GET', url: authUrl({ client_id: 'nope', response_type: 'code' }) }));
    add('error page (unknown tenant)', await t.app.inject({ method: 'GET', url: '/realms/nope/protocol/openid-connect/auth?client_id=x' }));
    add('sign-up page', await new InjectBrowser(t.app).get(authUrl({ client_id: web.id, redirect_uri: REDIRECT, response_type: 'code', code_challenge: challenge, code_challenge_method: 'S256' }, '/realms/default/protocol/openid-connect/registrations')));
    const fresh = new InjectBrowser(t.app);
    const freshLogin = await fresh.get(auth);
    const resetLink = /href="([^"]*reset-credentials[^"]*)"/.exec(freshLogin.body)?.[1];
    add('password reset page', await fresh.get(pathOf(new URL(resetLink!.replace(/&amp;/g, '&'), PUBLIC_URL).href)));
    add('reset link page (bad token)', await t.app.inject({ method: 'GET', url: '/realms/default/login-actions/reset-password?key=bad' }));
    add('verify email link page (bad token)', await t.app.inject({ method: 'GET', url: '/realms/default/login-actions/verify-email?key=bad' }));
    add('device page', await b.get('/realms/default/device'));
    const accountStart = await b.get('/realms/default/account');
    let account = accountStart;
    while (account.statusCode === 302 || account.statusCode === 303) account = await b.get(pathOf(new URL(account.headers.location as string, PUBLIC_URL).href));
    add('account page', account);
    add('logout page', await b.get('/realms/default/protocol/openid-connect/logout'));
    add('admin console', await t.app.inject({ method: 'GET', url: '/admin' }));
    add('admin console callback', await t.app.inject({ method: 'GET', url: '/admin/callback?code=abc&state=xyz' }));
    // The check itself tells a weak page apart (so this test can fail).
    const weak = { headers: { 'content-security-policy': "default-src 'none'; script-src 'self' 'unsafe-inline'", 'cache-control': 'no-cache' }, body: '<script>x()</script><a onclick="y()">' };
    expect(pageHeaders(weak as never)).toEqual({
      csp: "default-src 'none'; script-src 'self' 'unsafe-inline'", frameAncestors: '', xFrameOptions: undefined, referrerPolicy: undefined, cacheControl: 'no-cache', unnoncedScripts: 2,
    });

    expect(Object.fromEntries(pages.map(([name, r]) => [name, pageHeaders(r)]))).toEqual(Object.fromEntries(pages.map(([name]) => [name, SAFE_PAGE])));
  });

  it('27. every JSON answer that carries a secret is no-store: tokens, introspection, userinfo, device codes, PAR, DCR, admin client create and secret rotation', async () => {
    const answers: [string, LightMyRequestResponse][] = [];
    const post = (url: string, fields: Record<string, string>, client = svc, headers: Record<string, string> = {}) =>
      t.app.inject({ method: 'POST', url, headers: { ...FORM_HEADERS, authorization: basic(client.id, client.secret), ...headers }, payload: form(fields) });
    const token = await post(TOKEN, { grant_type: 'client_credentials' });
    answers.push(['token', token]);
    const access = token.json().access_token as string;
    answers.push(['introspection', await post('/realms/default/protocol/openid-connect/token/introspect', { token: access })]);
    answers.push(['device authorization', await post('/realms/default/protocol/openid-connect/auth/device', { scope: 'read:things' }, device)]);
    answers.push(['pushed authorization', await post('/realms/default/protocol/openid-connect/ext/par/request', { client_id: web.id, response_type: 'code', redirect_uri: REDIRECT, code_challenge: pkce().challenge, code_challenge_method: 'S256' }, web)]);
    answers.push(['validate', await t.app.inject({ method: 'GET', url: '/realms/default/protocol/openid-connect/validate', headers: { authorization: `Bearer ${access}` } })]);
    const b = new InjectBrowser(t.app);
    const { verifier, challenge } = pkce();
    const done = await drive(b, authUrl({ client_id: web.id, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' }));
    const code = new URL(done.res.headers.location as string).searchParams.get('code')!;
    const codeToken = await post(TOKEN, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, web);
    answers.push(['token (code)', codeToken]);
    answers.push(['userinfo', await t.app.inject({ method: 'GET', url: '/realms/default/protocol/openid-connect/userinfo', headers: { authorization: `Bearer ${codeToken.json().access_token}` } })]);
    await updateTenant(t.deps, 'default', { dcr: { enabled: true } });
    t.services.cache.clear();
    const iat = (await createInitialToken(t.deps, 'default', {})).token;
    answers.push(['DCR registration', await t.app.inject({
      method: 'POST', url: '/realms/default/clients-registrations/openid-connect', headers: { 'content-type': 'application/json', authorization: `Bearer ${iat}` },
      payload: JSON.stringify({ client_name: 'Dyn', redirect_uris: [REDIRECT] }),
    })]);
    const admin = (method: 'POST', url: string, body: unknown) =>
      t.app.inject({ method, url: `/admin/api/v1${url}`, headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    const created = await admin('POST', '/tenants/default/clients', { client_name: 'Admin made', redirect_uris: [REDIRECT] });
    answers.push(['admin client create', created]);
    answers.push(['admin secret rotation', await admin('POST', `/tenants/default/clients/${created.json().client_id}/secret`, {})]);
    answers.push(['admin initial access token', await admin('POST', '/tenants/default/dcr/initial-access-tokens', {})]);

    const view = (r: LightMyRequestResponse) => ({ ok: r.statusCode < 300, type: String(r.headers['content-type']).split(';')[0], cacheControl: r.headers['cache-control'] });
    expect(Object.fromEntries(answers.map(([n, r]) => [n, view(r)]))).toEqual(
      Object.fromEntries(answers.map(([n]) => [n, { ok: true, type: 'application/json', cacheControl: 'no-store' }])),
    );
  });
});

/** A GET over https trusting `ca` (fetch cannot be given a CA). */
function httpsGet(url: string, ca: Buffer): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, servername: 'localhost', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** A browser over real HTTP: keeps cookies, follows nothing by itself. */
class HttpBrowser {
  cookies = new Map<string, string>();
  constructor(private readonly base: string) {}

  async go(url: string, fields?: Record<string, string> | [string, string][]): Promise<{ status: number; location?: string; body: string }> {
    const res = await fetch(new URL(url, this.base), {
      method: fields ? 'POST' : 'GET', redirect: 'manual', body: fields && new URLSearchParams(fields),
      headers: { ...(fields && FORM_HEADERS), ...(this.cookies.size && { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') }) },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      if (pair.slice(eq + 1)) this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
      else this.cookies.delete(pair.slice(0, eq));
    }
    return { status: res.status, location: res.headers.get('location') ?? undefined, body: await res.text() };
  }
}

describe.each(BACKENDS)('51. secrets never in logs, on %s', (backend) => {
  let server: TesseraServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('51. tokens, codes, secrets, passwords and cookies never appear in the logs of a full flow at LOG_LEVEL=trace', async () => {
    server = await startServer({ backend, publicUrl: (port) => `http://127.0.0.1:${port}`, env: { LOG_LEVEL: 'trace' } });
    const { issuer, baseUrl } = server;
    const REDIRECT = 'https://app.example/cb';
    const WRONG_PASSWORD = 'wrong horse battery staple';
    const secrets: [string, string][] = [['password', PASSWORD], ['wrong password', WRONG_PASSWORD]];
    const keep = (name: string, value: unknown) => {
      expect(typeof value === 'string' && value.length >= 8, `${name} is a value`).toBe(true);
      secrets.push([name, value as string]);
      return value as string;
    };
    await server.cli('api', 'create', '--tenant', 'default', '--audience', 'https://api.example/', '--scope', 'read:things=Read your things');
    const clientArgs = ['client', 'create', '--tenant', 'default', '--redirect-uri', REDIRECT, '--scopes', 'openid read:things', '--session-refresh-tokens'];
    const basicApp = await server.cli(...clientArgs, '--name', 'Basic App');
    const postApp = await server.cli(...clientArgs, '--name', 'Post App', '--token-endpoint-auth-method', 'client_secret_post');
    const dpopApp = await server.cli('client', 'create', '--tenant', 'default', '--name', 'DPoP App', '--grant-types', 'client_credentials', '--scopes', 'read:things');
    for (const c of [basicApp, postApp, dpopApp]) keep(`client secret of ${c.client_id}`, c.client_secret);
    await createUserByCli(server, { username: 'logan', password: PASSWORD });

    const b = new HttpBrowser(baseUrl);
    // A failed sign-in first: the wrong password is a secret too.
    const first = await b.go(`${AUTH}?${new URLSearchParams({ client_id: basicApp.client_id, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid' })}`);
    const ff = formOf(first.body);
    expect((await b.go(ff.action, { ...ff.fields, username: 'logan', password: WRONG_PASSWORD })).status).toBe(401);

    /** Runs the browser through sign-in and consent to the client's redirect URI; returns the code and its verifier. */
    const authorize = async (clientId: string) => {
      const { verifier, challenge } = pkce();
      let res = await b.go(`${AUTH}?${new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid read:things', state: 'st', nonce: 'n-1', code_challenge: challenge, code_challenge_method: 'S256' })}`);
      for (let i = 0; i < 10; i++) {
        if (res.location?.startsWith(REDIRECT)) return { code: keep('code', new URL(res.location).searchParams.get('code')), verifier: keep('code_verifier', verifier) };
        if (res.location) res = await b.go(res.location);
        else if (res.body.includes('name="password"')) {
          const f = formOf(res.body);
          res = await b.go(f.action, { ...f.fields, username: 'logan', password: PASSWORD });
        } else if (res.body.includes('name="decision"')) {
          const f = formOf(res.body);
          res = await b.go(f.action, { ...f.fields, decision: 'allow' });
        } else throw new Error(`unexpected page ${res.status}: ${res.body.slice(0, 300)}`);
      }
      throw new Error('too many steps');
    };
    const tokenCall = async (fields: Record<string, string>, client?: { client_id: string; client_secret: string }, headers: Record<string, string> = {}, path = 'token') => {
      const res = await fetch(`${issuer}/protocol/openid-connect/${path}`, {
        method: 'POST', body: new URLSearchParams(fields),
        headers: { ...FORM_HEADERS, ...(client && { authorization: basic(client.client_id, client.client_secret) }), ...headers },
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
    };
    const keepTokens = (what: string, body: Record<string, unknown>) => {
      for (const k of ['access_token', 'refresh_token', 'id_token']) if (body[k] !== undefined) keep(`${what} ${k}`, body[k]);
      return body as { access_token: string; refresh_token: string; id_token?: string };
    };

    // Code + PKCE, client_secret_basic.
    const one = await authorize(basicApp.client_id);
    const t1 = await tokenCall({ grant_type: 'authorization_code', code: one.code, redirect_uri: REDIRECT, code_verifier: one.verifier }, basicApp);
    expect(t1.status).toBe(200);
    const tokens1 = keepTokens('code flow', t1.body);
    expect(tokens1.id_token).toBeDefined();
    // Code + PKCE, client_secret_post.
    const two = await authorize(postApp.client_id);
    const t2 = await tokenCall({ grant_type: 'authorization_code', code: two.code, redirect_uri: REDIRECT, code_verifier: two.verifier, client_id: postApp.client_id, client_secret: postApp.client_secret });
    expect(t2.status).toBe(200);
    const tokens2 = keepTokens('post flow', t2.body);
    // Refresh (basic), userinfo, introspection, revocation.
    const r1 = await tokenCall({ grant_type: 'refresh_token', refresh_token: tokens1.refresh_token }, basicApp);
    expect(r1.status).toBe(200);
    const refreshed = keepTokens('refreshed', r1.body);
    const r2 = await tokenCall({ grant_type: 'refresh_token', refresh_token: tokens2.refresh_token, client_id: postApp.client_id, client_secret: postApp.client_secret });
    expect(r2.status).toBe(200);
    keepTokens('refreshed (post)', r2.body);
    expect((await fetch(`${issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${refreshed.access_token}` } })).status).toBe(200);
    const introspected = await tokenCall({ token: refreshed.access_token }, basicApp, {}, 'token/introspect');
    expect({ status: introspected.status, active: introspected.body.active }).toEqual({ status: 200, active: true });
    expect((await tokenCall({ token: refreshed.refresh_token, token_type_hint: 'refresh_token' }, basicApp, {}, 'revoke')).status).toBe(200);
    // Refused requests carry secrets too: a wrong client secret, a used code, an unknown bearer token.
    const wrongSecret = keep('wrong client secret', 'not-the-secret-Zm9vYmFyYmF6cXV4');
    expect((await tokenCall({ grant_type: 'refresh_token', refresh_token: tokens1.refresh_token }, { client_id: basicApp.client_id, client_secret: wrongSecret })).status).toBe(401);
    expect((await tokenCall({ grant_type: 'authorization_code', code: one.code, redirect_uri: REDIRECT, code_verifier: one.verifier }, basicApp)).status).toBe(400);
    const bogus = keep('unknown bearer token', 'bogus-token-Zm9vYmFyYmF6cXV4cXV1eA');
    expect((await fetch(`${issuer}/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${bogus}` } })).status).toBe(401);

    // A personal token, made on the account page.
    let account = await b.go(`${issuer}/account`);
    for (let i = 0; i < 5 && account.location; i++) account = await b.go(account.location);
    expect(account.status).toBe(200);
    const csrf = keep('account csrf', /name="csrf" value="([^"]+)"/.exec(account.body)?.[1]);
    const created = await b.go(`${issuer}/account`, [['csrf', csrf], ['action', 'create_token'], ['name', 'Overlay'], ['scope', 'read:things'], ['days', '7']]);
    expect(created.status).toBe(200);
    const personal = keep('personal token', /<textarea id="new-token"[^>]*>([^<]*)<\/textarea>/.exec(created.body)?.[1]);
    expect((await fetch(`${issuer}/protocol/openid-connect/validate`, { headers: { authorization: `Bearer ${personal}` } })).status).toBe(200);

    // A DPoP-bound token (RFC 9449), answering the server's nonce challenge if it sends one.
    const key = await dpopKey();
    const proofFor = async (nonce?: string) => keep('DPoP proof', await makeProof(key, { htm: 'POST', htu: `${issuer}/protocol/openid-connect/token`, iat: Math.floor(Date.now() / 1000), nonce }));
    let dpop = await tokenCall({ grant_type: 'client_credentials' }, dpopApp, { dpop: await proofFor() });
    if (dpop.status === 400 && dpop.body.error === 'use_dpop_nonce') dpop = await tokenCall({ grant_type: 'client_credentials' }, dpopApp, { dpop: await proofFor(dpop.headers.get('dpop-nonce')!) });
    expect({ status: dpop.status, type: dpop.body.token_type }).toEqual({ status: 200, type: 'DPoP' });
    keepTokens('DPoP', dpop.body);

    // A malformed body is refused (and logged at debug level) without its content.
    const inBody = keep('secret in a malformed body', 'body-secret-Zm9vYmFyYmF6cXV4cXV1eA');
    const malformed = await fetch(`${baseUrl}/admin/api/v1/tenants`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"client_secret":"${inBody}"` });
    expect(malformed.status).toBe(400);

    for (const [name, value] of b.cookies) keep(`cookie ${name}`, value);
    if (backend === 'sqlite') {
      const file = join(server.database.url.slice('sqlite:'.length, server.database.url.lastIndexOf('/')), 'admin-password.txt');
      keep('generated admin password', readFileSync(file, 'utf8').trim());
    }

    await server.stop();
    await sleep(100);
    const output = server.output();
    // The capture works and the server did log at trace level: startup, and refusals at debug.
    expect(output).toContain('Tessera listening on');
    expect(output).toContain('"msg":"request refused"');
    const lines = output.split('\n').filter(Boolean);
    expect(lines.every((l) => typeof JSON.parse(l).level === 'number'), output).toBe(true);
    expect(secrets.length).toBeGreaterThanOrEqual(30);
    expect(secrets.filter(([, value]) => output.includes(value)).map(([name]) => name)).toEqual([]);
  }, 120_000);
});

describe.each(BACKENDS)('private keys sealed at rest under TESSERA_MASTER_KEY, on %s', (backend) => {
  const K1 = 'first master key, 32 characters or more';
  const K2 = 'second master key, also long enough ok';
  const clock = { now: () => Date.now() };
  const random = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256)));
  const rawKeys = async (url: string) => {
    const db = openDatabase(url);
    try {
      return await db.kysely.selectFrom('signing_keys').select(['tenant_id', 'kid', 'purpose', 'private_jwk']).where('revoked_at', 'is', null).execute();
    } finally {
      await db.close();
    }
  };
  const TOTP_SECRET = 'JBSWY3DPEHPK3PXP';
  const rawTotpSecrets = async (url: string) => {
    const db = openDatabase(url);
    try {
      return (await db.kysely.selectFrom('mfa_factors').select('secret').execute()).map((r) => r.secret);
    } finally {
      await db.close();
    }
  };
  const startWith = (url: string, env: Record<string, string>) => runTessera({ PATH: process.env.PATH, DATABASE_URL: url, PORT: '0', ...env }, ['start']);
  const cli = (url: string, env: Record<string, string>, ...args: string[]) => runTessera({ PATH: process.env.PATH, DATABASE_URL: url, ...env }, args);
  const ONLY_SEALED = { sealed: true, plaintextMaterial: false };
  const sealedView = (rows: { private_jwk: string }[]) =>
    rows.map((r) => ({ sealed: r.private_jwk.startsWith('enc:v1:'), plaintextMaterial: /"(d|k)"\s*:/.test(r.private_jwk) }));

  it('seals every private key written with TESSERA_MASTER_KEY set, signs with them, and opens them once per key-ring load, not per request', async () => {
    const db = await createTestDatabase(backend);
    const storage = await openStorage(db.url, { masterKey: { current: K1 } });
    try {
      await ensureDefaultTenant({ storage, clock, random });
      const rows = await rawKeys(db.url);
      expect(new Set(rows.map((r) => r.purpose))).toEqual(new Set(['access', 'id']));
      expect(sealedView(rows)).toEqual(rows.map(() => ONLY_SEALED));

      let loads = 0;
      const list = storage.keys.list.bind(storage.keys);
      storage.keys.list = (tenantId) => (loads++, list(tenantId));
      const { app } = await buildApp({ config: testConfig(db.url), storage, logger: createLogger('silent'), clock, random });
      try {
        const { client, secret } = await createClient({ storage, clock, random }, 'default', { name: 'svc', grantTypes: ['client_credentials'], scopes: ['read:things'] }, 86400);
        const issue = () => app.inject({ method: 'POST', url: TOKEN, headers: { ...FORM_HEADERS, authorization: basic(client.clientId, secret!) }, payload: form({ grant_type: 'client_credentials' }) });
        expect((await issue()).statusCode).toBe(200);
        const before = loads;
        const results = await Promise.all(Array.from({ length: 20 }, issue));
        expect(results.map((r) => r.statusCode)).toEqual(Array(20).fill(200));
        expect(loads - before).toBe(0);
        // The tokens verify with the published keys (the sealed private keys really sign).
        const jwks = (await app.inject({ method: 'GET', url: '/realms/default/protocol/openid-connect/certs' })).json();
        const { createLocalJWKSet, jwtVerify } = await import('jose');
        await expect(jwtVerify(results[0].json().access_token, createLocalJWKSet(jwks))).resolves.toMatchObject({ payload: { client_id: client.clientId } });
      } finally {
        await app.close();
      }
    } finally {
      await storage.close();
      await db.drop();
    }
  });

  it('refuses to start, saying why, with a wrong master key or none; the CLI refuses the same way', async () => {
    const db = await createTestDatabase(backend);
    try {
      const storage = await openStorage(db.url, { masterKey: { current: K1 } });
      await ensureDefaultTenant({ storage, clock, random });
      await storage.close();
      const wrong = await startWith(db.url, { TESSERA_MASTER_KEY: K2 });
      expect(wrong).toEqual({
        code: 1, stdout: '',
        stderr: expect.stringMatching(/^tessera start: invalid configuration: the private key \S+ of tenant default cannot be decrypted with TESSERA_MASTER_KEY: the master key is wrong \(while rotating it, give the old one as TESSERA_MASTER_KEY_PREVIOUS\)\n$/),
      });
      const none = await startWith(db.url, {});
      expect(none).toEqual({
        code: 1, stdout: '',
        stderr: expect.stringMatching(/^tessera start: invalid configuration: the private key \S+ of tenant default is encrypted at rest: set TESSERA_MASTER_KEY to the master key it was sealed with\n$/),
      });
      expect(await startWith(db.url, { TESSERA_MASTER_KEY: 'short' })).toEqual({
        code: 1, stdout: '', stderr: 'tessera start: invalid configuration: TESSERA_MASTER_KEY: must be at least 32 characters (e.g. openssl rand -base64 32)\n',
      });
      expect(await cli(db.url, { TESSERA_MASTER_KEY_PREVIOUS: K1 }, 'keys', 'rewrap')).toEqual({
        code: 1, stdout: '', stderr: 'tessera keys rewrap: invalid configuration: TESSERA_MASTER_KEY_PREVIOUS needs TESSERA_MASTER_KEY (the key to rotate to)\n',
      });
    } finally {
      await db.drop();
    }
  });

  it('loads plaintext keys written before a master key was set; keys rewrap seals them, and rotates them to a new master key', async () => {
    const db = await createTestDatabase(backend);
    try {
      const plain = await openStorage(db.url);
      await ensureDefaultTenant({ storage: plain, clock, random });
      // A TOTP secret is sealed with the same master key, and rotates with it.
      const bob = await createUser({ storage: plain, clock, random }, 'default', { username: 'bob', password: PASSWORD });
      await plain.mfa.create({ id: 'totp-1', tenantId: 'default', userId: bob.id, type: 'totp', label: 'Phone', secret: TOTP_SECRET, lastStep: null, createdAt: 0, lastUsedAt: null });
      await plain.close();
      expect(await rawTotpSecrets(db.url)).toEqual([TOTP_SECRET]);
      const before = await rawKeys(db.url);
      expect(sealedView(before)).toEqual(before.map(() => ({ sealed: false, plaintextMaterial: true })));

      // Set a master key: the old rows still load; new ones are sealed; rewrap seals the old ones.
      const withK1 = await openStorage(db.url, { masterKey: { current: K1 } });
      const plaintextKeys = await withK1.keys.list('default');
      expect(plaintextKeys.length).toBe(before.length);
      await withK1.close();
      expect(await cli(db.url, {}, 'keys', 'rewrap')).toEqual({ code: 1, stdout: '', stderr: 'tessera keys rewrap: keys rewrap needs TESSERA_MASTER_KEY (and TESSERA_MASTER_KEY_PREVIOUS while rotating)\n' });
      const sealed = await cli(db.url, { TESSERA_MASTER_KEY: K1 }, 'keys', 'rewrap', '--json');
      // The admin tenant (made by the CLI's first run) has keys of its own, sealed when written.
      expect(sealed).toEqual({ code: 0, stdout: `{"rewrapped":${before.length},"totp_secrets":1}\n`, stderr: '' });
      expect((await rawTotpSecrets(db.url)).map((v) => !!v?.startsWith("enc:v1:") && !v.includes(TOTP_SECRET))).toEqual([true]);
      const after = await rawKeys(db.url);
      expect(sealedView(after)).toEqual(after.map(() => ONLY_SEALED));
      expect(await cli(db.url, { TESSERA_MASTER_KEY: K1 }, 'keys', 'rewrap', '--json')).toEqual({ code: 0, stdout: '{"rewrapped":0,"totp_secrets":0}\n', stderr: '' });

      // Rotate K1 → K2: with K1 as the previous key everything opens; rewrap moves every row to K2.
      expect((await startWith(db.url, { TESSERA_MASTER_KEY: K2 })).code).toBe(1);
      const rotated = await cli(db.url, { TESSERA_MASTER_KEY: K2, TESSERA_MASTER_KEY_PREVIOUS: K1 }, 'keys', 'rewrap', '--json');
      expect(rotated).toEqual({ code: 0, stdout: `{"rewrapped":${after.length},"totp_secrets":1}\n`, stderr: '' });
      const withK2 = await openStorage(db.url, { masterKey: { current: K2 } });
      const reopened = await withK2.keys.list('default');
      expect((await withK2.mfa.list('default', bob.id)).map((f) => f.type === 'totp' && f.secret)).toEqual([TOTP_SECRET]);
      await withK2.close();
      expect(reopened.map((k) => k.privateJwk)).toEqual(plaintextKeys.map((k) => k.privateJwk));
      const withOnlyK1 = await openStorage(db.url, { masterKey: { current: K1 } });
      await expect(withOnlyK1.keys.list('default')).rejects.toThrow(/cannot be decrypted with TESSERA_MASTER_KEY: the master key is wrong/);
      await withOnlyK1.close();
    } finally {
      await db.drop();
    }
  });
});
