import { createRequire } from 'node:module';
import type { Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { MailError, type Mailer, type MailMessage } from './mailer.js';

/** A slow or silent server must not hold a queued message (and shutdown) for minutes. */
const TIMEOUT_MS = 10_000;

/**
 * Sends through an SMTP server given as `smtp://user:pass@host:port` (STARTTLS when the
 * server offers it) or `smtps://…` (TLS from the start). Connections are pooled: sign-up
 * bursts reuse them instead of paying a handshake per message.
 */
export class SmtpMailer implements Mailer {
  readonly kind = 'smtp' as const;
  /** `host:port`, safe to log (no credentials). */
  readonly endpoint: string;
  private readonly transport: Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;

  constructor(smtpUrl: string) {
    const url = new URL(smtpUrl);
    const secure = url.protocol === 'smtps:';
    const port = url.port ? Number(url.port) : secure ? 465 : 587;
    this.endpoint = `${url.hostname}:${port}`;
    // Required here, not imported at the top: only a server with SMTP_URL needs nodemailer.
    const nodemailer = createRequire(import.meta.url)('nodemailer') as typeof import('nodemailer');
    this.transport = nodemailer.createTransport({
      pool: true,
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port,
      secure,
      auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
      connectionTimeout: TIMEOUT_MS,
      greetingTimeout: TIMEOUT_MS,
      socketTimeout: TIMEOUT_MS,
      // nodemailer's own logging would print message contents; errors are described by send().
      logger: false,
      debug: false,
      // Message parts are strings made here; never let content name a file or URL to inline.
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  async send(message: MailMessage): Promise<void> {
    try {
      await this.transport.sendMail({
        // An address object: nodemailer quotes the name, so `Acme "Q", Inc.` stays one display name.
        from: { name: message.fromName, address: message.fromAddress },
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
      });
    } catch (err) {
      throw describe(err);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

/**
 * nodemailer's errors carry `response` and `command`, which may echo the envelope or AUTH
 * exchange; only the code and a short first line of the reason are kept.
 */
function describe(err: unknown): MailError {
  const e = err as Error & { code?: string; responseCode?: number };
  const reason = (e.message ?? String(err)).split('\n')[0].slice(0, 200);
  // SMTP 5xx: the server refused the message or the login; sending again will not help.
  const permanent = typeof e.responseCode === 'number' && e.responseCode >= 500 && e.responseCode < 600;
  return new MailError(reason, e.code, permanent);
}
