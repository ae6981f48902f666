import type { IncomingHttpHeaders } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { AccessToken } from './access_token.js';
import { isB64Token, tokenFromAuthorization, type PresentedToken } from './authorization.js';
import { VerifyError } from './errors.js';
import type { Verifier, VerifyOptions } from './verifier.js';

/**
 * WebSocket authentication. A browser cannot set `Authorization` on `new WebSocket(url)`,
 * so the upgrade request may carry the token, as Pulsoid's real-time API takes it:
 * - `?access_token=TOKEN` on the URL (RFC 6750 §2.3; Pulsoid's way). URLs end up in logs and
 *   histories (RFC 6750 §5.3): keep such tokens short-lived, and keep them out of access logs;
 * - the `Sec-WebSocket-Protocol` header: `new WebSocket(url, ['access_token', TOKEN])`; the
 *   server answers with the protocol `access_token`, never echoing the token;
 * - `Authorization: Bearer TOKEN`, for clients that can set headers.
 * One method per request (RFC 6750 §2: clients must not use more than one).
 */

/** The subprotocol that announces a token in `Sec-WebSocket-Protocol`; the next entry is the token. */
export const TOKEN_PROTOCOL = 'access_token';

/** What the helpers use of the upgrade request (node's `IncomingMessage` is one). */
export interface UpgradeRequestLike {
  url?: string;
  headers: IncomingHttpHeaders;
}

export interface UpgradeTokenOptions {
  /** Accept `?access_token=` (default true). */
  query?: boolean;
  /** Accept the token in `Sec-WebSocket-Protocol` (default true). */
  protocol?: boolean;
}

export interface UpgradeToken extends PresentedToken {
  via: 'header' | 'query' | 'protocol';
}

/** The token of an upgrade request, wherever it was put; a request without one is `invalid_token` without an error code (RFC 6750 §3.1). */
export function upgradeToken(req: UpgradeRequestLike, options: UpgradeTokenOptions = {}): UpgradeToken {
  const found: UpgradeToken[] = [];
  // Another scheme (Basic for a proxy, say) is not an access token: the other places still count.
  if (/^\s*(bearer|dpop)(\s|$)/i.test(String(req.headers.authorization ?? ''))) found.push({ ...tokenFromAuthorization(req.headers.authorization, false), via: 'header' });
  if (options.query !== false) {
    const values = new URL(req.url ?? '/', 'http://upgrade.invalid').searchParams.getAll('access_token');
    if (values.length > 1) throw new VerifyError('invalid_request', 'access_token was given more than once');
    if (values.length === 1) found.push({ token: values[0], scheme: 'Bearer', via: 'query' });
  }
  if (options.protocol !== false) {
    const offered = offeredProtocols(req.headers['sec-websocket-protocol']);
    const at = offered.indexOf(TOKEN_PROTOCOL);
    if (at >= 0) {
      const token = offered[at + 1];
      if (!token) throw new VerifyError('invalid_request', `the ${TOKEN_PROTOCOL} subprotocol must be followed by the token`);
      found.push({ token, scheme: 'Bearer', via: 'protocol' });
    }
  }
  if (found.length > 1) throw new VerifyError('invalid_request', 'the access token was given in more than one way');
  if (found.length === 0 || found[0].token === '') throw new VerifyError('invalid_token', 'an access token is required', { missing: true });
  if (!isB64Token(found[0].token)) throw new VerifyError('invalid_request', 'the access token is malformed');
  return found[0];
}

/** The subprotocols a client offered (RFC 6455 §4.1: a comma-separated list). */
export function offeredProtocols(header: string | string[] | undefined): string[] {
  const value = Array.isArray(header) ? header.join(',') : header ?? '';
  return value.split(',').map((p) => p.trim()).filter(Boolean);
}

/**
 * The subprotocol to answer with: never the token. When the token came as a subprotocol the
 * answer must name one the client offered (browsers fail the handshake otherwise), so it is
 * `access_token`, unless the client also offered one of the application's own protocols.
 */
export function selectProtocol(offered: Iterable<string>, appProtocols: readonly string[] = []): string | false {
  const list = [...offered];
  const app = list.find((p) => appProtocols.includes(p));
  if (app) return app;
  return list.includes(TOKEN_PROTOCOL) ? TOKEN_PROTOCOL : false;
}

/**
 * Checks the access token of a WebSocket upgrade request before the upgrade is accepted.
 * Throws a `VerifyError` (answer it with `rejectUpgrade`) or returns the token.
 */
export async function verifyUpgrade(verifier: Verifier, req: UpgradeRequestLike, options: VerifyOptions & UpgradeTokenOptions = {}): Promise<AccessToken> {
  const presented = upgradeToken(req, options);
  // There is no DPoP proof for a WebSocket's lifetime: a DPoP-bound token is refused here (no proof).
  return verifier.verifyToken(presented.token, { scopes: options.scopes, scheme: presented.scheme });
}

/** What `rejectUpgrade` writes to: the upgrade's raw socket. */
export interface SocketLike {
  write(data: string): unknown;
  destroy(): unknown;
}

/**
 * Refuses an upgrade with an HTTP response on the raw socket (RFC 6455 §4.2.2: any status
 * other than 101 refuses it): the same status, challenge and JSON body as an HTTP request gets.
 * Errors that are not `VerifyError`s become a 500.
 */
export function rejectUpgrade(verifier: Verifier, socket: SocketLike, err: unknown): void {
  const response = verifier.errorResponse(err) ?? {
    status: 500,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: { error: 'server_error', error_description: 'the server could not complete the request' },
  };
  const body = JSON.stringify(response.body);
  const head = [
    `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}`,
    ...Object.entries(response.headers).map(([k, v]) => `${k}: ${v}`),
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
  ];
  socket.write(`${head.join('\r\n')}\r\n\r\n${body}`);
  socket.destroy();
}

/** What `closeWhenExpired` needs of a WebSocket (a `ws` WebSocket is one). */
export interface WebSocketLike {
  close(code?: number, reason?: string): void;
  once(event: 'close', listener: () => void): unknown;
}

/** RFC 6455 §7.4.2 leaves 4000–4999 to applications: 4401 reads as HTTP's 401. */
export const TOKEN_EXPIRED_CLOSE_CODE = 4401;

/** setTimeout's longest delay (2^31 − 1 ms, about 24.8 days); a personal token lives up to 90 days. */
const MAX_TIMER = 2 ** 31 - 1;

/**
 * Closes the socket when the access token expires (code 4401, reason "access token expired"),
 * so a connection never outlives the authorization it was opened with. Returns a function
 * that cancels the timer; closing the socket cancels it too.
 */
export function closeWhenExpired(ws: WebSocketLike, token: Pick<AccessToken, 'expiresAt'>, options: { now?: () => number; code?: number } = {}): () => void {
  const now = options.now ?? Date.now;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const left = token.expiresAt * 1000 - now();
    if (left <= 0) {
      timer = undefined;
      ws.close(options.code ?? TOKEN_EXPIRED_CLOSE_CODE, 'access token expired');
      return;
    }
    timer = setTimeout(arm, Math.min(left, MAX_TIMER));
  };
  const cancel = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
  };
  ws.once('close', cancel);
  arm();
  return cancel;
}
