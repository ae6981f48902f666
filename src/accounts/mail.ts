import type { TenantContext } from '../http/context.js';

/**
 * Queues a message from the tenant: its display name as the sender name, its own from address
 * or the server's MAIL_FROM. Returns at once; delivery (and its retries) happen in the mail queue.
 */
export function sendTenantMail(ctx: TenantContext, to: string, content: { subject: string; text: string; html: string }): void {
  ctx.services.mail.enqueue({
    to,
    fromName: ctx.tenant.displayName,
    fromAddress: ctx.tenant.emailFrom ?? ctx.services.config.mail.defaultFrom,
    ...content,
  });
}
