import { randomBytes } from 'node:crypto';
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

/**
 * An X-Request-Id taken from the client or a proxy: printable ASCII without spaces, at most 128
 * characters (a UUID, a trace id). Anything else (too long, control characters that could forge
 * log lines, several values joined by Node) is ignored and an id is generated instead.
 */
const INCOMING_REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** Generated ids: a per-process random prefix (ids stay distinct across nodes and restarts) and a counter. */
const PROCESS_PREFIX = randomBytes(4).toString('hex');
let counter = 0;

/** fastify's `genReqId`: the request's id, as logged (`reqId`) and echoed in `X-Request-Id`. */
export function requestId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const incoming = req.headers['x-request-id'];
  if (typeof incoming === 'string' && incoming.length <= 128 && INCOMING_REQUEST_ID.test(incoming)) return incoming;
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${PROCESS_PREFIX}-${counter.toString(36)}`;
}

type LogArgs = [obj: unknown, msg?: string, ...args: unknown[]];

/**
 * `req.log`: logs with the request's `reqId`, but builds its pino child (bindings, redaction
 * set-up) only when a line is actually written. Most requests log nothing, and a child per
 * request was a measurable share of a token request; this costs one small object instead.
 */
class RequestLog {
  private child_: Logger | undefined;
  constructor(private readonly root: Logger, private readonly bindings: Record<string, unknown>) {}
  get level(): string {
    return this.root.level;
  }
  private write(level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace', args: LogArgs): void {
    if (!this.root.isLevelEnabled(level)) return;
    const log = (this.child_ ??= this.root.child(this.bindings));
    (log[level] as (...a: unknown[]) => void)(...args);
  }
  fatal(...args: LogArgs) { this.write('fatal', args); }
  error(...args: LogArgs) { this.write('error', args); }
  warn(...args: LogArgs) { this.write('warn', args); }
  info(...args: LogArgs) { this.write('info', args); }
  debug(...args: LogArgs) { this.write('debug', args); }
  trace(...args: LogArgs) { this.write('trace', args); }
  silent() {}
  child(bindings: Record<string, unknown>, options?: object): Logger {
    return (this.child_ ??= this.root.child(this.bindings)).child(bindings, options);
  }
}

/** fastify's `childLoggerFactory`: `bindings` is `{ reqId }`. */
export function requestLogger(logger: Logger, bindings: Record<string, unknown>): Logger {
  return new RequestLog(logger, bindings) as unknown as Logger;
}
