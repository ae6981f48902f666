import type { FastifyReply, FastifyRequest } from 'fastify';
import { audit } from '../audit.js';
import { auditThrottled } from '../audit_refusals.js';
import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import type { TenantContext } from '../http/context.js';
import { expired, type Interaction } from '../http/interaction.js';
import { checkSecondFactor, saveTotpFactor } from '../mfa/factors.js';
import { establish, renderStep, stepBinding, withSecondFactor, type StepData } from '../mfa/second_step.js';
import { verifyAuthentication } from '../mfa/webauthn.js';
import { matchTotp } from '../mfa/totp.js';
import type { Client, User } from '../storage/types.js';
import { Html, html } from '../ui/html.js';
import { MFA_STYLE, recoveryCodesBody } from '../ui/mfa.js';
import { sendPage } from '../ui/respond.js';
import { sendErrorPage } from './authorize.js';
import { formActions, loginActionUrl } from './authorize_flow.js';
import { formAction } from './login_actions.js';

/** The throttle's account key for second-factor attempts: apart from the password's (no username has a space and a colon at the start). */
export const mfaThrottleKey = (userId: string): string => ` mfa:${userId}`;

const WRONG = 'That code is not right. Check the time on your device, or use a recovery code.';
const PASSKEY_FAILED = 'The passkey could not be verified. Try again, or use a code.';
const REPLAYED = 'That code was already used. Wait for the next one in your app.';

/**
 * The second step's form (POST /login-actions/mfa): a TOTP code or a recovery code, the first
 * code of an enrolment at sign-in, or "continue" once new recovery codes were shown. Attempts
 * are throttled like passwords, per account and per address, under a key of their own (a
 * right password must not reset the count of wrong codes).
 */
export const mfaStepEndpoint = formAction(async (ctx, req, reply, { params, interaction, client }) => {
  const { storage, clock, throttle } = ctx.services;
  const now = seconds(clock);
  const key = params.get('key') ?? '';
  const step = key ? await storage.artifacts.find('mfa_step', digest(key)) : undefined;
  const data = step?.data as StepData | undefined;
  if (!step || !data || step.tenantId !== ctx.tenant.id || step.usedAt !== null || step.expiresAt <= now || data.interaction !== interaction.id) {
    return sendErrorPage(reply, expired());
  }
  const user = await storage.users.get(ctx.tenant.id, data.userId);
  if (!user || user.disabled) return sendErrorPage(reply, expired());

  if (data.enrolled) return finish(ctx, req, reply, user, client, interaction, key, withSecondFactor(data.amr, 'otp'), 'otp');

  const account = { tenant: ctx.tenant.id, username: mfaThrottleKey(user.id) };
  const factors = await storage.mfa.list(ctx.tenant.id, user.id);
  const verdict = await throttle.check(account, req.ip, now);
  if (!verdict.allowed) {
    auditThrottled(ctx.services, ctx.tenant.id, { ip: req.ip, limit: 'second_factor', clientId: client.clientId, userId: user.id, endpoint: 'mfa', retryAfterSeconds: verdict.retryAfter });
    reply.header('retry-after', String(verdict.retryAfter));
    return renderStep(ctx, reply, user, interaction, key, data, factors, { status: 429, message: `Too many wrong codes. Try again in ${verdict.retryAfter} seconds.` });
  }
  const code = params.get('code') ?? '';

  if (params.get('action') === 'passkey' && !data.enrol) {
    // No answer at all (the script did not run): nothing was tried, so nothing is counted.
    if (!params.get('credential')) return renderStep(ctx, reply, user, interaction, key, data, factors, { status: 400, message: 'Your browser sent no passkey. Try again, or use a code.' });
    const passkey = await verifyAuthentication(ctx, params.get('credential'), 'second_factor', stepBinding(interaction), factors);
    if (!passkey.ok) return failed(ctx, req, reply, user, client, interaction, key, data, factors, 'invalid_passkey');
    await throttle.succeed(account, req.ip, now);
    // RFC 8176 §2: hwk, proof of possession of a hardware-secured key.
    return finish(ctx, req, reply, user, client, interaction, key, withSecondFactor(data.amr, 'hwk'), 'webauthn');
  }

  if (data.enrol) {
    const matched = matchTotp(data.enrol.secret, code.replace(/\s/g, ''), now);
    if (matched === undefined) return failed(ctx, req, reply, user, client, interaction, key, data, factors, 'invalid_code');
    await throttle.succeed(account, req.ip, now);
    const label = (params.get('label') ?? '').trim().slice(0, 60) || 'Authenticator app';
    const saved = await saveTotpFactor(ctx.services, { tenantId: ctx.tenant.id, id: user.id }, { secret: data.enrol.secret, step: matched, label, now });
    await audit(ctx, { type: 'mfa.enrolled', actor: user.id, userId: user.id, clientId: client.clientId, ip: req.ip, detail: { type: 'totp', factor_id: saved.factor.id, at: 'sign_in' } });
    const amr = withSecondFactor(data.amr, 'otp');
    if (!saved.recoveryCodes) return finish(ctx, req, reply, user, client, interaction, key, amr, 'otp');
    // The codes are shown once; the sign-in completes with the next POST of this step.
    const { enrol: _secret, ...rest } = data;
    if (!(await storage.artifacts.swap('mfa_step', digest(key), data, { ...rest, enrolled: true }, now))) return sendErrorPage(reply, expired());
    return sendPage(reply, {
      title: `Recovery codes · ${ctx.tenant.displayName}`,
      formActions: formActions(interaction.request),
      body: (nonce) => html`<style nonce="${nonce}">${new Html(MFA_STYLE)}</style>${recoveryCodesBody({
        codes: saved.recoveryCodes!,
        next: { action: loginActionUrl(ctx, 'mfa'), fields: { interaction: interaction.id, csrf: interaction.csrf, key }, label: 'I have saved them — continue' },
      })}`,
    });
  }

  const result = await checkSecondFactor(storage, factors, user, code, now);
  if (!result.ok) return failed(ctx, req, reply, user, client, interaction, key, data, factors, result.reason);
  await throttle.succeed(account, req.ip, now);
  return finish(ctx, req, reply, user, client, interaction, key, withSecondFactor(data.amr, 'otp'), result.method);
});

async function failed(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, user: User, client: Client, interaction: Interaction, key: string, data: StepData, factors: Awaited<ReturnType<TenantContext['services']['storage']['mfa']['list']>>, reason: 'invalid_code' | 'replayed_code' | 'invalid_passkey') {
  await ctx.services.throttle.fail({ tenant: ctx.tenant.id, username: mfaThrottleKey(user.id) }, req.ip, seconds(ctx.services.clock));
  await audit(ctx, { type: 'sign_in.failure', actor: user.id, userId: user.id, clientId: client.clientId, ip: req.ip, detail: { reason, step: 'second_factor' } });
  return renderStep(ctx, reply, user, interaction, key, data, factors, { status: 401, message: reason === 'replayed_code' ? REPLAYED : reason === 'invalid_passkey' ? PASSKEY_FAILED : WRONG });
}

/** Spends the step (of two submissions exactly one completes) and signs the user in. */
async function finish(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, user: User, client: Client, interaction: Interaction, key: string, amr: string[], method: string) {
  if (!(await ctx.services.storage.artifacts.consume('mfa_step', digest(key), seconds(ctx.services.clock)))) return sendErrorPage(reply, expired());
  return establish(ctx, req, reply, user, client, interaction, amr, method);
}
