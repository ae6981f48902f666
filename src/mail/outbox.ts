import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Transporter } from 'nodemailer';
import { MailError, type MailLog, type Mailer, type MailMessage } from './mailer.js';

/**
 * The development mailer, and the embedded default, so `npm start` needs no mail server:
 * each message becomes an `.eml` file (open it in any mail client) and a log line with the
 * plain text, so a developer can follow the link from the terminal. This is the one place
 * where a message body is logged on purpose; createMailer warns that it is not for production.
 */
export class OutboxMailer implements Mailer {
  readonly kind = 'outbox' as const;
  readonly dir: string;
  // Builds the RFC 5322 text exactly as the SMTP mailer would send it, without sending it.
  // Loaded at the first message: a server that sends none does not carry nodemailer in memory.
  private composer: Promise<Transporter> | undefined;
  private ready: Promise<unknown> | undefined;

  constructor(
    dir: string,
    private readonly log: MailLog,
  ) {
    this.dir = resolve(dir);
  }

  async send(message: MailMessage): Promise<void> {
    try {
      // Made at the first message, not at startup: a server that sends nothing leaves no directory.
      await (this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }));
      this.composer ??= import('nodemailer').then((m) => m.default.createTransport({ streamTransport: true, buffer: true, newline: 'unix' }));
      const built = await (await this.composer).sendMail({
        from: { name: message.fromName, address: message.fromAddress },
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
      });
      const file = join(this.dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}.eml`);
      // The links in a message sign someone in or reset a password: readable by the owner only.
      await writeFile(file, built.message as Buffer, { mode: 0o600, flag: 'wx' });
      this.log.info({ to: message.to, subject: message.subject, file, text: message.text }, 'mail written to the development outbox');
    } catch (err) {
      this.ready = undefined;
      throw new MailError(`could not write to the outbox: ${(err as Error).message}`, (err as { code?: string }).code, false);
    }
  }

  async close(): Promise<void> {
    if (this.composer) (await this.composer).close();
  }
}
