import type { FastifyReply, FastifyRequest } from 'fastify';
import { audit } from '../audit.js';
import { requestDeps } from '../accounts/session_end.js';
import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { checkPasswordPolicy, hashPassword, verifyPassword } from '../crypto/password.js';
import { secretValue } from '../crypto/random.js';
import type { TenantContext } from '../http/context.js';
import { expired, type Interaction } from '../http/interaction.js';
import { signIn } from '../mfa/second_step.js';
import { endSessions } from '../manage/users.js';
import type { Client, User } from '../storage/types.js';
import { updatePasswordBody } from '../ui/required_action.js';
import { sendPage } from '../ui/respond.js';
import { sendErrorPage } from './authorize.js';
import { formActions, loginActionUrl } from './authorize_flow.js';
import { formAction } from './login_actions.js';

/** Time to choose a new password once the old one was accepted. */
const STEP_SECONDS = 10 * 60;

function render(ctx: TenantContext, reply: FastifyReply, interaction: Interaction, key: string, user: User, error?: string) {
  return sendPage(reply, {
    status: error ? 400 : 200,
    title: `Choose a new password · ${ctx.tenant.displayName}`,
    formActions: formActions(interaction.request),
    body: () => updatePasswordBody({
      form: { action: loginActionUrl(ctx, 'required-action'), interaction: interaction.id, csrf: interaction.csrf },
      key, username: user.username, tenantName: ctx.tenant.displayName, error,
    }),
  });
}

/**
 * The password was right but the user must change it: no session yet. A single-use key, tied
 * to this interaction (itself bound to this browser), proves the password was checked.
 */
export async function startPasswordUpdate(ctx: TenantContext, reply: FastifyReply, user: User, client: Client, interaction: Interaction) {
  const { storage, clock, random } = ctx.services;
  const now = seconds(clock);
  const key = secretValue(random);
  await storage.artifacts.create({
    digest: digest(key), tenantId: ctx.tenant.id, kind: 'password_update', grantId: null, clientId: client.clientId,
    data: { userId: user.id, interaction: interaction.id }, createdAt: now, expiresAt: now + STEP_SECONDS, usedAt: null,
  });
  return render(ctx, reply, interaction, key, user);
}

/** The "choose a new password" form's POST: the password policy applies; then sign-in completes. */
export const requiredActionEndpoint = formAction(async (ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, { params, interaction, client }) => {
  const { storage, clock } = ctx.services;
  const now = seconds(clock);
  const key = params.get('key') ?? '';
  const step = key ? await storage.artifacts.find('password_update', digest(key)) : undefined;
  const data = step?.data as { userId: string; interaction: string } | undefined;
  if (!step || !data || step.tenantId !== ctx.tenant.id || step.usedAt !== null || step.expiresAt <= now || data.interaction !== interaction.id) {
    return sendErrorPage(reply, expired());
  }
  const user = await storage.users.get(ctx.tenant.id, data.userId);
  if (!user || user.disabled) return sendErrorPage(reply, expired());
  const password = params.get('password') ?? '';
  const problem = checkPasswordPolicy(password, user.username);
  if (problem) return render(ctx, reply, interaction, key, user, problem);
  if (params.get('password_confirm') !== password) return render(ctx, reply, interaction, key, user, 'The two new passwords do not match.');
  if (await verifyPassword(user.passwordHash, password)) return render(ctx, reply, interaction, key, user, 'Choose a password different from the current one.');
  if (!(await storage.artifacts.consume('password_update', digest(key), now))) return sendErrorPage(reply, expired());
  const changed: User = { ...user, passwordHash: await hashPassword(password), mustChangePassword: false, updatedAt: now };
  await storage.users.update(changed);
  // Whoever else knew the old password may hold a session: it ends, as on the account page.
  await endSessions(requestDeps(ctx, user.id), ctx.tenant.id, user.id);
  await audit(ctx, { type: 'user.password_changed', actor: user.id, userId: user.id, ip: req.ip, detail: { reason: 'required_action' } });
  return signIn(ctx, req, reply, changed, client, interaction, { amr: ['pwd'], method: 'pwd' });
});
