import { audit } from '../audit.js';
import { seconds } from '../clock.js';
import { hashPassword } from '../crypto/password.js';
import type { TenantContext } from '../http/context.js';
import { resetPasswordMessage } from '../mail/messages.js';
import { endSessions, findUserByLogin } from '../manage/users.js';
import type { User } from '../storage/types.js';
import { ACTION_SECONDS, createActionLink, type ActionData } from './action_token.js';
import { sendTenantMail } from './mail.js';
import { requestDeps } from './session_end.js';

/**
 * "Forgot password?", after the form was answered (background.ts): only an enabled account
 * with an email address gets a link, and nobody is told whether one did
 * (SECURITY-CHECKLIST 56).
 */
export async function sendResetMail(ctx: TenantContext, login: string, interaction: string, ip: string): Promise<void> {
  const user = await findUserByLogin(ctx.services.storage, ctx.tenant.id, login);
  if (!user || user.disabled || !user.email) return;
  const link = await createActionLink(ctx, 'reset_password', { userId: user.id, email: user.email, interaction });
  sendTenantMail(ctx, user.email, resetPasswordMessage({ tenantName: ctx.tenant.displayName, username: user.username, link, expiresInMinutes: ACTION_SECONDS.reset_password / 60 }));
  await audit(ctx, { type: 'user.password_reset_requested', actor: user.id, userId: user.id, ip });
}

/**
 * Sets the password a used reset link allows. The user is then signed out everywhere (their
 * session-bound refresh tokens end with the sessions), since whoever held a session may be
 * why the password was forgotten; the link went to their address, so that address is verified.
 */
export async function resetPassword(ctx: TenantContext, user: User, data: ActionData, password: string, ip: string): Promise<User> {
  const { storage, clock } = ctx.services;
  const next: User = {
    ...user, passwordHash: await hashPassword(password), mustChangePassword: false, updatedAt: seconds(clock),
    emailVerified: user.emailVerified || (user.email !== null && user.email === data.email),
  };
  await storage.users.update(next);
  await endSessions(requestDeps(ctx, user.id), ctx.tenant.id, user.id);
  await audit(ctx, { type: 'user.password_reset', actor: user.id, userId: user.id, ip });
  return next;
}
