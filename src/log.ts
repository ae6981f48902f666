import { pino, type Logger } from 'pino';

/** Fields that can carry a credential, wherever they appear in a logged object (one level deep, or at the top). */
const SECRET_FIELDS = [
  'client_secret', 'client_assertion', 'password', 'new_password', 'access_token', 'refresh_token', 'id_token', 'subject_token', 'actor_token',
  'device_code', 'user_code', 'code', 'code_verifier', 'token', 'secret', 'assertion', 'csrf', 'dpop', 'authorization', 'cookie',
];

/** A request as logged: method and path only. The query can hold a code, a token or `state`; headers and body, credentials. */
const requestSummary = (req: { method?: string; url?: string }) => ({ method: req.method, path: typeof req.url === 'string' ? req.url.split('?')[0] : undefined });

/**
 * The process logger. Nothing secret is logged (DESIGN.md §3.10, SECURITY-CHECKLIST 51): request
 * logging is off (app.ts), a request object is reduced to its method and path, and any field that
 * could carry a credential is redacted wherever it appears.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      serializers: { req: requestSummary, request: requestSummary },
      redact: {
        paths: [
          'req.headers', 'res.headers', 'headers.authorization', 'headers.cookie', 'headers["set-cookie"]', 'headers.dpop', 'query', 'body', 'params',
          ...SECRET_FIELDS, ...SECRET_FIELDS.map((f) => `*.${f}`),
        ],
        censor: '[redacted]',
      },
    },
    destination as never,
  );
}
