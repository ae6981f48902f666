import type { FastifyReply } from 'fastify';
import { randomBytes } from 'node:crypto';
import { type Html, page } from './html.js';

/** Where a page's forms may submit to (CSP form-action, which browsers also apply to the redirect after a POST). */
export function formTarget(uri: string): string {
  const url = new URL(uri);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol;
}

/**
 * Sends a server-rendered page with the headers every Tessera page carries: a CSP that
 * allows only this response's nonce and no third party, no framing, no referrer, no caching
 * (pages may carry codes or tokens) — SECURITY-CHECKLIST 11.
 */
export function sendPage(
  reply: FastifyReply,
  opts: { status?: number; title: string; body: (nonce: string) => Html; script?: string; formActions?: string[] },
): FastifyReply {
  const nonce = randomBytes(16).toString('base64');
  const formAction = ["'self'", ...(opts.formActions ?? [])].join(' ');
  return reply
    .code(opts.status ?? 200)
    .header(
      'content-security-policy',
      `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; img-src 'self' data:; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    )
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(page({ title: opts.title, nonce, body: opts.body(nonce), script: opts.script }));
}
