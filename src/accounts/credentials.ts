import type { FastifyRequest } from 'fastify';
import { audit } from '../audit.js';
import { seconds } from '../clock.js';
import { checkPasswordPolicy, hashPassword, verifyPassword } from '../crypto/password.js';
import { InputError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import type { FormParams } from '../http/form.js';
import { throttled } from '../endpoints/login_actions.js';
import { endSessions } from '../manage/users.js';
import { checkEmail } from '../manage/validate.js';
import type { User } from '../storage/types.js';
import { afterResponse } from './background.js';
import { sendEmailChangeMail, sendVerificationMail } from './email_verification.js';
import { requestDeps } from './session_end.js';

/**
 * The account page's credential changes. Each needs the current password, checked under the
 * sign-in throttle (a stolen session must not become a password-guessing oracle). Each
 * returns the notice to show; a refusal is an InputError.
 */
async function checkCurrentPassword(ctx: TenantContext, req: FastifyRequest, user: User, params: FormParams): Promise<void> {
  const { throttle, clock } = ctx.services;
  const now = seconds(clock);
  const account = { tenant: ctx.tenant.id, username: user.username };
  const verdict = await throttle.check(account, req.ip, now);
  if (!verdict.allowed) throw new InputError(`too many wrong passwords; try again in ${verdict.retryAfter} seconds`);
  if (!(await verifyPassword(user.passwordHash, params.get('current_password') ?? ''))) {
    await throttle.fail(account, req.ip, now);
    throw new InputError('your current password is not right');
  }
  await throttle.succeed(account, req.ip, now);
}

/** A new password; every other session of the user ends (and their session-bound refresh tokens with them). */
export async function changePassword(ctx: TenantContext, req: FastifyRequest, user: User, params: FormParams, sessionKey: string): Promise<string> {
  const password = params.get('password') ?? '';
  const problem = checkPasswordPolicy(password, user.username);
  if (problem) throw new InputError(problem);
  if (params.get('password_confirm') !== password) throw new InputError('the two new passwords do not match');
  await checkCurrentPassword(ctx, req, user, params);
  await ctx.services.storage.users.update({ ...user, passwordHash: await hashPassword(password), mustChangePassword: false, updatedAt: seconds(ctx.services.clock) });
  await endSessions(requestDeps(ctx, user.id), ctx.tenant.id, user.id, sessionKey);
  await audit(ctx, { type: 'user.password_changed', actor: user.id, userId: user.id, ip: req.ip });
  return 'Your password has been changed. You were signed out everywhere else.';
}

/** A new email address takes effect when the link sent to it is used (email_verification.ts). */
export async function changeEmail(ctx: TenantContext, req: FastifyRequest, user: User, params: FormParams): Promise<string> {
  const email = checkEmail(params.get('email') ?? '');
  if (!email) throw new InputError('enter the new email address');
  if (user.email !== null && email.toLowerCase() === user.email.toLowerCase()) throw new InputError('that is already your email address');
  await checkCurrentPassword(ctx, req, user, params);
  afterResponse(ctx, 'email change mail', () => sendEmailChangeMail(ctx, user, email, req.ip));
  return `We sent a link to ${email}. Your email address changes when you open it.`;
}

/** Another link for the current, unverified address. */
export async function resendVerification(ctx: TenantContext, req: FastifyRequest, user: User): Promise<string> {
  if (!user.email || user.emailVerified) throw new InputError('there is no unverified email address to confirm');
  const wait = await throttled(ctx, ctx.services.accountThrottle, `verify ${user.id}`, req.ip, seconds(ctx.services.clock));
  if (wait) throw new InputError(wait.replace(/\.$/, '').toLowerCase());
  await sendVerificationMail(ctx, user);
  return `We sent a link to ${user.email}. Open it to confirm your address.`;
}
