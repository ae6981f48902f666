import type { FastifyReply } from 'fastify';
import { audit } from '../audit.js';
import type { TenantContext } from '../http/context.js';
import type { Interaction } from '../http/interaction.js';
import { establish } from '../mfa/second_step.js';
import { authenticationOptions, verifyAuthentication } from '../mfa/webauthn.js';
import type { Client } from '../storage/types.js';
import { html } from '../ui/html.js';
import { passkeyScript, passkeySignInBody } from '../ui/mfa.js';
import { sendPage } from '../ui/respond.js';
import { formActions, interactionLink, loginActionUrl } from './authorize_flow.js';
import { formAction } from './login_actions.js';
import { startPasswordUpdate } from './required_action.js';
import { WEBAUTHN_SCRIPT_PATH } from './webauthn_script.js';

const binding = (interaction: Interaction): string => `passwordless:${interaction.id}`;

function render(ctx: TenantContext, reply: FastifyReply, client: Client, interaction: Interaction, options: string, error?: string) {
  return sendPage(reply, {
    status: error ? 401 : 200,
    title: `Sign in with a passkey · ${ctx.tenant.displayName}`,
    formActions: formActions(interaction.request),
    body: (nonce) => html`${passkeySignInBody({
      action: loginActionUrl(ctx, 'passkey'), interaction: interaction.id, csrf: interaction.csrf, options, error,
      tenantName: ctx.tenant.displayName, clientName: client.name, loginUrl: interactionLink(ctx, 'authenticate', interaction),
    })}${passkeyScript(nonce, `${ctx.issuer}${WEBAUTHN_SCRIPT_PATH}`)}`,
  });
}

/**
 * Passwordless sign-in (POST /login-actions/passkey, from the login page's "Sign in with a
 * passkey"): without a credential, the page that asks the authenticator, with a challenge bound
 * to this sign-in; with one, the assertion is checked against the tenant's passkeys. User
 * verification is required, so the passkey alone is two factors (possession, and the PIN or
 * biometric that unlocked it): `amr` is hwk, user, mfa. Assertions cannot be guessed, so there
 * is nothing to throttle: each challenge works once.
 */
export const passkeyLoginEndpoint = formAction(async (ctx, req, reply, { params, interaction, client }) => {
  const fresh = () => authenticationOptions(ctx, 'passwordless', binding(interaction));
  const credential = params.get('credential');
  if (!credential) return render(ctx, reply, client, interaction, await fresh());
  const result = await verifyAuthentication(ctx, credential, 'passwordless', binding(interaction));
  const user = result.ok ? await ctx.services.storage.users.get(ctx.tenant.id, result.factor.userId) : undefined;
  if (!result.ok || !user) {
    await audit(ctx, { type: 'sign_in.failure', actor: 'anonymous', clientId: client.clientId, ip: req.ip, detail: { reason: 'invalid_passkey' } });
    return render(ctx, reply, client, interaction, await fresh(), 'That passkey could not be verified. Try again, or sign in with your password.');
  }
  if (user.disabled || (ctx.tenant.requireVerifiedEmail && !user.emailVerified)) {
    await audit(ctx, { type: 'sign_in.failure', actor: user.id, userId: user.id, clientId: client.clientId, ip: req.ip, detail: { reason: user.disabled ? 'user_disabled' : 'email_not_verified', method: 'passkey' } });
    return render(ctx, reply, client, interaction, await fresh(), user.disabled ? 'This account is disabled. Contact the administrator.' : 'Sign in with your password to verify your email address first.');
  }
  // An operator's "must change password" holds whatever proved the user (Keycloak's required actions do too).
  if (user.mustChangePassword) return startPasswordUpdate(ctx, reply, user, client, interaction);
  return establish(ctx, req, reply, user, client, interaction, ['hwk', 'user', 'mfa'], 'passkey');
});
