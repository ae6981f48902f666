import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.js';
import type { Metrics } from '../metrics/registry.js';
import { isStorageUnavailable } from '../storage/unavailable.js';
import { errorBody } from '../ui/pages.js';
import { sendPage } from '../ui/respond.js';

/** Seconds a client should wait before retrying while the database is unreachable. */
export const UNAVAILABLE_RETRY_AFTER = '5';

/**
 * The database is unreachable (storage/unavailable.ts): 503 with Retry-After, and no detail
 * sent. Browser routes (the authorization endpoint and its pages, marked `config.browser` in
 * routes.ts) get a page for RFC 6749 §4.1.2.1 `temporarily_unavailable`: while the
 * database is down the redirect_uri cannot be validated, and an unvalidated URI is never a
 * redirect target (SECURITY-CHECKLIST 6). JSON endpoints get `server_error` (RFC 6749 §5.2 has
 * no `temporarily_unavailable` for the token endpoint).
 */
function sendUnavailable(err: unknown, req: FastifyRequest, reply: FastifyReply, metrics: Metrics | undefined) {
  // Code and message only: a driver error object may carry connection parameters.
  const { code, message } = err as { code?: unknown; message?: unknown };
  req.log.error({ code, message, url: req.routeOptions.url }, 'database unavailable');
  reply.header('retry-after', UNAVAILABLE_RETRY_AFTER);
  if ((req.routeOptions.config as { browser?: boolean } | undefined)?.browser) {
    metrics?.oauthError('temporarily_unavailable');
    const unavailable = new OAuthError('temporarily_unavailable', 'the service is temporarily unavailable; try again in a moment');
    return sendPage(reply, { status: 503, title: 'Temporarily unavailable', body: () => errorBody({ title: 'The service is temporarily unavailable', message: unavailable.description }) });
  }
  metrics?.oauthError('server_error');
  return reply
    .code(503)
    .header('cache-control', 'no-store')
    .send({ error: 'server_error', error_description: 'the service is temporarily unavailable; try again' });
}

/** Fastify's own 4xx errors (body parsing, content type, size) as RFC 6749 §5.2 errors. */
function fromFastify(err: FastifyError, req: FastifyRequest): OAuthError | undefined {
  if (!err.statusCode || err.statusCode >= 500) return undefined;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new OAuthError('invalid_request', 'request body is too large', { detail: err.message });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new OAuthError('invalid_request', `content type ${JSON.stringify((req.headers['content-type'] ?? '').split(';')[0])} is not supported here`);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new OAuthError('invalid_request', 'content-length does not match the body', { detail: err.message });
    default:
      return new OAuthError('invalid_request', 'malformed request', { detail: err.message });
  }
}

/**
 * Errors fastify answers before any route runs, such as a path that is not valid
 * percent-encoded UTF-8 (FST_ERR_BAD_URL): the same RFC 6749 §5.2 body as every other refusal.
 * Passed as the `frameworkErrors` option, since the error handler never sees them.
 */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  const description = err.code === 'FST_ERR_BAD_URL' ? 'the request path is not valid percent-encoded UTF-8' : 'malformed request';
  const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 400;
  void reply.code(status).header('cache-control', 'no-store').send(new OAuthError('invalid_request', description).toJSON());
}

/**
 * Requests Node's HTTP parser refuses before fastify sees them (headers over the size limit,
 * bytes that are not HTTP): fastify's default answer has its own JSON shape, so this writes the
 * RFC 6749 §5.2 body instead. Passed as the `clientErrorHandler` option.
 */
export function clientErrorHandler(err: ConnectionError, socket: Socket): void {
  // A reset connection has nobody left to answer (https://nodejs.org/api/http.html#event-clienterror).
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, description] = err.code === 'HPE_HEADER_OVERFLOW' ? [431, 'the request line and headers are too large']
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? [408, 'the request was not received in time']
    : [400, 'the request is not valid HTTP'];
  const body = JSON.stringify(new OAuthError('invalid_request', description).toJSON());
  // RFC 9110 §9.3.2: no content in an answer to HEAD (a client would read it as the next response).
  // (fastify types `rawPacket` as a Buffer's JSON; Node hands over the Buffer itself.)
  const head = Buffer.isBuffer(err.rawPacket) && err.rawPacket.subarray(0, 5).toString('latin1') === 'HEAD ';
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${head ? '' : body}`);
  }
  socket.destroy(err);
}

/**
 * The one place an error becomes a response: RFC 6749 §5.2 JSON with the error's status
 * and headers. Anything unexpected is a 500 `server_error` whose detail is logged, never sent.
 */
export function installErrorHandler(app: FastifyInstance, metrics?: Metrics): void {
  app.setErrorHandler((raw: FastifyError | OAuthError, req: FastifyRequest, reply: FastifyReply) => {
    if (!(raw instanceof OAuthError) && isStorageUnavailable(raw)) return sendUnavailable(raw, req, reply, metrics);
    const err = raw instanceof OAuthError ? raw : fromFastify(raw as FastifyError, req);
    if (!err) {
      req.log.error({ err: raw, url: req.routeOptions.url }, 'unhandled error');
      metrics?.oauthError('server_error');
      return reply
        .code(500)
        .header('cache-control', 'no-store')
        .send({ error: 'server_error', error_description: 'the server could not complete the request' });
    }
    metrics?.oauthError(err.error);
    if (err.status >= 500 || err.detail !== undefined) req.log.debug({ error: err.error, detail: err.detail }, 'request refused');
    return reply.code(err.status).headers(err.headers).header('cache-control', 'no-store').send(err.toJSON());
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).header('cache-control', 'no-store').send({ error: 'not_found', error_description: `no endpoint at ${req.method} ${req.url.split('?')[0]}` }),
  );
}
