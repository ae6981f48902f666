import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectionError, FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.js';

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
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((raw: FastifyError | OAuthError, req: FastifyRequest, reply: FastifyReply) => {
    const err = raw instanceof OAuthError ? raw : fromFastify(raw as FastifyError, req);
    if (!err) {
      req.log.error({ err: raw, url: req.routeOptions.url }, 'unhandled error');
      return reply
        .code(500)
        .header('cache-control', 'no-store')
        .send({ error: 'server_error', error_description: 'the server could not complete the request' });
    }
    if (err.status >= 500 || err.detail !== undefined) req.log.debug({ error: err.error, detail: err.detail }, 'request refused');
    return reply.code(err.status).headers(err.headers).header('cache-control', 'no-store').send(err.toJSON());
  });
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).header('cache-control', 'no-store').send({ error: 'not_found', error_description: `no endpoint at ${req.method} ${req.url.split('?')[0]}` }),
  );
}
