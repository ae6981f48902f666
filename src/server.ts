import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { Server as NetServer, type Socket } from 'node:net';
import { ensureAdminTenant, ensureFirstOperator, firstOperatorMessage } from './admin/bootstrap.js';
import { buildApp } from './app.js';
import { removeOldAuditEvents } from './audit_retention.js';
import { systemClock, systemRandom } from './clock.js';
import type { Config } from './config.js';
import { checkPublicUrl } from './http/transport.js';
import { createLogger } from './log.js';
import { markStopping } from './endpoints/health.js';
import { removeExpiredKeys } from './manage/keys.js';
import { ensureDefaultTenant } from './manage/tenants.js';
import { openStorage } from './storage/index.js';

export interface RunningServer {
  url: string;
  /**
   * Graceful stop (docs/operations.md#shutdown): stop accepting connections, let the requests in
   * flight finish (at most `config.shutdownTimeoutMs`, then cut what is left), write the queued
   * audit events and mail, close the database. `reason` (a signal name) goes into the log.
   * Idempotent: a second call returns the same promise.
   */
  close(reason?: string): Promise<void>;
}

const netServerClose = NetServer.prototype.close;

/** `tessera start`: migrate, make sure `default` exists, serve, clean up, stop gracefully. */
export async function startServer(config: Config): Promise<RunningServer> {
  checkPublicUrl(config);
  const logger = createLogger(config.logLevel);
  const storage = await openStorage(config.databaseUrl, { masterKey: config.masterKey });
  // A wrong (or missing) TESSERA_MASTER_KEY stops the start here, not at the first token request.
  try {
    for (const t of await storage.tenants.list()) await storage.keys.list(t.id);
  } catch (err) {
    await storage.close();
    throw new Error(`invalid configuration: ${(err as Error).message}`);
  }
  const deps = { storage, clock: systemClock, random: systemRandom };
  if (await ensureDefaultTenant(deps)) logger.info('created the default tenant with its signing keys');
  if (await ensureAdminTenant(deps, config.publicUrl)) logger.info('created the admin tenant and the admin console client');
  const operator = await ensureFirstOperator(deps, config);
  if (operator) logger.info(firstOperatorMessage(operator, config.publicUrl));
  const { app, services } = await buildApp({ config, storage, logger });

  const cleanup = async () => {
    try {
      const now = Math.floor(services.clock.now() / 1000);
      const rows = await storage.cleanup.expired(now);
      const policy = { jwksCacheSeconds: config.keys.jwksCacheSeconds, retentionSeconds: config.tokens.maxAccessTokenTtl };
      let keys = 0;
      for (const t of await storage.tenants.list()) keys += await removeExpiredKeys(deps, t.id, policy);
      const auditEvents = await removeOldAuditEvents(services, config.auditRetentionDays);
      if (rows + keys + auditEvents > 0) logger.info({ rows, keys, auditEvents }, 'removed expired rows');
    } catch (err) {
      logger.warn({ err }, 'cleanup failed; will retry');
    }
  };
  await cleanup();
  const timer = setInterval(cleanup, config.cleanupIntervalMs);
  timer.unref();

  // Open connections, so that a stop can tell those with a request in flight from idle ones
  // (Node's server keeps its own list private). Per connection, not per request: the hot path pays nothing.
  const sockets = new Set<Socket>();
  app.server.on(config.tls ? 'secureConnection' : 'connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `${config.tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info(`Tessera listening on ${url}; issuer of the default tenant: ${config.publicUrl}/realms/default (storage: ${storage.backend})`);

  let closing: Promise<void> | undefined;
  const close = (reason = 'close') =>
    (closing ??= (async () => {
      const started = Date.now();
      clearInterval(timer);
      // Readiness answers 503 from now on, for a balancer that still holds a connection.
      markStopping(app);
      const drained = await drain(app.server, sockets, config.shutdownTimeoutMs, (inFlight) =>
        logger.info({ signal: reason, inFlight, connections: sockets.size, timeoutSeconds: config.shutdownTimeoutMs / 1000 }, 'stopping: no new connections; finishing the requests in flight'),
      );
      if (drained.cut) logger.warn({ connections: drained.cut }, `requests still running after ${config.shutdownTimeoutMs / 1000} s: their connections were cut`);
      // The listener is closed and no connection is left: the onClose hooks (app.ts) wait for
      // account jobs and the mail queue, close the throttle store and write the last audit batch.
      await app.close();
      await storage.close();
      logger.info({ signal: reason, inFlight: drained.inFlight, cut: drained.cut, ms: Date.now() - started }, 'stopped: requests finished, audit events and mail written, database closed');
    })());
  return { close, url };
}

/**
 * A connection that has not sent a request yet is given this long (at most the bound) to send
 * one, as Go's net/http does: on a busy server, a connection accepted just before the signal
 * may not be read for a while.
 */
const FRESH_CONNECTION_GRACE_MS = 5000;
const POLL_MS = 50;

type HttpSocket = Socket & { _httpMessage?: ServerResponse | null };

/**
 * Stops accepting connections and waits until the open ones are done, at most `boundMs`; then
 * cuts what is left. Resolves with how many connections had a request in flight at the start
 * and how many were cut.
 *
 * Not http.Server.close(): it also closes at once every connection without a response in
 * progress, including one just accepted whose first request still sits unread in the kernel's
 * buffer: a request sent before the signal would be lost. So here, following Go's
 * Server.Shutdown: the listener closes (new connections are refused); a response in progress
 * goes out with `Connection: close` (RFC 9112 §9.6) and Node closes its connection after it; so
 * does the answer to a request that arrives on a kept-alive connection during the drain; an idle
 * kept-alive connection (it has carried a request, none is running) is closed at once; a
 * connection that has not sent anything yet gets FRESH_CONNECTION_GRACE_MS to do so (the bound still applies).
 */
async function drain(server: HttpServer, sockets: Set<Socket>, boundMs: number, started: (inFlight: number) => void): Promise<{ inFlight: number; cut: number }> {
  const begin = Date.now();
  const closeAfterAnswer = (_req: IncomingMessage, res: ServerResponse) => {
    res.shouldKeepAlive = false;
  };
  // Ahead of fastify's own listener; installed only now, so serving never pays for it.
  server.prependListener('request', closeAfterAnswer);
  let inFlight = 0;
  for (const socket of sockets as Set<HttpSocket>) {
    const res = socket._httpMessage;
    if (!res) continue;
    inFlight++;
    if (!res.headersSent) res.shouldKeepAlive = false;
  }
  // Connections the kernel completed before the signal but that still wait in the listen
  // backlog would be reset when the listener closes, their requests lost. Node takes them in
  // one per turn of the event loop: turn it until two turns accept nothing (bounded).
  let accepted = 0;
  const count = () => accepted++;
  server.on('connection', count);
  for (let quiet = 0, turns = 0; quiet < 2 && turns < 1000 && Date.now() - begin < boundMs; turns++) {
    const before = accepted;
    await new Promise((r) => setImmediate(r));
    quiet = accepted === before ? quiet + 1 : 0;
  }
  server.off('connection', count);
  started(inFlight);
  // net.Server's close: stop listening, and call back once every connection has ended.
  const allClosed = new Promise<void>((resolve) => netServerClose.call(server, () => resolve()));
  const closeIdle = () => {
    for (const socket of sockets as Set<HttpSocket>) {
      if (socket._httpMessage || socket.destroyed) continue;
      // Nothing read yet: a client that has just connected, whose request may be on its way.
      if (socket.bytesRead === 0 && Date.now() - begin < FRESH_CONNECTION_GRACE_MS) continue;
      socket.destroy();
    }
  };
  closeIdle();
  const poll = setInterval(closeIdle, POLL_MS);
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<'bound'>((resolve) => (timer = setTimeout(() => resolve('bound'), boundMs)));
  try {
    if ((await Promise.race([allClosed, bound])) !== 'bound') return { inFlight, cut: 0 };
    // The bound: what has not finished is cut, so that a stuck client (a body that never ends)
    // cannot hold the stop past an orchestrator's own deadline.
    const cut = [...sockets].filter((s) => !s.destroyed).length;
    for (const socket of sockets) socket.destroy();
    await allClosed;
    return { inFlight, cut };
  } finally {
    clearInterval(poll);
    clearTimeout(timer);
    server.off('request', closeAfterAnswer);
  }
}
