import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkOutboundUrl, OUTBOUND_TIMEOUT_MS, OutboundError, pinnedLookup, resolveOutbound, type OutboundOptions } from './outbound.js';

/** The largest JSON document fetched from a client-supplied URL (a JWKS of a few keys is ~2 KB). */
export const OUTBOUND_MAX_BYTES = 64 * 1024;

export interface GetOptions extends OutboundOptions {
  maxBytes?: number;
}

/**
 * GETs a JSON document from a client-supplied URL under the same rules as postForm
 * (DESIGN.md §2, SECURITY-CHECKLIST 57): https only (or the loopback development exception),
 * public addresses only, resolved once and pinned, no redirects, and the whole exchange —
 * body included — within the timeout. A body over `maxBytes` is cut off and refused.
 */
export async function getJson(value: string, options: GetOptions): Promise<unknown> {
  const url = checkOutboundUrl(value, options.allowLoopback);
  const maxBytes = options.maxBytes ?? OUTBOUND_MAX_BYTES;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? OUTBOUND_TIMEOUT_MS);
  try {
    const target = await resolveOutbound(url, options, controller.signal);
    const text = await new Promise<string>((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const fail = (err: OutboundError) => reject(err);
      const req = send(
        url,
        {
          method: 'GET', agent: false, lookup: pinnedLookup(target), signal: controller.signal,
          headers: { accept: 'application/jwk-set+json, application/json', 'user-agent': 'Tessera' },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status >= 300) {
            res.destroy();
            const redirect = status >= 300 && status < 400;
            return fail(new OutboundError(redirect ? `answered ${status}; redirects are not followed` : `answered ${status}`, redirect || (status < 500 && status !== 408 && status !== 429)));
          }
          if (Number(res.headers['content-length'] ?? 0) > maxBytes) {
            res.destroy();
            return fail(new OutboundError(`the response is larger than ${maxBytes} bytes`, true));
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxBytes) {
              res.destroy();
              fail(new OutboundError(`the response is larger than ${maxBytes} bytes`, true));
            } else chunks.push(chunk);
          });
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
          res.on('error', () => fail(new OutboundError(controller.signal.aborted ? 'timed out' : 'the response was cut off', false)));
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) =>
        fail(controller.signal.aborted ? new OutboundError('timed out', false) : new OutboundError(`the request failed (${err.code ?? err.message})`, false)),
      );
      req.end();
    });
    try {
      return JSON.parse(text);
    } catch {
      throw new OutboundError('the response is not JSON', true);
    }
  } finally {
    clearTimeout(timer);
  }
}
