/**
 * Graceful shutdown (issue 11) of `tessera start` as a child process: on SIGTERM it stops
 * accepting connections, finishes the requests in flight (bounded by TESSERA_SHUTDOWN_TIMEOUT),
 * closes idle keep-alive connections, writes the queued audit events, closes the database and
 * exits 0. Needs the compiled dist/ (`npm test` builds it first).
 */
import { request, Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, createTestDatabase, type TestDatabase } from './helpers.js';
import { createUser } from './support/users.js';
import { sleep, startServer, type TesseraServer } from './support/server.js';

const IN_FLIGHT = 32;
const USERS = 4;
const PASSWORD = 'correct horse battery staple';
const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** A POST over node:http: `sent` once it is on its way, `answer` once answered. */
function post(agent: Agent, port: number, path: string, form: Record<string, string>, auth: string, localAddress = '127.0.0.1') {
  const body = new URLSearchParams(form).toString();
  let markSent!: () => void;
  const sent = new Promise<void>((r) => (markSent = r));
  const answer = new Promise<Answer>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, localAddress, headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth, 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    // Sent: the connection is established (the kernel has it, even if the server has not accepted
    // it yet) and the request is written to it.
    const connected = new Promise<void>((r) => req.once('socket', (sock) => (sock.connecting ? sock.once('connect', () => r()) : r())));
    const finished = new Promise<void>((r) => req.once('finish', () => r()));
    void Promise.all([connected, finished]).then(markSent);
    req.end(body);
  });
  return { sent, answer };
}

/** A raw connection; resolves once it is open. */
const open = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });

/** Resolves when the peer has closed the socket. */
const closed = (s: Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

/** Whether a new TCP connection to the port is refused. */
const refused = (port: number) =>
  open(port).then(
    (s) => (s.destroy(), false),
    (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
  );

describe.each(BACKENDS)('graceful shutdown on %s', (backend) => {
  let db: TestDatabase;
  let server: TesseraServer | undefined;
  let restarted: TesseraServer | undefined;
  let auth: string;
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    server = await startServer({ database: db, env: { LOG_LEVEL: 'info' } });
    const c = await server.cli('client', 'create', '--tenant', 'default', '--name', 'app', '--grant-types', 'password,refresh_token', '--scopes', 'openid offline_access');
    auth = `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64')}`;
    // Several accounts: sign-ins are throttled per account and IP (http/throttle.ts).
    for (let i = 0; i < USERS; i++) await createUser(server, { username: `user${i}`, password: PASSWORD });
  }, 60_000);
  afterAll(async () => {
    agent.destroy();
    await server?.stop();
    await restarted?.stop();
    await db?.drop();
  });

  it('answers every request sent before SIGTERM, refuses new connections, writes the audit events and exits 0', async () => {
    const s = server!;
    const tokenPath = '/realms/default/protocol/openid-connect/token';
    // Keep-alive connections that are idle at the signal: closed at once.
    const idle = await Promise.all(Array.from({ length: 4 }, () => open(s.port)));
    for (const sock of idle) sock.write(`GET /health/live HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`);
    await Promise.all(idle.map((sock) => new Promise((r) => sock.once('data', r))));

    // Password sign-ins: each one an argon2id verification, so they are still running at the signal.
    // The throttle lets 5 sign-ins per account and address, 20 per address, be pending at
    // once: the requests come from 8 loopback addresses, each with 4 in flight.
    const requests = Array.from({ length: IN_FLIGHT }, (_, i) =>
      post(agent, s.port, tokenPath, { grant_type: 'password', username: `user${i % USERS}`, password: PASSWORD, scope: 'openid offline_access' }, auth, `127.0.0.${2 + (i % 8)}`),
    );
    // A balancer's connection, opened before the signal, whose probe comes during the drain.
    const probe = await open(s.port);
    await Promise.all(requests.map((r) => r.sent));
    const signalledAt = Date.now();
    const exit = s.kill('SIGTERM');

    // The listener closes: a new connection is refused while the drain is still going on.
    const idleClosed = Promise.all(idle.map((sock) => closed(sock).then(() => Date.now())));
    let refusedAt: number | undefined;
    for (const until = Date.now() + 3000; refusedAt === undefined && Date.now() < until; await sleep(10)) {
      if (await refused(s.port)) refusedAt = Date.now();
    }
    expect(refusedAt).toBeDefined();
    // Readiness says 503 during the drain, and the connection is closed after the answer.
    let probeText = '';
    probe.setEncoding('utf8').on('data', (d: string) => (probeText += d));
    probe.write(`GET /health/ready HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n\r\n`);
    await closed(probe);
    const [head, body] = probeText.split('\r\n\r\n');
    expect({ status: head.split('\r\n')[0], connection: /^connection: (.*)$/im.exec(head)?.[1], body: JSON.parse(body) }).toEqual({
      status: 'HTTP/1.1 503 Service Unavailable', connection: 'close', body: { status: 'stopping' },
    });
    const idleClosedAt = Math.max(...(await idleClosed));

    const answeredAt: number[] = [];
    const answers = await Promise.all(requests.map((r) => r.answer.then((a) => (answeredAt.push(Date.now()), a))));
    expect(answers).toEqual(
      Array.from({ length: IN_FLIGHT }, () => ({
        status: 200,
        body: { access_token: expect.stringMatching(JWT), token_type: 'Bearer', expires_in: 3600, 'not-before-policy': 0, refresh_token: expect.any(String), scope: 'openid offline_access', id_token: expect.stringMatching(JWT) },
      })),
    );
    // The sign-ins were still running at the signal (argon2id takes its time): most were answered during the drain.
    expect(answeredAt.filter((t) => t > signalledAt).length).toBeGreaterThanOrEqual(IN_FLIGHT / 2);
    // Refused, and idle connections closed, while sign-ins were still being answered.
    expect(Math.max(...answeredAt)).toBeGreaterThan(Math.max(refusedAt!, idleClosedAt));
    expect(await exit).toEqual({ code: 0, signal: null });
    // Well within the default 10 s bound: nothing had to be cut.
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(s.output()).toMatch(/"cut":0,.*"msg":"stopped: requests finished, audit events and mail written, database closed"/);

    // The batched audit writer's last events were written at the stop (storage/audit_writer.ts).
    const { events } = await s.cli('audit', 'list', '--tenant', 'default', '--type', 'token.issued', '--limit', '1000');
    expect(events).toHaveLength(IN_FLIGHT);

    // Restarted on the same database (and public URL: the tokens' issuer), every token issued during the drain works.
    restarted = await startServer({ database: db, publicUrl: () => s.baseUrl });
    for (const a of answers) {
      const userinfo = await fetch(`http://127.0.0.1:${restarted.port}/realms/default/protocol/openid-connect/userinfo`, { headers: { authorization: `Bearer ${a.body.access_token}` } });
      expect(userinfo.status).toBe(200);
    }
    for (const a of answers.slice(0, 8)) {
      const refreshed = await post(agent, restarted.port, tokenPath, { grant_type: 'refresh_token', refresh_token: a.body.refresh_token as string }, auth).answer;
      expect(refreshed).toEqual({
        status: 200,
        body: { access_token: expect.stringMatching(JWT), token_type: 'Bearer', expires_in: 3600, 'not-before-policy': 0, refresh_token: expect.any(String), scope: 'openid offline_access', id_token: expect.stringMatching(JWT) },
      });
    }
  }, 120_000);
});

describe('the shutdown bound', () => {
  let server: TesseraServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('cuts a request that cannot finish after TESSERA_SHUTDOWN_TIMEOUT, and the process still exits 0', async () => {
    server = await startServer({ env: { TESSERA_SHUTDOWN_TIMEOUT: '1' } });
    // An upload that never ends: headers and half the announced body, then nothing.
    const stuck = await open(server.port);
    stuck.on('error', () => {});
    stuck.write(`POST /realms/default/protocol/openid-connect/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ngrant_type=client_credentials&`);
    // Until the server has read the headers, the connection counts as not yet in use.
    await sleep(300);
    const signalledAt = Date.now();
    const [exit] = await Promise.all([server.kill('SIGTERM'), closed(stuck)]);
    const took = Date.now() - signalledAt;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(8000);
    expect(server.output()).toContain('"connections":1,"msg":"requests still running after 1 s: their connections were cut"');
  }, 60_000);
});
