import { lookup as dnsLookup } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';

/**
 * Requests to URLs a client supplied (DESIGN.md §2, SECURITY-CHECKLIST 57): https only, to
 * public addresses only, within a short timeout, no redirects followed, the body ignored.
 * The host is resolved once, every address is checked, and the connection goes to the
 * checked address (a second lookup could answer differently: DNS rebinding).
 *
 * The one exception is local development: when the server's own public URL is plain-http
 * loopback, a client's URL may be http on a loopback host and resolve to loopback.
 */

/** Loopback host names, as the client registration rules spell them (URL.hostname). */
const LOOPBACK_NAMES = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** True when `publicUrl` is plain http on a loopback host: the development exception applies. */
export function isLoopbackDevelopment(publicUrl: string): boolean {
  try {
    const u = new URL(publicUrl);
    return u.protocol === 'http:' && LOOPBACK_NAMES.has(u.hostname);
  } catch {
    return false;
  }
}

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to every address it has (dns.lookup semantics: /etc/hosts too). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));

export interface OutboundOptions {
  /** The development exception: http on a loopback host, and loopback addresses, are allowed. */
  allowLoopback: boolean;
  resolver?: Resolver;
  /** The whole exchange: resolution, connection, request and response status. */
  timeoutMs?: number;
}

export const OUTBOUND_TIMEOUT_MS = 3000;

/** Why an outbound request was not made or did not succeed; `permanent` ones are not retried. */
export class OutboundError extends Error {
  constructor(message: string, readonly permanent: boolean) {
    super(message);
    this.name = 'OutboundError';
  }
}

/** The URL, if its form allows a request at all (before any resolution). */
export function checkOutboundUrl(value: string, allowLoopback: boolean): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new OutboundError('not an absolute URL', true);
  }
  if (url.username || url.password) throw new OutboundError('the URL carries user information', true);
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && allowLoopback && LOOPBACK_NAMES.has(url.hostname)) return url;
  throw new OutboundError(url.protocol === 'http:' ? 'the URL is not https' : `the URL scheme ${url.protocol} is not https`, true);
}

/** An address as 16 bytes (IPv4 as IPv4-mapped IPv6), or undefined if it is not an IP address. */
function bytesOf(address: string): number[] | undefined {
  const kind = isIP(address);
  if (kind === 4) return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...address.split('.').map(Number)];
  if (kind !== 6) return undefined;
  let text = address.toLowerCase().replace(/%.*$/, '');
  // A trailing dotted IPv4 part (::ffff:10.0.0.1) becomes two hex groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1].split('.').map(Number);
    text = text.slice(0, -dotted[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

const v4 = (b: number[]) => b.slice(12);
const isMapped = (b: number[]) => b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
/** ::a.b.c.d (deprecated IPv4-compatible) and 64:ff9b::a.b.c.d (NAT64) also reach an IPv4 address. */
const embedsV4 = (b: number[]) =>
  isMapped(b) || (b.slice(0, 12).every((x) => x === 0) && !(b[12] === 0 && b[13] === 0 && b[14] === 0)) ||
  (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && b.slice(4, 12).every((x) => x === 0));

function v4Kind(a: number[]): 'public' | 'loopback' | 'private' {
  const [x, y] = a;
  if (x === 127) return 'loopback';
  if (
    x === 0 || x === 10 || (x === 100 && y >= 64 && y < 128) || (x === 169 && y === 254) || (x === 172 && y >= 16 && y < 32) ||
    (x === 192 && y === 0 && (a[2] === 0 || a[2] === 2)) || (x === 192 && y === 168) || (x === 198 && (y === 18 || y === 19)) ||
    (x === 198 && y === 51 && a[2] === 100) || (x === 203 && y === 0 && a[2] === 113) || x >= 224
  ) {
    return 'private'; // private, shared, link-local, documentation, benchmarking, multicast, reserved, broadcast
  }
  return 'public';
}

/** What an address is, for the outbound rules: only `public` ones are ever connected to (but see allowLoopback). */
export function addressKind(address: string): 'public' | 'loopback' | 'private' {
  const b = bytesOf(address);
  if (!b) return 'private';
  if (embedsV4(b)) return v4Kind(v4(b));
  if (b.slice(0, 15).every((x) => x === 0)) return b[15] === 1 ? 'loopback' : 'private'; // ::1, ::
  if ((b[0] & 0xfe) === 0xfc) return 'private'; // fc00::/7 unique local
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0x80) return 'private'; // fe80::/10 link-local
  if (b[0] === 0xfe && (b[1] & 0xc0) === 0xc0) return 'private'; // fec0::/10 site-local (deprecated)
  if (b[0] === 0xff) return 'private'; // multicast
  if (b[0] === 0x20 && b[1] === 0x01 && b[2] === 0x0d && b[3] === 0xb8) return 'private'; // 2001:db8::/32 documentation
  if (b[0] === 0x01 && b[1] === 0x00 && b.slice(2, 8).every((x) => x === 0)) return 'private'; // 100::/64 discard
  if (b[0] === 0x20 && b[1] === 0x02) return v4Kind(b.slice(2, 6)) === 'public' ? 'public' : 'private'; // 6to4
  if ((b[0] & 0xe0) !== 0x20) return 'private'; // outside 2000::/3, global unicast
  return 'public';
}

const allowed = (address: string, allowLoopback: boolean): boolean => {
  const kind = addressKind(address);
  return kind === 'public' || (kind === 'loopback' && allowLoopback);
};

function withDeadline<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new OutboundError('timed out', false));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Resolves the URL's host and returns the one address to connect to: every address the name
 * has must be allowed (one private answer among public ones refuses the whole name).
 */
export async function resolveOutbound(url: URL, options: OutboundOptions, signal?: AbortSignal): Promise<ResolvedAddress> {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: ResolvedAddress[];
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
  else {
    const resolving = (options.resolver ?? systemResolver)(host).catch((err: NodeJS.ErrnoException) => {
      throw new OutboundError(`the host name did not resolve (${err.code ?? err.message})`, false);
    });
    addresses = await (signal ? withDeadline(resolving, signal) : resolving);
  }
  if (addresses.length === 0) throw new OutboundError('the host name has no address', false);
  const refused = addresses.find((a) => !allowed(a.address, options.allowLoopback));
  if (refused) throw new OutboundError(`the host resolves to a ${addressKind(refused.address)} address (${refused.address})`, true);
  return addresses[0];
}

/**
 * A lookup that answers only `target`: the connection goes to the address checked by
 * resolveOutbound, whatever a new lookup would say (DNS rebinding); TLS still verifies the
 * certificate against the URL's host name (SNI and checkServerIdentity).
 */
export function pinnedLookup(target: ResolvedAddress): LookupFunction {
  return (_hostname, opts, callback) => {
    if ((opts as { all?: boolean }).all) (callback as (e: null, a: ResolvedAddress[]) => void)(null, [target]);
    else callback(null, target.address, target.family);
  };
}

/**
 * POSTs a form to a client-supplied URL under the outbound rules and resolves with the
 * response status (2xx); anything else rejects with an OutboundError. Redirects are not
 * followed (a 3xx is a failure) and the response body is never read.
 */
export async function postForm(value: string, fields: Record<string, string>, options: OutboundOptions): Promise<number> {
  const url = checkOutboundUrl(value, options.allowLoopback);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? OUTBOUND_TIMEOUT_MS);
  try {
    const target = await resolveOutbound(url, options, controller.signal);
    const body = new URLSearchParams(fields).toString();
    const pinned = pinnedLookup(target);
    const status = await new Promise<number>((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method: 'POST',
          agent: false,
          lookup: pinned,
          signal: controller.signal,
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), accept: '*/*', 'user-agent': 'Tessera' },
        },
        (res) => {
          resolve(res.statusCode ?? 0);
          res.destroy();
        },
      );
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(controller.signal.aborted ? new OutboundError('timed out', false) : new OutboundError(`the request failed (${err.code ?? err.message})`, false)),
      );
      req.end(body);
    });
    if (status >= 300 && status < 400) throw new OutboundError(`answered ${status}; redirects are not followed`, true);
    if (status < 200 || status >= 300) throw new OutboundError(`answered ${status}`, status < 500 && status !== 408 && status !== 429);
    return status;
  } finally {
    clearTimeout(timer);
  }
}
