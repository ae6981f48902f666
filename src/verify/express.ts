import type { IncomingHttpHeaders } from 'node:http';
import type { AccessToken } from './access_token.js';
import { check, requestUrl, type MiddlewareOptions } from './middleware.js';
import type { Verifier } from './verifier.js';

/**
 * What the middleware uses of an Express request. Structural, so the kit does not depend on
 * express at run time; an `express.Request` is one.
 */
export interface ExpressRequestLike {
  method: string;
  /** Honours express's `trust proxy` setting. */
  protocol: string;
  originalUrl: string;
  headers: IncomingHttpHeaders;
  accessToken?: AccessToken;
}

/** What the middleware uses of an Express response. */
export interface ExpressResponseLike {
  status(code: number): unknown;
  set(headers: Record<string, string>): unknown;
  json(body: unknown): unknown;
}

export type ExpressNext = (err?: unknown) => void;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by the Tessera verifier's middleware once the access token is accepted. */
      accessToken?: AccessToken;
    }
  }
}

/**
 * Express middleware (4 and 5) that lets a request through only with an acceptable access
 * token (and the given scopes), and sets `req.accessToken`. Refusals are answered here as
 * RFC 6750 §3 says; other failures go to `next(err)`.
 *
 *   app.get('/avatars', expressAuth(verifier, { scopes: ['read:avatars'] }), (req, res) => …)
 */
export function expressAuth(verifier: Verifier, options: MiddlewareOptions = {}) {
  return function tesseraMiddleware(req: ExpressRequestLike, res: ExpressResponseLike, next: ExpressNext): void {
    check(
      verifier,
      {
        authorization: req.headers.authorization,
        dpop: req.headers.dpop,
        method: req.method,
        url: requestUrl(req.protocol, req.headers.host, req.originalUrl, options.publicUrl),
      },
      options,
    ).then((outcome) => {
      if (outcome.ok) {
        req.accessToken = outcome.token;
        return next();
      }
      const { status, headers, body } = outcome.response;
      res.status(status);
      res.set(headers);
      res.json(body);
    }, next);
  };
}
