import { MailError, recipientDomain, type MailLog, type Mailer, type MailMessage } from './mailer.js';

/** Delays before the retries of a failed send: two retries, then the message is given up. */
export const MAIL_RETRY_DELAYS_MS = [1000, 5000];

/** How long close() waits for messages still being sent before it closes the mailer. */
export const MAIL_CLOSE_TIMEOUT_MS = 5000;

export interface MailQueueOptions {
  retryDelaysMs?: number[];
  closeTimeoutMs?: number;
}

/**
 * Sends mail outside the request (as back-channel logout does): `enqueue` returns at once and
 * never throws, so a slow or failing mail server neither delays an answer nor changes it, and
 * the answer cannot reveal whether a message went out. Failures are logged without the body.
 */
export class MailQueue {
  private readonly pending = new Set<Promise<void>>();
  private readonly retryDelaysMs: number[];
  private readonly closeTimeoutMs: number;
  private closing = false;
  private wakeSleepers!: () => void;
  /** Resolves when close() begins: retries still waiting go at once instead of after their delay. */
  private readonly closingSignal = new Promise<void>((resolve) => (this.wakeSleepers = resolve));
  private closed: Promise<void> | undefined;

  constructor(
    readonly mailer: Mailer,
    private readonly log: MailLog,
    options: MailQueueOptions = {},
  ) {
    this.retryDelaysMs = options.retryDelaysMs ?? MAIL_RETRY_DELAYS_MS;
    this.closeTimeoutMs = options.closeTimeoutMs ?? MAIL_CLOSE_TIMEOUT_MS;
  }

  enqueue(message: MailMessage): void {
    if (this.closed) {
      this.log.warn({ domain: recipientDomain(message.to), subject: message.subject }, 'mail dropped: the server is shutting down');
      return;
    }
    const job: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.deliver(message))
      .catch((err) => this.log.error({ err: String(err) }, 'mail queue failure'))
      .finally(() => this.pending.delete(job));
    this.pending.add(job);
  }

  /** Resolves once nothing is pending: every message sent or given up. For tests and shutdown. */
  async idle(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /** Waits (bounded) for messages in flight, then closes the mailer. Idempotent. */
  close(): Promise<void> {
    return (this.closed ??= (async () => {
      this.closing = true;
      this.wakeSleepers();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), this.closeTimeoutMs)));
      const late = await Promise.race([this.idle().then(() => false), timedOut]);
      clearTimeout(timer);
      if (late) this.log.warn({ pending: this.pending.size }, 'mail still being sent at shutdown was abandoned');
      await this.mailer.close();
    })());
  }

  private async deliver(message: MailMessage): Promise<void> {
    const about = { domain: recipientDomain(message.to), subject: message.subject, mailer: this.mailer.kind };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.mailer.send(message);
        this.log.debug({ ...about, attempts: attempt }, 'mail sent');
        return;
      } catch (err) {
        const e = err instanceof MailError ? err : new MailError((err as Error)?.message ?? String(err), undefined, false);
        const failure = { ...about, attempts: attempt, code: e.code, reason: e.message };
        if (e.permanent || attempt > this.retryDelaysMs.length) {
          this.log.error(failure, 'mail could not be sent; given up');
          return;
        }
        this.log.warn(failure, 'mail could not be sent; will retry');
        if (!this.closing) await Promise.race([sleep(this.retryDelaysMs[attempt - 1]), this.closingSignal]);
      }
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
