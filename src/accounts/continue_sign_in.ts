import type { FastifyReply, FastifyRequest } from 'fastify';
import { audit } from '../audit.js';
import type { TenantContext } from '../http/context.js';
import { resumeInteraction } from '../http/interaction.js';
import { signIn } from '../mfa/second_step.js';
import type { User } from '../storage/types.js';
import { noticeBody } from '../ui/account_pages.js';
import { sendPage } from '../ui/respond.js';

/**
 * After a mail link finished something for `user` (sign-up, reset, verification): if the link
 * is used in the browser that started the sign-in it came from, sign the user in there and
 * let the authorization request go on. Anywhere else the user is told what happened and
 * signs in as usual: a session is never made in a browser that did not start the flow, so
 * a link cannot be used to sign a victim in to the sender's account (login CSRF).
 */
export async function continueSignIn(
  ctx: TenantContext,
  req: FastifyRequest,
  reply: FastifyReply,
  user: User,
  interactionId: string | undefined,
  done: { title: string; message: string; method: string },
) {
  const interaction = await resumeInteraction(ctx, req, interactionId);
  const client = interaction && (await ctx.services.cache.client(ctx.tenant.id, interaction.request.clientId));
  if (!interaction || !client || user.disabled) return sendNotice(reply, done.title, `${done.message} Return to the application and sign in.`);
  // A mail link stands in for the password only: a second factor is still asked for (mfa/second_step.ts).
  return signIn(ctx, req, reply, user, client, interaction, { amr: ['pwd'], method: done.method });
}

export function sendNotice(reply: FastifyReply, title: string, message: string, opts: { status?: number; link?: { href: string; text: string } } = {}) {
  return sendPage(reply, { status: opts.status, title, body: () => noticeBody({ title, message, link: opts.link }) });
}
