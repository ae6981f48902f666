import { pino, type Logger } from 'pino';

/**
 * The process logger. Nothing secret is logged (DESIGN.md §3.10): request logging is off,
 * and any field that could carry a credential is redacted wherever it appears.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      redact: {
        paths: [
          'req.headers.authorization', 'req.headers.cookie', 'req.headers["dpop"]', 'headers.authorization', 'headers.cookie',
          '*.client_secret', '*.password', '*.access_token', '*.refresh_token', '*.id_token', '*.code', '*.token',
          'client_secret', 'password', 'access_token', 'refresh_token', 'id_token', 'code', 'token', 'secret',
        ],
        censor: '[redacted]',
      },
    },
    destination as never,
  );
}
