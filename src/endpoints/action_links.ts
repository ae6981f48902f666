import type { FastifyReply, FastifyRequest } from 'fastify';
import { ACTION_PATHS, consumeAction, peekAction, type ActionData, type ActionKind } from '../accounts/action_token.js';
import { continueSignIn, sendNotice } from '../accounts/continue_sign_in.js';
import { confirmEmail } from '../accounts/email_verification.js';
import { resetPassword } from '../accounts/password_reset.js';
import { createSignedUpUser } from '../accounts/registration.js';
import { checkPasswordPolicy } from '../crypto/password.js';
import type { TenantContext } from '../http/context.js';
import { formBody } from '../http/form.js';
import { accountUrl } from '../manage/personal_tokens.js';
import type { User } from '../storage/types.js';
import { confirmLinkBody, resetPasswordBody } from '../ui/account_pages.js';
import { sendPage } from '../ui/respond.js';
import { resumeInteraction } from '../http/interaction.js';
import { formActions } from './authorize_flow.js';
import { queryParam } from './login_actions.js';

const spent = (reply: FastifyReply) =>
  sendNotice(reply, 'This link no longer works', 'It has expired or was already used. Start again from the sign-in page to get a new one.', { status: 400 });

const withPage = (ctx: TenantContext) => ({ href: accountUrl(ctx.issuer), text: 'Go to your account' });

/** What each kind of link shows, and does once its button is pressed. */
interface LinkAction {
  confirm(ctx: TenantContext, data: ActionData): Promise<{ title: string; message: string; button: string } | undefined>;
  use(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, data: ActionData): Promise<unknown>;
}

/**
 * Where the page's form may lead: using the link may continue a sign-in, whose last step is a
 * redirect to the client (CSP form-action covers the redirect after a POST).
 */
const formActionsFor = async (ctx: TenantContext, req: FastifyRequest, data: ActionData): Promise<string[]> => {
  const interaction = await resumeInteraction(ctx, req, data.interaction);
  return interaction ? formActions(interaction.request) : [];
};

const liveUser = async (ctx: TenantContext, data: ActionData): Promise<User | undefined> => {
  const user = data.userId ? await ctx.services.storage.users.get(ctx.tenant.id, data.userId) : undefined;
  return user && !user.disabled ? user : undefined;
};

const ACTIONS: Record<'sign_up' | 'verify_email', LinkAction> = {
  sign_up: {
    confirm: async (ctx, d) => ({ title: 'Finish creating your account', message: `Create the ${ctx.tenant.displayName} account ${d.username} for ${d.email}?`, button: 'Create account' }),
    async use(ctx, req, reply, data) {
      const user = await createSignedUpUser(ctx, data, req.ip);
      if (!user) return sendNotice(reply, 'That name or address was taken', 'Someone created an account with this username or email address after your link was sent. Sign up again.', { status: 409 });
      return continueSignIn(ctx, req, reply, user, data.interaction, { title: 'Your account is ready', message: `Welcome, ${user.username}.`, method: 'sign_up' });
    },
  },
  verify_email: {
    confirm: async (ctx, d) => ((await liveUser(ctx, d)) ? { title: 'Confirm your email address', message: `Use ${d.email} for your ${ctx.tenant.displayName} account?`, button: 'Confirm' } : undefined),
    async use(ctx, req, reply, data) {
      const user = await liveUser(ctx, data);
      if (!user) return spent(reply);
      const next = await confirmEmail(ctx, user, data, req.ip);
      if (!next) return sendNotice(reply, 'That address is taken', `${data.email} now belongs to another account, so nothing was changed.`, { status: 409 });
      const done = { title: 'Email address confirmed', message: `${next.email} is confirmed.`, method: 'email_verified' };
      if (data.interaction) return continueSignIn(ctx, req, reply, next, data.interaction, done);
      return sendNotice(reply, done.title, done.message, { link: withPage(ctx) });
    },
  },
};

function linkEndpoint(kind: 'sign_up' | 'verify_email') {
  const action = `${ACTION_PATHS[kind]}`;
  return async (ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) => {
    if (req.method === 'GET') {
      const value = queryParam(req, 'key');
      const data = value && (await peekAction(ctx, kind, value));
      const page = data && (await ACTIONS[kind].confirm(ctx, data));
      if (!value || !page) return spent(reply);
      return sendPage(reply, {
        title: page.title, formActions: await formActionsFor(ctx, req, data),
        body: () => confirmLinkBody({ action: `${ctx.issuer}${action}`, value, ...page }),
      });
    }
    const value = formBody(req).get('key');
    const data = value && (await consumeAction(ctx, kind, value));
    if (!data) return spent(reply);
    return ACTIONS[kind].use(ctx, req, reply, data);
  };
}

export const signUpLinkEndpoint = linkEndpoint('sign_up');
export const verifyEmailLinkEndpoint = linkEndpoint('verify_email');

/**
 * The reset link: a form for the new password. The link is used only when an acceptable
 * password arrives, so a refused one can be corrected with the same link.
 */
export async function resetPasswordLinkEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const kind: ActionKind = 'reset_password';
  const params = req.method === 'POST' ? formBody(req) : undefined;
  const value = params ? params.get('key') : queryParam(req, 'key');
  const data = value && (await peekAction(ctx, kind, value));
  const user = data && (await liveUser(ctx, data));
  if (!value || !data || !user) return spent(reply);
  const actions = await formActionsFor(ctx, req, data);
  const form = (status?: number, error?: string) =>
    sendPage(reply, {
      status, title: 'Choose a new password', formActions: actions,
      body: () => resetPasswordBody({ action: `${ctx.issuer}${ACTION_PATHS[kind]}`, value, username: user.username, error }),
    });
  if (!params) return form();
  const password = params.get('password') ?? '';
  const problem = checkPasswordPolicy(password, user.username);
  if (problem) return form(400, `${problem.charAt(0).toUpperCase()}${problem.slice(1)}.`);
  if (params.get('password_confirm') !== password) return form(400, 'The two passwords do not match.');
  if (!(await consumeAction(ctx, kind, value))) return spent(reply);
  const next = await resetPassword(ctx, user, data, password, req.ip);
  return continueSignIn(ctx, req, reply, next, data.interaction, { title: 'Your password has been changed', message: 'You were signed out everywhere else.', method: 'password_reset' });
}
