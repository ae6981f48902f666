import type { BaseLogger } from 'pino';
import type { Config } from '../config.js';
import { OutboxMailer } from './outbox.js';
import { SmtpMailer } from './smtp.js';

/** One email. `text` and `html` carry secret links: no mailer logs them (except the development outbox). */
export interface MailMessage {
  to: string;
  /** The display name, e.g. the tenant's; quoted by the mailer, so any characters are safe. */
  fromName: string;
  fromAddress: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  readonly kind: 'smtp' | 'outbox' | 'memory';
  /** Resolves once the message is handed over (SMTP accepted it, the file is written); rejects with a `MailError`. */
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}

/** What the mail code logs through: pino's logger and fastify's both fit. */
export type MailLog = Pick<BaseLogger, 'debug' | 'info' | 'warn' | 'error'>;

/**
 * A failed send, described without the message body or credentials. `permanent` failures
 * (the server refused the message or the login: SMTP 5xx) are not retried.
 */
export class MailError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'MailError';
  }
}

/** The recipient's domain: enough to tell a provider outage from a typo, without logging who. */
export const recipientDomain = (to: string): string => to.slice(to.lastIndexOf('@') + 1).toLowerCase() || '(none)';

/** SMTP when `SMTP_URL` is set; otherwise the development outbox, with a warning that says so. */
export function createMailer(config: Config['mail'], log: MailLog): Mailer {
  if (config.smtpUrl) {
    const mailer = new SmtpMailer(config.smtpUrl);
    log.info({ smtp: mailer.endpoint }, 'mail is sent through SMTP');
    return mailer;
  }
  log.warn(
    { outbox: config.outboxDir },
    'mail goes to the development outbox (files and the log), not to anyone: set SMTP_URL in production',
  );
  return new OutboxMailer(config.outboxDir, log);
}
