import { audit } from '../audit.js';
import { seconds } from '../clock.js';
import { InputError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import { changeEmailMessage, emailInUseMessage, verifyEmailMessage } from '../mail/messages.js';
import type { User } from '../storage/types.js';
import { ACTION_SECONDS, createActionLink, type ActionData } from './action_token.js';
import { sendTenantMail } from './mail.js';

const minutes = ACTION_SECONDS.verify_email / 60;

/** Sends a link that confirms the user's current address (`interaction`: the sign-in it continues). */
export async function sendVerificationMail(ctx: TenantContext, user: User, interaction?: string): Promise<void> {
  if (!user.email) return;
  const link = await createActionLink(ctx, 'verify_email', { userId: user.id, email: user.email, ...(interaction && { interaction }) });
  sendTenantMail(ctx, user.email, verifyEmailMessage({ tenantName: ctx.tenant.displayName, username: user.username, link, expiresInMinutes: minutes }));
}

/**
 * An email change: the new address takes effect only when its link is used, so a typo cannot
 * hand the account's mail to a stranger. An address that belongs to another account gets a
 * notice instead of a link, and the asker is told the same either way (SECURITY-CHECKLIST 56).
 */
export async function sendEmailChangeMail(ctx: TenantContext, user: User, email: string, ip: string): Promise<void> {
  const owner = await ctx.services.storage.users.findByEmail(ctx.tenant.id, email);
  if (owner && owner.id !== user.id) return sendTenantMail(ctx, email, emailInUseMessage({ tenantName: ctx.tenant.displayName }));
  const link = await createActionLink(ctx, 'verify_email', { userId: user.id, email });
  sendTenantMail(ctx, email, changeEmailMessage({ tenantName: ctx.tenant.displayName, username: user.username, link, expiresInMinutes: minutes }));
  await audit(ctx, { type: 'user.email_change_requested', actor: user.id, userId: user.id, ip });
}

/**
 * Applies a used verification link: the address it was sent to becomes the user's, verified.
 * Undefined if the address now belongs to someone else.
 */
export async function confirmEmail(ctx: TenantContext, user: User, data: ActionData, ip: string): Promise<User | undefined> {
  const next: User = { ...user, email: data.email!, emailVerified: true, updatedAt: seconds(ctx.services.clock) };
  try {
    await ctx.services.storage.users.update(next);
  } catch (err) {
    if (err instanceof InputError && err.code === 'email_conflict') return undefined;
    throw err;
  }
  await audit(ctx, { type: 'user.email_verified', actor: user.id, userId: user.id, ip, detail: { changed: user.email !== next.email } });
  return next;
}
