import type { FastifyReply, FastifyRequest } from 'fastify';
import { seconds } from '../clock.js';
import { verifyDummy, verifyPassword } from '../crypto/password.js';
import { OAuthError } from '../errors.js';
import { audit } from '../audit.js';
import { auditThrottled } from '../audit_refusals.js';
import { sendAuthorizationError } from '../http/authorization_redirect.js';
import type { TenantContext } from '../http/context.js';
import { formBody, FormParams } from '../http/form.js';
import { completeInteraction, loadInteraction, expired, resumeInteraction, type Interaction } from '../http/interaction.js';
import type { SignInThrottle } from '../http/throttle.js';
import { findUserByLogin } from '../manage/users.js';
import type { Client, User } from '../storage/types.js';
import { sendNotice } from '../accounts/continue_sign_in.js';
import { sendVerificationMail } from '../accounts/email_verification.js';
import { safeGet } from './authorize_request.js';
import { currentSession } from '../http/session.js';
import { signIn } from '../mfa/second_step.js';
import { sendErrorPage } from './authorize.js';
import { proceed, renderLogin, responseTarget } from './authorize_flow.js';
import { startPasswordUpdate } from './required_action.js';

const INVALID = 'Invalid username or password.';

type Flow = { params: FormParams; interaction: Interaction; client: Client };

/**
 * A handler for a form of the sign-in flow: it runs on the interaction the form continues
 * (CSRF token and browser binding checked); a forged, expired or replayed form gets a page.
 */
export function formAction(handler: (ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, flow: Flow) => Promise<unknown>) {
  return async (ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) => {
    let flow: Flow;
    try {
      const params = formBody(req);
      const interaction = await loadInteraction(ctx, req, params);
      const client = await ctx.services.cache.client(ctx.tenant.id, interaction.request.clientId);
      if (!client) throw new OAuthError('invalid_request', 'the client of this sign-in no longer exists');
      flow = { params, interaction, client };
    } catch (err) {
      if (err instanceof OAuthError && err.status < 500) return sendErrorPage(reply, err);
      throw err;
    }
    return handler(ctx, req, reply, flow);
  };
}

/** A query parameter of a page link; repeated counts as absent. */
export const queryParam = (req: FastifyRequest, name: string): string | undefined =>
  safeGet(new FormParams((req.query ?? {}) as Record<string, string | string[]>), name);

/**
 * Counts a request that sends mail (sign-up, password reset) against `key` and the client IP
 * with growing delays, as failed sign-ins are; the message to show when it must wait.
 */
export async function throttled(ctx: TenantContext, throttle: SignInThrottle, key: string, ip: string, now: number): Promise<string | undefined> {
  const account = { tenant: ctx.tenant.id, username: key };
  const verdict = await throttle.check(account, ip, now);
  if (!verdict.allowed) return `Too many attempts. Try again in ${verdict.retryAfter} seconds.`;
  await throttle.fail(account, ip, now);
  return undefined;
}

/** The login page of a sign-in in progress (the "Sign in" link of the sign-up page). */
async function showLogin(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const interaction = await resumeInteraction(ctx, req, queryParam(req, 'interaction'));
  const client = interaction && (await ctx.services.cache.client(ctx.tenant.id, interaction.request.clientId));
  if (!interaction || !client) return sendErrorPage(reply, expired());
  return renderLogin(ctx, reply, client, interaction);
}

export function loginActionEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  return req.method === 'GET' ? showLogin(ctx, req, reply) : authenticateEndpoint(ctx, req, reply);
}

/**
 * The login form's POST. Unknown users cost the same argon2 time as known ones and get the
 * same answer (SECURITY-CHECKLIST 56); failures are throttled per account and per IP with
 * growing delays, never a lockout the attacker controls.
 */
export const authenticateEndpoint = formAction(async (ctx, req, reply, { params, interaction, client }) => {
  const username = params.get('username')?.trim() ?? '';
  const password = params.get('password') ?? '';
  const { throttle, clock, storage } = ctx.services;
  const now = seconds(clock);
  const account = { tenant: ctx.tenant.id, username };
  const verdict = await throttle.check(account, req.ip, now);
  if (!verdict.allowed) {
    auditThrottled(ctx.services, ctx.tenant.id, { ip: req.ip, limit: 'sign_in', clientId: client.clientId, endpoint: 'login', retryAfterSeconds: verdict.retryAfter });
    reply.header('retry-after', String(verdict.retryAfter));
    return renderLogin(ctx, reply, client, interaction, { status: 429, username, error: `Too many failed attempts. Try again in ${verdict.retryAfter} seconds.` });
  }
  const user = await findUserByLogin(storage, ctx.tenant.id, username);
  const ok = user ? await verifyPassword(user.passwordHash, password) : await verifyDummy(password);
  if (!user || !ok) {
    await throttle.fail(account, req.ip, now);
    // Only a known account is named: what was typed as a username may be a password.
    await audit(ctx, { type: 'sign_in.failure', actor: user?.id ?? 'anonymous', userId: user?.id, clientId: client.clientId, ip: req.ip, detail: { reason: user ? 'invalid_password' : 'unknown_user' } });
    return renderLogin(ctx, reply, client, interaction, { status: 401, username, error: INVALID });
  }
  await throttle.succeed(account, req.ip, now);
  if (user.disabled) await audit(ctx, { type: 'sign_in.failure', actor: user.id, userId: user.id, clientId: client.clientId, ip: req.ip, detail: { reason: 'user_disabled' } });
  if (user.disabled) return renderLogin(ctx, reply, client, interaction, { status: 403, username, error: 'This account is disabled. Contact the administrator.' });
  if (ctx.tenant.requireVerifiedEmail && !user.emailVerified) return unverified(ctx, req, reply, user, client, interaction);
  // Keycloak's "update password" required action: a new password first, then the session.
  if (user.mustChangePassword) return startPasswordUpdate(ctx, reply, user, client, interaction);
  // A second factor, when the user has one or one is required (mfa/second_step.ts).
  return signIn(ctx, req, reply, user, client, interaction, { amr: ['pwd'], method: 'pwd' });
});

/**
 * The password was right, but the tenant wants a verified email first: a new link goes to the
 * address, and using it in this browser finishes this sign-in (action_links.ts).
 */
async function unverified(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, user: User, client: Client, interaction: Interaction) {
  await audit(ctx, { type: 'sign_in.failure', actor: user.id, userId: user.id, clientId: client.clientId, ip: req.ip, detail: { reason: 'email_not_verified' } });
  if (!user.email) return sendNotice(reply, 'Email address needed', 'Your account has no email address to verify. Contact the administrator.', { status: 403 });
  await sendVerificationMail(ctx, user, interaction.id);
  return sendNotice(reply, 'Verify your email address', `Before you can sign in, confirm your email address: we sent a link to ${user.email}. Open it in this browser to continue.`, { status: 403 });
}

/** The consent form's POST: `decision=allow` or `decision=deny` (DESIGN.md §1). */
export const consentEndpoint = formAction(async (ctx, req, reply, { params, interaction, client }) => {
  const signedIn = await currentSession(ctx, req);
  if (!signedIn) return sendErrorPage(reply, new OAuthError('login_required', 'your session has ended; return to the application and sign in again'));
  const decision = params.get('decision');
  if (decision === 'deny') {
    await completeInteraction(ctx, interaction);
    return sendAuthorizationError(ctx, reply, responseTarget(interaction.request, client, true), new OAuthError('access_denied', 'the user denied the request'));
  }
  if (decision !== 'allow') return sendErrorPage(reply, new OAuthError('invalid_request', 'choose Allow or Deny'));
  await ctx.services.storage.consents.remember(ctx.tenant.id, signedIn.user.id, client.clientId, interaction.request.scopes, seconds(ctx.services.clock));
  await audit(ctx, { type: 'consent.granted', actor: signedIn.user.id, userId: signedIn.user.id, clientId: client.clientId, ip: req.ip, detail: { scope: interaction.request.scopes.join(' ') } });
  return proceed(ctx, req, reply, client, interaction.request, signedIn, interaction, true);
});
