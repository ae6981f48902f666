import type { FastifyReply, FastifyRequest } from 'fastify';
import { afterResponse } from '../accounts/background.js';
import { sendNotice } from '../accounts/continue_sign_in.js';
import { sendResetMail } from '../accounts/password_reset.js';
import { seconds } from '../clock.js';
import type { TenantContext } from '../http/context.js';
import { expired, resumeInteraction, type Interaction } from '../http/interaction.js';
import { usernameKey } from '../storage/sql/users.js';
import { forgotPasswordBody } from '../ui/account_pages.js';
import { sendPage } from '../ui/respond.js';
import { sendErrorPage } from './authorize.js';
import { formActions, interactionLink, loginActionUrl } from './authorize_flow.js';
import { formAction, queryParam, throttled } from './login_actions.js';

function renderForgot(ctx: TenantContext, reply: FastifyReply, interaction: Interaction, extra: { status?: number; error?: string } = {}) {
  return sendPage(reply, {
    status: extra.status,
    title: `Reset your password · ${ctx.tenant.displayName}`,
    formActions: formActions(interaction.request),
    body: () => forgotPasswordBody({
      form: { action: loginActionUrl(ctx, 'reset-credentials'), interaction: interaction.id, csrf: interaction.csrf },
      tenantName: ctx.tenant.displayName, loginUrl: interactionLink(ctx, 'authenticate', interaction), error: extra.error,
    }),
  });
}

async function showForgot(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const interaction = await resumeInteraction(ctx, req, queryParam(req, 'interaction'));
  if (!interaction) return sendErrorPage(reply, expired());
  return renderForgot(ctx, reply, interaction);
}

/**
 * "Forgot password?" (Keycloak's reset-credentials). The answer is the same whether or not
 * the name belongs to an account, and comes before anything is looked up: the account, the
 * link and the mail are handled after the response (SECURITY-CHECKLIST 56). Requests are
 * throttled per name and per IP, since each may send mail.
 */
const requestReset = formAction(async (ctx, req, reply, { params, interaction }) => {
  const login = params.get('username')?.trim() ?? '';
  if (!login) return renderForgot(ctx, reply, interaction, { status: 400, error: 'Enter your username or email address.' });
  const wait = await throttled(ctx, ctx.services.accountThrottle, `reset ${usernameKey(login)}`, req.ip, seconds(ctx.services.clock));
  if (wait) return renderForgot(ctx, reply, interaction, { status: 429, error: wait });
  afterResponse(ctx, 'password reset mail', () => sendResetMail(ctx, login, interaction.id, req.ip));
  return sendNotice(reply, 'Check your email', `If ${login} belongs to an account with an email address, we sent a link to reset its password. Open it in this browser within 30 minutes.`);
});

export function resetCredentialsEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  return req.method === 'GET' ? showForgot(ctx, req, reply) : requestReset(ctx, req, reply);
}
