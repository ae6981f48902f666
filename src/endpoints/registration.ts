import type { FastifyReply, FastifyRequest } from 'fastify';
import { afterResponse } from '../accounts/background.js';
import { sendNotice } from '../accounts/continue_sign_in.js';
import { seconds } from '../clock.js';
import { checkPasswordPolicy, hashPassword } from '../crypto/password.js';
import { InputError, OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import { expired, resumeInteraction } from '../http/interaction.js';
import { checkUsername } from '../manage/users.js';
import { checkEmail } from '../manage/validate.js';
import { emailKey } from '../storage/sql/users.js';
import { sendErrorPage } from './authorize.js';
import { renderSignUp } from './authorize_flow.js';
import { formAction, queryParam, throttled } from './login_actions.js';
import { sendSignUpMail } from '../accounts/registration.js';

const closed = () => new OAuthError('access_denied', 'sign-up is not open here; ask the administrator for an account');

/** The sign-up page of a sign-in in progress ("Create an account" on the login page). */
async function showSignUp(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  if (!ctx.tenant.registration) return sendErrorPage(reply, closed(), 403);
  const interaction = await resumeInteraction(ctx, req, queryParam(req, 'interaction'));
  const client = interaction && (await ctx.services.cache.client(ctx.tenant.id, interaction.request.clientId));
  if (!interaction || !client) return sendErrorPage(reply, expired());
  return renderSignUp(ctx, reply, client, interaction);
}

/**
 * The sign-up form's POST. Whatever happens to the address and the username, the answer is
 * the same "check your email" page after the same work (an argon2 hash): whether they are
 * taken is decided after the response, and told only by mail (SECURITY-CHECKLIST 56).
 * Every attempt counts against the address and the client IP, since each one sends mail.
 */
const register = formAction(async (ctx, req, reply, { params, interaction, client }) => {
  if (!ctx.tenant.registration) return sendErrorPage(reply, closed(), 403);
  const username = params.get('username')?.trim() ?? '';
  const email = params.get('email')?.trim() ?? '';
  const password = params.get('password') ?? '';
  const again = (status: number, error: string) => renderSignUp(ctx, reply, client, interaction, { status, error, username, email });
  try {
    checkUsername(username);
    if (!checkEmail(email)) throw new InputError('enter your email address');
    const problem = checkPasswordPolicy(password, username);
    if (problem) throw new InputError(problem);
    if (params.get('password_confirm') !== password) throw new InputError('the two passwords do not match');
  } catch (err) {
    if (err instanceof InputError) return again(400, `${err.message.charAt(0).toUpperCase()}${err.message.slice(1)}.`);
    throw err;
  }
  const wait = await throttled(ctx, ctx.services.accountThrottle, `sign-up ${emailKey(email)}`, req.ip, seconds(ctx.services.clock));
  if (wait) return again(429, wait);
  const passwordHash = await hashPassword(password);
  afterResponse(ctx, 'sign-up mail', () => sendSignUpMail(ctx, { username, email, passwordHash, interaction: interaction.id }));
  return sendNotice(reply, 'Check your email', `We sent a message to ${email}. Follow the link in it, in this browser, within 24 hours to finish creating your account.`);
});

export function registrationActionEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  return req.method === 'GET' ? showSignUp(ctx, req, reply) : register(ctx, req, reply);
}
