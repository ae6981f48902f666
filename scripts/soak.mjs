#!/usr/bin/env node
// `npm run soak` (issue 11): a mixed workload against a real `tessera start` on loopback for a
// bounded time, sampling the server's RSS and the latency per interval.
//
// Starts the server on 127.0.0.1 (a free port; SQLite in a temporary directory, or
// SOAK_DATABASE_URL for PostgreSQL), provisions through the CLI a web client (code + PKCE,
// refresh), a service client (client_credentials) and one user per worker (sign-ins are
// throttled per account and address: one account each keeps the throttle out of the figures),
// then runs SOAK_CONCURRENCY workers, each looping over the mix in scripts/soak/flows.mjs.
// Every SOAK_INTERVAL seconds it prints a row: requests/s, p50/p99 latency, errors, server RSS
// (VmRSS of /proc/PID/status, sampled every second; the row shows the interval's median, since
// the heap swings with every garbage collection). At the end: the RSS growth after warm-up —
// the median of the last interval against the median of the first interval after warm-up —
// and soak/results.json.
//
// Exits 1 if any request got a 5xx, or the server died; 0 otherwise. RSS growth of 10 % or
// more after warm-up is reported, not failed (the machine's noise is not the server's leak).
//
// Env: SOAK_DURATION (s, default 600), SOAK_WARMUP (s, default 60), SOAK_INTERVAL (s, default
// 30, shorter for short runs), SOAK_CONCURRENCY (default 8), SOAK_DATABASE_URL.
// Loopback only: the server is the one this script starts.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort, positiveInt, REPO, TESSERA, tesseraJson } from './common.mjs';
import { MIX, pick, Worker } from './soak/flows.mjs';

const DURATION = positiveInt('SOAK_DURATION', 600);
const WARMUP = positiveInt('SOAK_WARMUP', 60);
const INTERVAL = positiveInt('SOAK_INTERVAL', Math.max(5, Math.min(30, Math.floor(DURATION / 4))));
const CONCURRENCY = positiveInt('SOAK_CONCURRENCY', 8);
const DATABASE_URL = process.env.SOAK_DATABASE_URL;
const RESULTS = path.join(REPO, 'soak', 'results.json');
/** The growth the issue allows after warm-up; reported, not enforced. */
const GROWTH_LIMIT = 10;

if (WARMUP >= DURATION) {
  console.error(`SOAK_WARMUP (${WARMUP}) must be shorter than SOAK_DURATION (${DURATION})`);
  process.exit(2);
}

const log = (msg) => console.error(`[soak] ${msg}`);



/** The server's resident set size in MiB (VmRSS), or null once it is gone. */
function rssMiB(pid) {
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : null;
  } catch {
    return null;
  }
}

function median(values) {
  return percentile([...values].sort((a, b) => a - b), 50);
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

const fmt = (v, digits = 1) => (v === null || v === undefined ? '-' : v.toFixed(digits));

async function main() {
  const tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'tessera-soak-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    PORT: String(port), HOST: '127.0.0.1', TESSERA_PUBLIC_URL: base, LOG_LEVEL: 'warn',
    DATABASE_URL: DATABASE_URL ?? `sqlite:${path.join(tmp, 'soak.db')}`,
    TESSERA_OUTBOX_DIR: path.join(tmp, 'outbox'),
  };
  log(`server on ${base}; storage ${DATABASE_URL ? 'PostgreSQL (SOAK_DATABASE_URL)' : `SQLite in ${tmp}`}`);
  log(`${DURATION} s (warm-up ${WARMUP} s), rows every ${INTERVAL} s, ${CONCURRENCY} workers; mix ${MIX.map(([k, w]) => `${k} ${w}%`).join(', ')}`);

  const server = spawn(process.execPath, [TESSERA, 'start'], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let serverOut = '';
  const keep = (c) => (serverOut = (serverOut + c).slice(-20_000));
  server.stdout.on('data', keep);
  server.stderr.on('data', keep);
  let exited = null;
  server.on('exit', (code, signal) => (exited = { code, signal }));
  const stopServer = async () => {
    if (exited) return;
    const done = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    const timer = setTimeout(() => server.kill('SIGKILL'), 15_000);
    await done;
    clearTimeout(timer);
  };
  process.once('exit', () => exited || server.kill('SIGKILL'));

  try {
    // Up: discovery answers.
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited) throw new Error(`the server exited at start (${JSON.stringify(exited)}): ${serverOut}`);
      const ok = await fetch(`${base}/realms/default/.well-known/openid-configuration`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`the server did not answer within 60 s: ${serverOut}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // Names unique per run: a SOAK_DATABASE_URL may hold earlier runs.
    const run = Date.now().toString(36);
    const redirectUri = 'http://127.0.0.1:9/callback';
    const web = await tesseraJson(['client', 'create', '--tenant', 'default', '--name', `soak-web-${run}`, '--redirect-uri', redirectUri,
      '--grant-types', 'authorization_code,refresh_token', '--scopes', 'openid offline_access', '--consent', 'skip'], env);
    const service = await tesseraJson(['client', 'create', '--tenant', 'default', '--name', `soak-service-${run}`, '--grant-types', 'client_credentials'], env);
    const users = [];
    for (let i = 0; i < CONCURRENCY; i++) {
      const user = { username: `soak-${run}-${i}`, password: `soak password ${run} ${i}` };
      await tesseraJson(['user', 'create', '--tenant', 'default', '--username', user.username, '--password-stdin'], env, `${user.password}\n`);
      users.push(user);
    }

    // Per-interval counters, reset at each row.
    const fresh = () => ({ latencies: [], byKind: {}, status5xx: 0, socket: 0, unexpected: 0, rss: [] });
    let current = fresh();
    const totals = { requests: 0, status5xx: 0, socket: 0, unexpected: 0, byKind: {}, errors: {} };
    const record = (kind, ms, status) => {
      current.latencies.push(ms);
      current.byKind[kind] = (current.byKind[kind] ?? 0) + 1;
      totals.byKind[kind] = (totals.byKind[kind] ?? 0) + 1;
      totals.requests++;
      if (status >= 500) current.status5xx++, totals.status5xx++;
      if (status === 0) current.socket++, totals.socket++;
    };
    const workers = users.map((user) => new Worker({ base, tenant: 'default', web: { id: web.client_id, secret: web.client_secret }, service: { id: service.client_id, secret: service.client_secret }, user, redirectUri, record }));

    const started = performance.now();
    const end = started + DURATION * 1000;
    const rows = [];
    const header = `${'t (s)'.padStart(6)} ${'phase'.padEnd(7)} ${'req/s'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(6)} ${'5xx'.padStart(4)} ${'RSS MiB'.padStart(8)} ${'max'.padStart(6)}`;
    console.log(header);
    let last = started;
    const row = () => {
      const now = performance.now();
      const t = Math.round((now - started) / 1000);
      const lat = current.latencies.sort((a, b) => a - b);
      const r = {
        t, phase: t <= WARMUP ? 'warm-up' : 'soak', requests: lat.length, rps: lat.length / ((now - last) / 1000),
        p50ms: percentile(lat, 50), p99ms: percentile(lat, 99), errors: current.unexpected + current.socket, status5xx: current.status5xx,
        rssMiB: median(current.rss), rssMaxMiB: current.rss.length ? Math.max(...current.rss) : null, byKind: current.byKind,
      };
      rows.push(r);
      console.log(`${String(t).padStart(6)} ${r.phase.padEnd(7)} ${fmt(r.rps, 0).padStart(7)} ${fmt(r.p50ms).padStart(8)} ${fmt(r.p99ms).padStart(8)} ${String(r.errors).padStart(6)} ${String(r.status5xx).padStart(4)} ${fmt(r.rssMiB).padStart(8)} ${fmt(r.rssMaxMiB).padStart(6)}`);
      current = fresh();
      last = now;
    };
    const sampler = setInterval(() => {
      const v = rssMiB(server.pid);
      if (v !== null) current.rss.push(v);
    }, 1000);
    const ticker = setInterval(row, INTERVAL * 1000);

    const loop = async (w) => {
      while (performance.now() < end && !exited) {
        const flow = pick();
        try {
          await w[flow]();
        } catch (err) {
          // A wrong answer (a 4xx where a 200 was due, a missing token): counted and shown once per kind.
          if (err.status !== 0) current.unexpected++, totals.unexpected++;
          const key = err.step ? `${err.step} ${err.status}` : `exception ${err.message}`;
          if (!totals.errors[key]) log(`unexpected: ${err.message}`);
          totals.errors[key] = (totals.errors[key] ?? 0) + 1;
          // A broken chain starts again from the session.
          w.refreshToken = null;
        }
      }
    };
    await Promise.all(workers.map(loop));
    clearInterval(ticker);
    clearInterval(sampler);
    if (performance.now() - last > 1000) row();
    for (const w of workers) w.close();

    const died = exited !== null;
    const soakRows = rows.filter((r) => r.phase === 'soak' && r.rssMiB !== null);
    // Medians of whole intervals: the first after warm-up, and the last.
    const baseline = soakRows.length ? soakRows[0].rssMiB : null;
    const final = soakRows.length > 1 ? soakRows[soakRows.length - 1].rssMiB : null;
    const peak = soakRows.length ? Math.max(...soakRows.map((r) => r.rssMaxMiB)) : null;
    const growth = baseline && final ? (100 * (final - baseline)) / baseline : null;
    const all = rows.filter((r) => r.phase === 'soak');
    const summary = {
      durationS: DURATION, warmupS: WARMUP, intervalS: INTERVAL, concurrency: CONCURRENCY, storage: DATABASE_URL ? 'postgres' : 'sqlite', mix: Object.fromEntries(MIX),
      requests: totals.requests, byKind: totals.byKind, status5xx: totals.status5xx, socketErrors: totals.socket, unexpected: totals.unexpected, errors: totals.errors,
      serverDied: died ? exited : false,
      rssMiB: { firstIntervalAfterWarmup: baseline, lastInterval: final, peakAfterWarmup: peak }, rssGrowthPercent: growth, rssGrowthUnderLimit: growth === null ? null : growth < GROWTH_LIMIT,
      soakRps: all.length ? all.reduce((s, r) => s + r.rps, 0) / all.length : null,
      rows, node: process.version, cpus: os.cpus().length, at: new Date().toISOString(),
    };
    await fsp.mkdir(path.dirname(RESULTS), { recursive: true });
    await fsp.writeFile(RESULTS, JSON.stringify(summary, null, 2) + '\n');

    console.log('');
    console.log(`requests ${totals.requests} (${Object.entries(totals.byKind).map(([k, n]) => `${k} ${n}`).join(', ')})`);
    console.log(`5xx ${totals.status5xx}, socket errors ${totals.socket}, other unexpected answers ${totals.unexpected}${died ? `; THE SERVER DIED: ${JSON.stringify(exited)}` : ''}`);
    console.log(`RSS (interval medians) first interval after warm-up ${fmt(baseline)} MiB, last interval ${fmt(final)} MiB, peak after warm-up ${fmt(peak)} MiB: growth ${fmt(growth)} % (${growth === null ? 'not measured' : growth < GROWTH_LIMIT ? `under ${GROWTH_LIMIT} %` : `NOT under ${GROWTH_LIMIT} %`})`);
    console.log(`results: ${path.relative(REPO, RESULTS)}`);
    if (died) console.error(serverOut.slice(-3000));
    await stopServer();
    return died || totals.status5xx > 0 || totals.requests === 0 ? 1 : 0;
  } finally {
    await stopServer();
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

// A hard bound whatever happens.
setTimeout(() => {
  console.error('[soak] did not finish in time');
  process.exit(3);
}, (DURATION + 300) * 1000).unref();
main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`[soak] ${err.stack || err.message}`);
    process.exit(1);
  },
);
