// The soak's workload (scripts/soak.mjs): one worker = one browser user and its app, looping
// over a weighted choice of flows. Each HTTP request is timed on its own; a flow that goes
// wrong throws a FlowError naming the step and the status (0: no answer).
//
// Ideas from bench/flow_load.mjs (not imported: that file belongs to the benchmark).

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

const REQUEST_TIMEOUT_MS = 30_000;
const FORM = 'application/x-www-form-urlencoded';

/**
 * The mix, in percent of flows (docs/operations.md#soak). Sign-in is the costly one (argon2id);
 * the rest are what a busy deployment mostly serves: token requests, refreshes and checks.
 */
export const MIX = [
  ['signin', 10], // GET …/auth without a session -> login page -> POST the form -> 303 with code -> POST …/token
  ['authcode', 25], // GET …/auth with the session cookie (PKCE S256) -> 302 with code -> POST …/token
  ['refresh', 20], // POST …/token grant_type=refresh_token (rotation: the next one is kept)
  ['introspect', 20], // POST …/token/introspect of the worker's latest access token
  ['revoke', 5], // POST …/revoke of the worker's refresh token (RFC 7009); the chain restarts
  ['client_credentials', 20], // POST …/token grant_type=client_credentials
];

export class FlowError extends Error {
  constructor(step, status, detail = '') {
    super(`${step}: ${status ? `HTTP ${status}` : 'no answer'}${detail ? ` (${detail.slice(0, 200)})` : ''}`);
    this.step = step;
    this.status = status;
  }
}

const basic = (id, secret) => 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');
const cookiePairs = (headers) => (headers['set-cookie'] ?? []).map((c) => c.split(';', 1)[0]);
const unescapeHtml = (s) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const codeOf = (location) => /[?&]code=([^&#]+)/.exec(location ?? '')?.[1];

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/**
 * One soak worker. `record(kind, ms, status)` is called for every request answered (status 0
 * for a socket error, then the error is thrown on).
 */
export class Worker {
  constructor({ base, tenant, web, service, user, redirectUri, record }) {
    this.base = new URL(base);
    this.paths = {
      auth: `/realms/${tenant}/protocol/openid-connect/auth`,
      token: `/realms/${tenant}/protocol/openid-connect/token`,
      introspect: `/realms/${tenant}/protocol/openid-connect/token/introspect`,
      revoke: `/realms/${tenant}/protocol/openid-connect/revoke`,
    };
    this.webAuth = basic(web.id, web.secret);
    this.serviceAuth = basic(service.id, service.secret);
    this.webId = web.id;
    this.user = user;
    this.redirectUri = redirectUri;
    this.record = record;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    this.session = null; // the session cookie, from the last sign-in
    this.refreshToken = null;
    this.accessToken = null;
  }

  close() {
    this.agent.destroy();
  }

  send(kind, { method = 'GET', path, headers = {}, body }) {
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const hdrs = body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) };
      const req = http.request({ agent: this.agent, host: this.base.hostname, port: this.base.port, method, path, headers: hdrs }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (data += c));
        res.on('error', reject);
        res.on('end', () => {
          this.record(kind, performance.now() - t0, res.statusCode);
          resolve({ status: res.statusCode, headers: res.headers, body: data });
        });
      });
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (err) => {
        this.record(kind, performance.now() - t0, 0);
        reject(new FlowError(kind, 0, err.code ?? err.message));
      });
      req.end(body);
    });
  }

  authorizeUrl(challenge) {
    const q = new URLSearchParams({
      response_type: 'code', client_id: this.webId, redirect_uri: this.redirectUri, scope: 'openid offline_access', state: 'soak',
      code_challenge: challenge, code_challenge_method: 'S256',
    });
    return `${this.paths.auth}?${q}`;
  }

  /** POST the code; keeps the tokens. */
  async exchange(kind, code, verifier) {
    const res = await this.send(kind, {
      method: 'POST', path: this.paths.token, headers: { 'content-type': FORM, authorization: this.webAuth },
      body: `grant_type=authorization_code&code=${code}&redirect_uri=${encodeURIComponent(this.redirectUri)}&code_verifier=${verifier}`,
    });
    this.keepTokens(kind, res);
  }

  keepTokens(kind, res) {
    const json = res.status === 200 ? JSON.parse(res.body) : undefined;
    if (!json?.access_token || !json.refresh_token) throw new FlowError(kind, res.status, res.body);
    this.accessToken = json.access_token;
    this.refreshToken = json.refresh_token;
  }

  async signin() {
    const { verifier, challenge } = pkce();
    const page = await this.send('signin', { path: this.authorizeUrl(challenge) });
    const action = /<form[^>]*action="([^"]*)"/.exec(page.body)?.[1];
    const fields = {};
    for (const m of page.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]] = unescapeHtml(m[2]);
    if (page.status !== 200 || !action || !fields.csrf) throw new FlowError('signin', page.status, 'expected the login page');
    const u = new URL(unescapeHtml(action), this.base);
    const res = await this.send('signin', {
      method: 'POST', path: u.pathname + u.search,
      headers: { 'content-type': FORM, cookie: cookiePairs(page.headers).join('; ') },
      body: new URLSearchParams({ ...fields, username: this.user.username, password: this.user.password }).toString(),
    });
    const code = res.status === 303 ? codeOf(res.headers.location) : undefined;
    if (!code) throw new FlowError('signin', res.status, `expected 303 with a code: ${res.headers.location ?? res.body}`);
    this.session = cookiePairs(res.headers).find((c) => c.startsWith('tessera_session_')) ?? this.session;
    await this.exchange('signin', code, verifier);
  }

  async authcode() {
    if (!this.session) return this.signin();
    const { verifier, challenge } = pkce();
    const res = await this.send('authcode', { path: this.authorizeUrl(challenge), headers: { cookie: this.session } });
    const code = res.status === 302 ? codeOf(res.headers.location) : undefined;
    if (!code) throw new FlowError('authcode', res.status, `expected 302 with a code: ${res.headers.location ?? ''}`);
    await this.exchange('authcode', code, verifier);
  }

  async refresh() {
    if (!this.refreshToken) return this.authcode();
    const token = this.refreshToken;
    this.refreshToken = null; // spent, whatever happens: a resent one would be a reuse
    const res = await this.send('refresh', {
      method: 'POST', path: this.paths.token, headers: { 'content-type': FORM, authorization: this.webAuth },
      body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(token)}`,
    });
    this.keepTokens('refresh', res);
  }

  async introspect() {
    if (!this.accessToken) return this.authcode();
    const res = await this.send('introspect', {
      method: 'POST', path: this.paths.introspect, headers: { 'content-type': FORM, authorization: this.webAuth },
      body: `token=${encodeURIComponent(this.accessToken)}`,
    });
    // The worker's latest token is live unless its refresh token was just revoked (the grant goes with it).
    if (res.status !== 200 || !/^\{"active":(true|false)/.test(res.body)) throw new FlowError('introspect', res.status, res.body);
  }

  async revoke() {
    if (!this.refreshToken) return this.authcode();
    const token = this.refreshToken;
    this.refreshToken = null;
    this.accessToken = null;
    const res = await this.send('revoke', {
      method: 'POST', path: this.paths.revoke, headers: { 'content-type': FORM, authorization: this.webAuth },
      body: `token=${encodeURIComponent(token)}&token_type_hint=refresh_token`,
    });
    if (res.status !== 200) throw new FlowError('revoke', res.status, res.body);
  }

  async client_credentials() {
    const res = await this.send('client_credentials', {
      method: 'POST', path: this.paths.token, headers: { 'content-type': FORM, authorization: this.serviceAuth }, body: 'grant_type=client_credentials',
    });
    if (res.status !== 200 || !res.body.includes('"access_token"')) throw new FlowError('client_credentials', res.status, res.body);
  }
}

/** A flow name drawn by the MIX weights. */
export function pick(random = Math.random) {
  let r = random() * 100;
  for (const [name, weight] of MIX) {
    if ((r -= weight) < 0) return name;
  }
  return MIX[MIX.length - 1][0];
}
