import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
