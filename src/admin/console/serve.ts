import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Services } from '../../http/context.js';
import { escapeHtml } from '../../ui/html.js';
import { ADMIN_TENANT, CONSOLE_CLIENT_ID } from '../bootstrap.js';

/**
 * The admin console (docs/console.md): a static single-page app, a client of Tessera like any
 * other (code + PKCE against the `admin` tenant) that then calls only the admin API. Its files
 * are not TypeScript, so tsc does not copy them: they are read from the package's
 * src/admin/console/, which this module reaches both from src/ and from dist/ (same depth).
 */
const DIR = fileURLToPath(new URL('../../../src/admin/console/', import.meta.url));

const ASSETS: Record<string, string> = {
  'app.js': 'text/javascript; charset=utf-8',
  'auth.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'pages.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

/**
 * Scripts and styles from this origin only, no inline code at all, API calls to this origin
 * only, never framed (SECURITY-CHECKLIST 11).
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const cache = new Map<string, Buffer>();
const read = (name: string): Buffer => {
  let body = cache.get(name);
  if (!body) cache.set(name, (body = readFileSync(DIR + name)));
  return body;
};

const secured = (reply: FastifyReply): FastifyReply =>
  reply
    .header('content-security-policy', CSP)
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff');

export function registerConsole(app: FastifyInstance, services: Services): void {
  const publicUrl = services.config.publicUrl;
  // The page learns where it is served from (a public URL may have a path) from meta tags.
  const base = new URL(publicUrl).pathname.replace(/\/$/, '');
  let index: string | undefined;
  const page = () =>
    (index ??= read('index.html')
      .toString('utf8')
      .replaceAll('{{BASE}}', escapeHtml(base))
      .replaceAll('{{PUBLIC_URL}}', escapeHtml(publicUrl))
      .replaceAll('{{TENANT}}', escapeHtml(ADMIN_TENANT))
      .replaceAll('{{CLIENT_ID}}', escapeHtml(CONSOLE_CLIENT_ID)));
  // The callback carries the code in its query: no caching, no referrer.
  const sendIndex = async (_req: unknown, reply: FastifyReply) => secured(reply).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(page());
  app.get('/admin', sendIndex);
  app.get('/admin/', sendIndex);
  app.get('/admin/callback', sendIndex);
  app.get<{ Params: { name: string } }>('/admin/assets/:name', async (req, reply) => {
    // Own keys only: `__proto__` or `constructor` would otherwise find Object.prototype's and
    // send a read of a file that does not exist into a 500 (found by the fuzzer).
    const type = Object.hasOwn(ASSETS, req.params.name) ? ASSETS[req.params.name] : undefined;
    if (!type) return secured(reply).code(404).type('text/plain; charset=utf-8').send('not found');
    return secured(reply).header('cache-control', 'no-cache').type(type).send(read(req.params.name));
  });
}
