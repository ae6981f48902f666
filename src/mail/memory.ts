import type { Mailer, MailMessage } from './mailer.js';

/** Keeps every message in memory, for in-process tests (inject it as `AppDeps.mailer`). */
export class MemoryMailer implements Mailer {
  readonly kind = 'memory' as const;
  readonly messages: MailMessage[] = [];
  private waiters: (() => void)[] = [];

  async send(message: MailMessage): Promise<void> {
    this.messages.push({ ...message });
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /**
   * The first message (already sent or still to come) that matches, or a rejection after
   * `timeoutMs`: the queue sends after the response, so a test waits rather than looks.
   */
  async waitFor(predicate: (message: MailMessage) => boolean, timeoutMs = 5000): Promise<MailMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        const seen = this.messages.map((m) => `${m.to}: ${m.subject}`).join('; ') || 'none';
        throw new Error(`no matching message within ${timeoutMs} ms (messages: ${seen})`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {}
}
