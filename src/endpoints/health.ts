import type { FastifyInstance } from 'fastify';
import type { Services } from '../http/context.js';

/** Paths an orchestrator probes (Kubernetes, a load balancer); transport.ts lets them through over plain http. */
export const HEALTH_PREFIX = '/health/';

/** How long readiness waits for the database before calling it unreachable. */
const READY_TIMEOUT_MS = 2000;

const timeout = (ms: number) =>
  new Promise<never>((_, reject) => {
    setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref();
  });

const stopping = new WeakSet<FastifyInstance>();

/** From now on /health/ready answers 503 `stopping` (server.ts, as its graceful stop begins). */
export function markStopping(app: FastifyInstance): void {
  stopping.add(app);
}

/**
 * Liveness and readiness, outside every tenant (no issuer, no OAuth error format: probes read
 * the status code). `/health/live` says the process answers, so a failing database never gets
 * a node restarted for nothing; `/health/ready` says it can serve: one cheap query against the
 * database, 503 when it fails or hangs, so a load balancer takes the node out until it is back.
 * From the moment a stop begins (server.ts, or app.close() in-process), readiness answers 503
 * `stopping` for the drain, so a balancer that still holds a keep-alive
 * connection takes the node out; liveness stays 200 (the process is finishing work, not stuck).
 */
export function registerHealth(app: FastifyInstance, services: Pick<Services, 'storage'>): void {
  app.addHook('preClose', (done) => {
    markStopping(app);
    done();
  });
  app.get(`${HEALTH_PREFIX}live`, async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    return { status: 'ok' };
  });
  app.get(`${HEALTH_PREFIX}ready`, async (req, reply) => {
    reply.header('cache-control', 'no-store');
    if (stopping.has(app)) {
      reply.code(503).header('retry-after', '5');
      return { status: 'stopping' };
    }
    try {
      await Promise.race([services.storage.configVersion.current(), timeout(READY_TIMEOUT_MS)]);
      return { status: 'ok', checks: { database: 'ok' } };
    } catch (err) {
      req.log.warn({ err }, 'readiness check failed: the database is unreachable');
      reply.code(503).header('retry-after', '5');
      return { status: 'unavailable', checks: { database: 'unreachable' } };
    }
  });
}
