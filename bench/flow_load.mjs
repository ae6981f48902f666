#!/usr/bin/env node
// Multi-step load generator for bench/run.mjs: wrk sends one request at a time, but an
// authorization-code flow or a sign-in is two requests where the second depends on the first,
// and a refresh needs the refresh token the previous refresh returned.
//
// Three modes, each a loop that N concurrent workers run over keep-alive connections (one
// http.Agent, at most N sockets) for a bounded time:
//
//   authcode  GET …/auth with PKCE S256 and a live session cookie -> 302 to the redirect URI
//             with `code` -> POST …/token (authorization_code, code_verifier, HTTP Basic) -> 200.
//   login     GET …/auth without a session -> 200 login page (interaction, csrf, browser
//             binding cookie) -> POST the form with the right password -> 303 to the redirect
//             URI with `code` (the client has --consent skip).
//   refresh   POST …/token (refresh_token, HTTP Basic) with the worker's current refresh token
//             -> 200 with a new refresh_token, which the next iteration sends. Rotation makes
//             every refresh token single-use, so each worker holds its own chain: the tokens
//             come in with the config (`refreshTokens`, one per worker, made by password-grant
//             logins during setup) and go out with the report (the chain heads, null for a
//             chain whose last refresh failed or never answered), so the next run continues
//             them. A worker whose chain broke under load starts a new one with a password
//             grant (counted as `reseeds`, not as a flow) and carries on.
//
// Run as a child (`taskset -c 1 node bench/flow_load.mjs`) with its configuration as JSON in
// FLOW_LOAD_CONFIG; it prints one JSON object (counts, flows/s, latency percentiles of whole
// flows, errors by step and status) on stdout. run.mjs also imports the step functions to
// set up the session and to check one flow by hand before loading.
//
// The client side is kept cheap: PKCE pairs and request paths are computed once up front
// (a pool, cycled; the server does not care that a challenge repeats, every code is new),
// codes are lifted from the Location header with a regex, bodies are read only when needed.

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const REQUEST_TIMEOUT_MS = 30_000;
/** After the deadline, how long in-flight flows get to finish (they are not counted either way). */
const DRAIN_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// Building blocks (exported for run.mjs's setup and checks)
// ---------------------------------------------------------------------------------------------

export const authPath = (tenant) => `/realms/${tenant}/protocol/openid-connect/auth`;
export const tokenPath = (tenant) => `/realms/${tenant}/protocol/openid-connect/token`;

/** `n` PKCE (RFC 7636) S256 pairs. */
export function pkcePool(n) {
  const pool = [];
  for (let i = 0; i < n; i++) {
    const verifier = randomBytes(32).toString('base64url');
    pool.push({ verifier, challenge: createHash('sha256').update(verifier).digest('base64url') });
  }
  return pool;
}

/** The authorization request path (with query) for one PKCE challenge. */
export function authorizeUrl(cfg, challenge, state = 'bench') {
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: cfg.client.id,
    redirect_uri: cfg.redirectUri,
    scope: cfg.scope,
    state,
    ...(challenge && { code_challenge: challenge, code_challenge_method: 'S256' }),
  });
  return `${authPath(cfg.tenant)}?${q}`;
}

export const basicAuth = (client) =>
  'Basic ' + Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString('base64');

export function newAgent(connections) {
  return new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
}

/**
 * One HTTP request over `agent`. Resolves with status, headers and (if `wantBody`) the body
 * as a string; rejects on socket errors and after REQUEST_TIMEOUT_MS.
 */
export function send(agent, base, { method = 'GET', path: p, headers = {}, body, wantBody = true }) {
  const url = base instanceof URL ? base : new URL(base);
  return new Promise((resolve, reject) => {
    const hdrs = body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) };
    const req = http.request({ agent, host: url.hostname, port: url.port, method, path: p, headers: hdrs }, (res) => {
      res.on('error', reject);
      if (!wantBody) {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: '' }));
        return;
      }
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => {
      const err = new Error(`request timed out after ${REQUEST_TIMEOUT_MS} ms`);
      err.code = 'ETIMEDOUT';
      req.destroy(err);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A failed step: which step, and the HTTP status (0 for a socket error) or what was wrong. */
export class FlowError extends Error {
  constructor(step, status, detail, body = '') {
    super(`${step}: ${status ? `HTTP ${status}` : 'error'}${detail ? ` (${detail})` : ''}${body ? `: ${body.slice(0, 300)}` : ''}`);
    this.step = step;
    this.status = status;
  }
}

const cookiePairs = (headers) => (headers['set-cookie'] ?? []).map((c) => c.split(';', 1)[0]);

const unescapeHtml = (s) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The login form of a sign-in page: its action path and hidden fields (DESIGN.md §1). */
export function loginForm(html) {
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1];
  const fields = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]] = unescapeHtml(m[2]);
  if (!action || !fields.interaction || !fields.csrf || !html.includes('name="username"') || !html.includes('name="password"')) return null;
  const u = new URL(unescapeHtml(action));
  return { action: u.pathname + u.search, fields };
}

const codeOf = (location) => /[?&]code=([^&#]+)/.exec(location ?? '')?.[1];

/**
 * A sign-in as a browser without a session does it: GET the authorization URL, then POST the
 * login form with the binding cookie the page set. Answers the login POST's response (303 to
 * the redirect URI on success) and the cookies it set (the session).
 */
export async function signIn(agent, cfg, authUrl) {
  const page = await send(agent, cfg.base, { path: authUrl });
  if (page.status !== 200) throw new FlowError('auth', page.status, 'expected the login page', page.body);
  const form = loginForm(page.body);
  if (!form) throw new FlowError('auth', page.status, 'no login form with interaction and csrf in the page', page.body);
  const binding = cookiePairs(page.headers);
  if (!binding.length) throw new FlowError('auth', page.status, 'the login page set no browser-binding cookie');
  const res = await send(agent, cfg.base, {
    method: 'POST',
    path: form.action,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: binding.join('; ') },
    body: new URLSearchParams({ ...form.fields, username: cfg.username, password: cfg.password }).toString(),
    wantBody: false,
  });
  return { status: res.status, location: res.headers.location, code: codeOf(res.headers.location), cookies: cookiePairs(res.headers), headers: res.headers };
}

/** GET the authorization URL with the session cookie: the code from the 302, or a FlowError. */
export async function authorizeWithSession(agent, cfg, authUrl) {
  const res = await send(agent, cfg.base, { path: authUrl, headers: { cookie: cfg.sessionCookie }, wantBody: false });
  const code = res.status === 302 ? codeOf(res.headers.location) : undefined;
  if (!code) throw new FlowError('auth', res.status, res.status === 302 ? `no code in ${res.headers.location}` : 'expected 302 with a code');
  return { code, location: res.headers.location };
}

/** POST the code to the token endpoint; `codeParam` is the code as it appeared in the Location (URL-encoded). */
export async function exchangeCode(agent, cfg, codeParam, verifier) {
  return send(agent, cfg.base, {
    method: 'POST',
    path: tokenPath(cfg.tenant),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(cfg.client) },
    body: `grant_type=authorization_code&code=${codeParam}&redirect_uri=${encodeURIComponent(cfg.redirectUri)}&code_verifier=${verifier}`,
  });
}

const FORM = 'application/x-www-form-urlencoded';
const refreshOf = (body) => /"refresh_token"\s*:\s*"([^"]+)"/.exec(body)?.[1];

/**
 * The resource owner password grant: a new refresh token chain (scope `cfg.scope`, which must
 * include offline_access for a refresh token). Answers the refresh token, or throws a FlowError.
 */
export async function passwordGrant(agent, cfg) {
  const res = await send(agent, cfg.base, {
    method: 'POST',
    path: tokenPath(cfg.tenant),
    headers: { 'content-type': FORM, authorization: basicAuth(cfg.client) },
    body: new URLSearchParams({ grant_type: 'password', username: cfg.username, password: cfg.password, scope: cfg.scope }).toString(),
  });
  const rt = res.status === 200 ? refreshOf(res.body) : undefined;
  if (!rt) throw new FlowError('password', res.status, 'expected 200 with a refresh_token', res.body);
  return rt;
}

/** One refresh: the raw response (status, headers, body) for `refreshToken`. */
export function refreshGrant(agent, cfg, refreshToken) {
  return send(agent, cfg.base, {
    method: 'POST',
    path: tokenPath(cfg.tenant),
    headers: { 'content-type': FORM, authorization: basicAuth(cfg.client) },
    body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(refreshToken)}`,
  });
}

export { refreshOf };

// ---------------------------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------------------------

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** wrk-style socket error buckets, so run.mjs reports both kinds of runs alike. */
function socketBucket(err) {
  switch (err.code) {
    case 'ECONNREFUSED': case 'ENOTFOUND': case 'EADDRNOTAVAIL': return 'connect';
    case 'ETIMEDOUT': return 'timeout';
    case 'EPIPE': return 'write';
    default: return 'read'; // ECONNRESET, "socket hang up", parse errors
  }
}

async function runLoad(cfg) {
  const agent = newAgent(cfg.connections);
  const pool = pkcePool(cfg.pkcePool ?? 1024);
  const encRedirect = encodeURIComponent(cfg.redirectUri);
  const tokenBodies = pool.map(({ verifier }) => `grant_type=authorization_code&redirect_uri=${encRedirect}&code_verifier=${verifier}&code=`);
  const authUrls = pool.map(({ challenge }) => authorizeUrl(cfg, challenge));
  const tokenHeaders = { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(cfg.client) };
  const tPath = tokenPath(cfg.tenant);
  const base = new URL(cfg.base);
  const target = { ...cfg, base };

  const latencies = [];
  const stepTime = {}; // step -> total ms of its successful requests, for per-step means
  const stepCount = {};
  const unexpected = {}; // "step status" -> count
  const socket = { connect: 0, read: 0, write: 0, timeout: 0 };
  let requests = 0;
  let reseeds = 0;
  let lateFlows = 0;
  let inFlight = 0;
  let next = 0;
  const timed = (step, t0) => {
    const t = performance.now();
    stepTime[step] = (stepTime[step] ?? 0) + (t - t0);
    stepCount[step] = (stepCount[step] ?? 0) + 1;
    return t;
  };

  // refresh mode: chains[w] is worker w's current refresh token (null: none, start a new chain).
  const chains = cfg.mode === 'refresh' ? Array.from({ length: cfg.connections }, (_, w) => cfg.refreshTokens?.[w] ?? null) : null;
  const rtHeaders = { 'content-type': FORM, authorization: basicAuth(cfg.client) };

  const flows = {
    async refresh(w) {
      if (!chains[w]) {
        // The chain broke (an error below, or a response lost at the end of the last run):
        // a new one from a password grant, like a client whose session was lost signs in again.
        reseeds++;
        chains[w] = await passwordGrant(agent, target);
      }
      const token = chains[w];
      // Spent from here on, whatever happens: rotation makes a resent token a reuse, which
      // revokes its whole family.
      chains[w] = null;
      const t = performance.now();
      requests++;
      const res = await send(agent, base, {
        method: 'POST', path: tPath, headers: rtHeaders, body: `grant_type=refresh_token&refresh_token=${encodeURIComponent(token)}`,
      });
      const next = res.status === 200 ? refreshOf(res.body) : undefined;
      if (!next || !res.body.includes('"access_token"')) throw new FlowError('refresh', res.status, 'expected 200 with access_token and refresh_token', res.body);
      chains[w] = next;
      timed('refresh', t);
    },
    async authcode() {
      const i = next++ % pool.length;
      let t = performance.now();
      requests++;
      const { code } = await authorizeWithSession(agent, target, authUrls[i]);
      t = timed('auth', t);
      requests++;
      const res = await send(agent, base, { method: 'POST', path: tPath, headers: tokenHeaders, body: tokenBodies[i] + code });
      if (res.status !== 200 || !res.body.includes('"access_token"')) throw new FlowError('token', res.status, 'expected 200 with an access_token', res.body);
      timed('token', t);
    },
    async login() {
      const i = next++ % pool.length;
      const t = performance.now();
      requests += 2;
      const r = await signIn(agent, target, authUrls[i]);
      if (r.status !== 303 || !r.code) throw new FlowError('login', r.status, r.status === 303 ? `no code in ${r.location}` : 'expected 303 with a code');
      timed('auth+login', t);
    },
  };
  const flow = flows[cfg.mode];
  if (!flow) throw new Error(`unknown mode ${cfg.mode}`);

  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const end = start + cfg.durationS * 1000;
  const worker = async (_, w) => {
    while (performance.now() < end) {
      const t0 = performance.now();
      inFlight++;
      try {
        await flow(w);
        const t1 = performance.now();
        if (t1 <= end) latencies.push(t1 - t0);
        else lateFlows++;
      } catch (err) {
        if (performance.now() > end) continue; // finished after the window: not counted
        if (err instanceof FlowError || typeof err.code !== 'string') {
          // A wrong answer (or, without a status, a bug here): counted by step and status.
          const k = err instanceof FlowError ? `${err.step} ${err.status}` : `exception ${err.message}`;
          unexpected[k] = (unexpected[k] ?? 0) + 1;
        } else {
          socket[socketBucket(err)]++;
        }
      } finally {
        inFlight--;
      }
    }
  };
  const workers = Array.from({ length: cfg.connections }, worker);
  let drained = true;
  await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(() => { drained = false; r(); }, cfg.durationS * 1000 + DRAIN_MS).unref())]);
  // Flows still waiting DRAIN_MS after the deadline: counted like wrk counts timeouts.
  if (!drained) socket.timeout += inFlight;
  agent.destroy();
  // The generator's own CPU over the run: near 100% means it, not the server, set the pace.
  const cpu = process.cpuUsage(cpu0);
  const clientCpuPercent = (100 * (cpu.user + cpu.system)) / 1000 / (performance.now() - start);

  latencies.sort((a, b) => a - b);
  const httpErrors = Object.values(unexpected).reduce((s, n) => s + n, 0);
  const socketErrors = socket.connect + socket.read + socket.write + socket.timeout;
  const stepMeanMs = Object.fromEntries(Object.keys(stepCount).map((k) => [k, stepTime[k] / stepCount[k]]));
  return {
    mode: cfg.mode,
    connections: cfg.connections,
    durationS: cfg.durationS,
    flows: latencies.length,
    rps: latencies.length / cfg.durationS,
    requests,
    p50ms: percentile(latencies, 50),
    p75ms: percentile(latencies, 75),
    p90ms: percentile(latencies, 90),
    p99ms: percentile(latencies, 99),
    maxms: latencies.length ? latencies[latencies.length - 1] : null,
    stepMeanMs,
    unexpected,
    non2xx: httpErrors,
    socket,
    errors: httpErrors + socketErrors,
    lateFlows,
    drained,
    clientCpuPercent,
    ...(chains && { reseeds, refreshTokens: chains }),
  };
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (isMain) {
  const cfg = JSON.parse(process.env.FLOW_LOAD_CONFIG ?? 'null');
  if (!cfg) {
    process.stderr.write('flow_load.mjs: set FLOW_LOAD_CONFIG (JSON); it is meant to be run by bench/run.mjs\n');
    process.exit(2);
  }
  // A hard bound whatever happens: the harness has its own timeout too.
  setTimeout(() => { process.stderr.write('flow_load.mjs: did not finish in time\n'); process.exit(3); }, (cfg.durationS + 30) * 1000).unref();
  runLoad(cfg).then(
    (out) => process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0)),
    (err) => { process.stderr.write(`flow_load.mjs: ${err.stack || err.message}\n`); process.exit(1); },
  );
}
