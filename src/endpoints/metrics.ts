import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { digest, secretMatchesDigest } from '../crypto/digest.js';
import type { Services } from '../http/context.js';
import { isLoopbackHost } from '../http/transport.js';
import { UNMATCHED, type Metrics } from '../metrics/registry.js';

/** Where Prometheus scrapes, outside every tenant. */
export const METRICS_PATH = '/metrics';

/** Prometheus text exposition format 0.0.4. */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Counts every answered request (and times it) once the response is sent: a few Map updates,
 * synchronous, no allocation once a series exists. The label is the route pattern, never the
 * raw URL, so that a scan of random paths cannot grow the series without bound.
 */
export function recordRequests(app: FastifyInstance, metrics: Metrics): void {
  app.addHook('onResponse', (req, reply, done) => {
    metrics.request(req.routeOptions.url ?? UNMATCHED, req.method, reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}

/** The client as fastify resolved it (behind a trusted proxy, the proxy's client): 127.0.0.0/8 or ::1, also IPv4-mapped. */
const isLoopback = (ip: string): boolean => isLoopbackHost(ip.replace(/^::ffff:/i, ''));

/** `Authorization: Bearer <token>` against the configured token's digest, in constant time. */
function bearerMatches(req: FastifyRequest, tokenDigest: string): boolean {
  const m = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '');
  return m !== null && secretMatchesDigest(m[1], tokenDigest);
}

const refuse = (reply: FastifyReply, status: number, description: string) =>
  reply.code(status).header('cache-control', 'no-store').send({ error: status === 401 ? 'invalid_token' : 'access_denied', error_description: description });

/**
 * GET /metrics. Counts reveal traffic per tenant and client behaviour, so they are not public:
 * with TESSERA_METRICS_TOKEN set, only a request bearing it is answered (RFC 6750 §3 challenge
 * otherwise); without it, only loopback clients are (a scraper or agent on the same machine,
 * or a sidecar in the same pod). `req.ip` is the address fastify resolved: X-Forwarded-For counts
 * only from TESSERA_TRUSTED_PROXIES, so a proxy on the same machine that is listed there does
 * not make the world loopback.
 */
export function registerMetrics(app: FastifyInstance, services: Pick<Services, 'config' | 'metrics'>): void {
  const token = services.config.metricsToken;
  const tokenDigest = token === undefined ? undefined : digest(token);
  app.get(METRICS_PATH, (req, reply) => {
    if (tokenDigest !== undefined) {
      if (!bearerMatches(req, tokenDigest)) {
        reply.header('www-authenticate', 'Bearer realm="metrics"');
        return refuse(reply, 401, 'a valid metrics token is required (TESSERA_METRICS_TOKEN)');
      }
    } else if (!isLoopback(req.ip)) {
      return refuse(reply, 403, 'metrics are answered to loopback clients only, unless TESSERA_METRICS_TOKEN is set');
    }
    return reply.code(200).header('cache-control', 'no-store').header('content-type', CONTENT_TYPE).send(services.metrics.render());
  });
}
