import { recordAudit } from '../audit.js';
import { seconds } from '../clock.js';
import { identifier } from '../crypto/random.js';
import { InputError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import { finishSignUpMessage, signUpExistingMessage, signUpUsernameTakenMessage } from '../mail/messages.js';
import { accountUrl } from '../manage/personal_tokens.js';
import type { User } from '../storage/types.js';
import { ACTION_SECONDS, createActionLink, type ActionData } from './action_token.js';
import { sendTenantMail } from './mail.js';

export interface SignUpRequest {
  username: string;
  email: string;
  passwordHash: string;
  /** The sign-in the new account continues once the link is used in the same browser. */
  interaction: string;
}

/**
 * Runs after the sign-up form was answered with "check your email" (background.ts), so the
 * answer never depends on whether the address or the username is taken
 * (SECURITY-CHECKLIST 56). Only the owner of the address learns which it was: a free
 * address gets the link that creates the account; a taken one gets a notice instead.
 */
export async function sendSignUpMail(ctx: TenantContext, request: SignUpRequest): Promise<void> {
  const { storage } = ctx.services;
  const tenantName = ctx.tenant.displayName;
  if (await storage.users.findByEmail(ctx.tenant.id, request.email)) {
    return sendTenantMail(ctx, request.email, signUpExistingMessage({ tenantName, link: accountUrl(ctx.issuer) }));
  }
  if (await storage.users.findByUsername(ctx.tenant.id, request.username)) {
    return sendTenantMail(ctx, request.email, signUpUsernameTakenMessage({ tenantName, username: request.username }));
  }
  const link = await createActionLink(ctx, 'sign_up', { ...request });
  sendTenantMail(ctx, request.email, finishSignUpMessage({ tenantName, username: request.username, link, expiresInMinutes: ACTION_SECONDS.sign_up / 60 }));
}

/**
 * Creates the account a used sign-up link stands for. Its email is verified: the link went
 * there. Undefined when the username or address was taken since the link was sent.
 */
export async function createSignedUpUser(ctx: TenantContext, data: ActionData, ip: string): Promise<User | undefined> {
  const { storage, clock, random } = ctx.services;
  const now = seconds(clock);
  const user: User = {
    tenantId: ctx.tenant.id, id: identifier(random), username: data.username!, email: data.email!, emailVerified: true,
    name: null, passwordHash: data.passwordHash!, disabled: false, mustChangePassword: false, createdAt: now, updatedAt: now,
  };
  try {
    await storage.users.create(user);
  } catch (err) {
    if (err instanceof InputError && (err.code === 'conflict' || err.code === 'email_conflict')) return undefined;
    throw err;
  }
  await recordAudit(ctx.services, ctx.tenant.id, { type: 'user.created', actor: user.id, userId: user.id, ip, detail: { username: user.username, via: 'sign_up' } });
  return user;
}
