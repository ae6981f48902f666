import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { systemClock, systemRandom, type Clock, type Random } from './clock.js';
import type { Config } from './config.js';
import { accountJobsIdle } from './accounts/background.js';
import { registerConsole } from './admin/console/serve.js';
import { registerAdminApi } from './admin/routes.js';
import type { Services } from './http/context.js';
import { clientErrorHandler, frameworkErrors, installErrorHandler } from './http/error_handler.js';
import { refuseNulCharacters } from './http/nul_characters.js';
import { registerHealth } from './endpoints/health.js';
import { recordRequests, registerMetrics } from './endpoints/metrics.js';
import { Metrics } from './metrics/registry.js';
import { registerRoutes } from './http/routes.js';
import { registerClientRateLimit } from './http/client_rate_limit.js';
import { sharedThrottleStore, throttles } from './http/throttle_stores.js';
import { httpsOptions, installTransport } from './http/transport.js';
import { requestId, requestLogger } from './log.js';
import { createMailer, type Mailer } from './mail/mailer.js';
import { MailQueue } from './mail/queue.js';
import { ConfigCache } from './storage/cache.js';
import type { Storage } from './storage/index.js';

export interface AppDeps {
  config: Config;
  storage: Storage;
  logger: Logger;
  clock?: Clock;
  random?: Random;
  /** Tests inject a MemoryMailer; otherwise SMTP or the development outbox, from the config. */
  mailer?: Mailer;
}

/** Token requests are small; a large body is refused before it is read (RFC 6749 errors). */
const BODY_LIMIT = 64 * 1024;

/** What endpoints use, built once per process (the server's, or the CLI's when a change must notify clients). */
export function createServices(deps: AppDeps, log: FastifyBaseLogger): Services {
  const clock = deps.clock ?? systemClock;
  const throttleStore = sharedThrottleStore(deps.config, deps.storage);
  // A failed audit write is reported where the server logs (never with the events' details).
  deps.storage.audit.useLog(log);
  return {
    config: deps.config,
    storage: deps.storage,
    cache: new ConfigCache(deps.storage, clock, {
      checkMs: deps.config.cacheCheckMs,
      keyRetentionSeconds: deps.config.tokens.maxAccessTokenTtl,
    }),
    clock,
    random: deps.random ?? systemRandom,
    log,
    ...throttles(deps.config, throttleStore),
    mail: new MailQueue(deps.mailer ?? createMailer(deps.config.mail, deps.logger), deps.logger),
    metrics: new Metrics(deps.storage.poolStats),
  };
}

/** Builds the HTTP application; listening and shutdown belong to the caller (server.ts, tests). */
export async function buildApp(deps: AppDeps): Promise<{ app: FastifyInstance; services: Services }> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Requests are not logged one by one: URLs and headers can carry credentials, and
    // the token endpoint's throughput is the product (audit events come separately).
    logController: new LogController({ disableRequestLogging: true }),
    // Every line a request logs carries its `reqId` (X-Request-Id, echoed below), but the pino
    // child is built only when the request logs something (log.ts): creating one per request
    // (with its redaction) is a measurable share of a token request.
    genReqId: requestId,
    childLoggerFactory: requestLogger as never,
    bodyLimit: BODY_LIMIT,
    frameworkErrors,
    clientErrorHandler,
    // While closing (server.ts), a request arriving on a kept-alive connection is still
    // answered, with `Connection: close`: it was sent before the client could know, and fastify's
    // own 503 would not be an RFC 6749 error. Readiness says 503 meanwhile (endpoints/health.ts).
    return503OnClosing: false,
    // X-Forwarded-For/-Proto are believed only from the configured proxies (DESIGN.md §1):
    // from anyone else they would let a client pick the IP the throttle and audit see.
    trustProxy: deps.config.trustedProxies.length ? deps.config.trustedProxies : false,
    // Direct TLS (TLS_CERT, TLS_KEY); usually TLS ends at a proxy instead.
    ...(deps.config.tls && { https: httpsOptions(deps.config) }),
  }) as unknown as FastifyInstance;
  const services = createServices(deps, app.log);
  // After the server has stopped and in-flight requests are answered: their mail goes out (bounded wait).
  app.addHook('onClose', async () => {
    await accountJobsIdle();
    await services.mail.close();
    await services.throttleStore.close();
    // Audit events are written in batches (storage/audit_writer.ts): the last one goes now.
    await services.storage.audit.flush();
  });
  await app.register(formbody, { bodyLimit: BODY_LIMIT });
  // Cookies are parsed only where a page asks (http/cookies.ts): the token endpoint has none.
  await app.register(cookie, { hook: false });
  installErrorHandler(app, services.metrics);
  // Every answer names its request, so that a user's report can be matched with the log.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('x-request-id', req.id);
    done();
  });
  // First of the request hooks: a plain-http request is refused before anything else looks at it.
  installTransport(app, deps.config);
  refuseNulCharacters(app);
  // Before the routes, so every route (and the 404 handler) is counted.
  recordRequests(app, services.metrics);
  services.clientRateLimit = await registerClientRateLimit(app, services);
  registerRoutes(app, services);
  registerHealth(app, services);
  registerMetrics(app, services);
  registerAdminApi(app, services);
  registerConsole(app, services);
  return { app, services };
}
