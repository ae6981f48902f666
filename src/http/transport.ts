import { readFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { HEALTH_PREFIX } from '../endpoints/health.js';
import { METRICS_PATH } from '../endpoints/metrics.js';
import { OAuthError } from '../errors.js';
import { sendPage } from '../ui/respond.js';
import { errorBody } from '../ui/pages.js';

/** One year, the value HSTS preload lists ask for (RFC 6797 §6.1.1). */
const HSTS = 'max-age=31536000';

/**
 * Loopback hosts may serve plain HTTP (development; RFC 8252 §8.3 treats them alike): `localhost`
 * and its subdomains (RFC 6761 §6.3), 127.0.0.0/8 and ::1.
 */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '[::1]' || h === '::1') return true;
  return isIPv4(h) && h.startsWith('127.');
}

/**
 * DESIGN.md §1: a public URL that is not loopback must be https — tokens, codes, passwords and
 * session cookies would otherwise cross the network in clear (RFC 6749 §3.1, §10.9). Checked when
 * the server starts; CLI commands that only print URLs do not need it.
 */
export function checkPublicUrl(config: Pick<Config, 'publicUrl'>): void {
  const url = new URL(config.publicUrl);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new Error(
      `invalid configuration: TESSERA_PUBLIC_URL ${url.origin} is not a loopback address, so it must use https:// ` +
        '(terminate TLS at a proxy listed in TESSERA_TRUSTED_PROXIES, or set TLS_CERT and TLS_KEY); plain http is allowed only for localhost, 127.0.0.0/8 and ::1',
    );
  }
}

/** fastify's `https` option for direct TLS (TLS_CERT, TLS_KEY), or undefined. A missing file is a clear startup error. */
export function httpsOptions(config: Pick<Config, 'tls'>): { cert: Buffer; key: Buffer } | undefined {
  if (!config.tls) return undefined;
  const read = (name: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`invalid configuration: ${name}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return { cert: read('TLS_CERT', config.tls.certFile), key: read('TLS_KEY', config.tls.keyFile) };
}

/**
 * Transport rules for every response (SECURITY-CHECKLIST 49, 50):
 * - served over https (directly, or per X-Forwarded-Proto from a trusted proxy — fastify's
 *   `trustProxy` believes no one else), the response carries HSTS (RFC 6797);
 * - with an https public URL, a request that arrived over plain http is refused before any
 *   handler reads it: 403 `invalid_request` as JSON, or an error page for a browser (Accept: text/html).
 *   Not a redirect: the request (and any credential in it) has already crossed the network in clear,
 *   and a redirect would teach clients that http works.
 */
export function installTransport(app: FastifyInstance, config: Pick<Config, 'httpsOnly' | 'tls' | 'trustedProxies' | 'metricsToken'>): void {
  // Plain-http loopback development without proxies: no request can be https, none is refused; no hook on the hot path.
  if (!config.httpsOnly && !config.tls && config.trustedProxies.length === 0) return;
  app.addHook('onRequest', (req, reply, done) => {
    if (req.protocol === 'https') {
      reply.header('strict-transport-security', HSTS);
      return done();
    }
    // Probes reach a node directly, over plain http, not through the TLS proxy; they carry no credential.
    if (!config.httpsOnly || req.url.startsWith(HEALTH_PREFIX)) return done();
    // A loopback scraper's /metrics request never crossed the network (endpoints/metrics.ts refuses anyone else).
    if (req.url === METRICS_PATH && config.metricsToken === undefined) return done();
    const err = new OAuthError('invalid_request', 'HTTPS is required: this server accepts requests over https only', { status: 403 });
    if (req.headers.accept?.includes('text/html')) {
      sendPage(reply, { status: err.status, title: 'HTTPS required', body: () => errorBody({ title: 'HTTPS is required', message: 'This server accepts requests over https only. Open the same address with https://.' }) });
      return;
    }
    done(err);
  });
}
