import type { FastifyReply, FastifyRequest } from 'fastify';
import { audit } from '../audit.js';
import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { secretValue } from '../crypto/random.js';
import type { AuthorizationRequest } from '../endpoints/authorize_request.js';
import { formActions, loginActionUrl, proceed } from '../endpoints/authorize_flow.js';
import type { TenantContext } from '../http/context.js';
import { startInteraction, type Interaction } from '../http/interaction.js';
import { startSession } from '../http/session.js';
import type { Client, MfaFactor, Session, User } from '../storage/types.js';
import { Html, html } from '../ui/html.js';
import { enrolTotpBody, MFA_STYLE, secondStepBody } from '../ui/mfa.js';
import { sendPage } from '../ui/respond.js';
import { mfaRequirement } from './policy.js';
import { newTotpSecret, otpauthUri } from './totp.js';
import { authenticationOptions } from './webauthn.js';
import { WEBAUTHN_SCRIPT_PATH } from '../endpoints/webauthn_script.js';

/** Time to enter the code (or enrol) once the first factor was accepted. */
const STEP_SECONDS = 10 * 60;

/** The state of a second step, in an `mfa_step` artifact tied to the interaction (itself bound to the browser). */
export interface StepData {
  userId: string;
  interaction: string;
  /** What the user has already proven (RFC 8176 values): `pwd`, or a step-up session's amr. */
  amr: string[];
  /** TOTP enrolment at sign-in (the tenant or client requires a factor the user lacks). */
  enrol?: { secret: string };
  /** Enrolled; recovery codes were shown; the next POST completes the sign-in. */
  enrolled?: true;
  [k: string]: unknown;
}

/**
 * Every sign-in after its first factor: straight to a session when the user has no second factor
 * and none is required; otherwise the second step (or enrolment at sign-in, as Keycloak's
 * CONFIGURE_TOTP required action does). No session exists before the second factor, so a
 * password alone opens nothing, not even the account page.
 */
export async function signIn(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, user: User, client: Client, interaction: Interaction, first: { amr: string[]; method: string }) {
  const factors = await ctx.services.storage.mfa.list(ctx.tenant.id, user.id);
  if (factors.length === 0 && !(await mfaRequirement(ctx, client, interaction.request))) {
    return establish(ctx, req, reply, user, client, interaction, first.amr, first.method);
  }
  return startSecondStep(ctx, reply, user, interaction, first.amr, factors);
}

/** A live session lacks the second factor this request needs (acr_values, policy): the second step, no password again. */
export async function startStepUp(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, request: AuthorizationRequest, signedIn: { session: Session; user: User }) {
  const interaction = await startInteraction(ctx, req, reply, request);
  const factors = await ctx.services.storage.mfa.list(ctx.tenant.id, signedIn.user.id);
  return startSecondStep(ctx, reply, signedIn.user, interaction, signedIn.session.amr, factors);
}

async function startSecondStep(ctx: TenantContext, reply: FastifyReply, user: User, interaction: Interaction, amr: string[], factors: MfaFactor[]) {
  const { storage, clock, random } = ctx.services;
  const now = seconds(clock);
  const key = secretValue(random);
  const data: StepData = { userId: user.id, interaction: interaction.id, amr, ...(factors.length === 0 && { enrol: { secret: newTotpSecret(random) } }) };
  await storage.artifacts.create({
    digest: digest(key), tenantId: ctx.tenant.id, kind: 'mfa_step', grantId: null, clientId: interaction.request.clientId,
    data, createdAt: now, expiresAt: now + STEP_SECONDS, usedAt: null,
  });
  return renderStep(ctx, reply, user, interaction, key, data, factors);
}

/** The page of a second step in its current state. */
export async function renderStep(ctx: TenantContext, reply: FastifyReply, user: User, interaction: Interaction, key: string, data: StepData, factors: MfaFactor[], error?: { status: number; message: string }) {
  const form = { action: loginActionUrl(ctx, 'mfa'), interaction: interaction.id, csrf: interaction.csrf };
  if (data.enrol) {
    const svg = await qrSvg(ctx, user, data.enrol.secret);
    return sendPage(reply, {
      status: error?.status,
      title: `Set up two-step verification · ${ctx.tenant.displayName}`,
      formActions: formActions(interaction.request),
      body: (nonce) => html`<style nonce="${nonce}">${new Html(MFA_STYLE)}</style>${enrolTotpBody({
        action: form.action, fields: { interaction: form.interaction, csrf: form.csrf, key }, qrSvg: svg, secret: data.enrol!.secret, error: error?.message,
        heading: 'Set up two-step verification', intro: `${ctx.tenant.displayName} requires a second step when ${user.username} signs in here. Set up an authenticator app to continue.`,
      })}`,
    });
  }
  // A passkey answers a challenge bound to this sign-in (mfa/webauthn.ts).
  const options = factors.some((f) => f.type === 'webauthn') ? await authenticationOptions(ctx, 'second_factor', stepBinding(interaction), factors) : undefined;
  return sendPage(reply, {
    status: error?.status,
    title: `Two-step verification · ${ctx.tenant.displayName}`,
    formActions: formActions(interaction.request),
    body: (nonce) => secondStepBody({
      form, key, username: user.username, tenantName: ctx.tenant.displayName, totp: factors.some((f) => f.type === 'totp'), error: error?.message,
      ...(options && { passkey: { options, nonce, script: `${ctx.issuer}${WEBAUTHN_SCRIPT_PATH}` } }),
    }),
  });
}

/** What a second-step passkey challenge is bound to: the sign-in (itself bound to the browser). */
export const stepBinding = (interaction: Interaction): string => `second_factor:${interaction.id}`;

/** The QR code of the otpauth:// URI, as SVG made here: the secret never goes to a third party. */
export async function qrSvg(ctx: TenantContext, user: User, secret: string): Promise<string> {
  // Loaded on first use, like @simplewebauthn/server: only enrolment pages draw a QR code.
  const { default: QRCode } = await import('qrcode');
  return QRCode.toString(otpauthUri({ issuer: ctx.tenant.displayName, account: user.username, secret }), { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
}

/** The sign-in completes: a new session (fixation defence) carrying what authenticated it, then the authorization goes on. */
export async function establish(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, user: User, client: Client, interaction: Interaction, amr: string[], method: string) {
  const session = await startSession(ctx, req, reply, user, amr);
  await audit(ctx, { type: 'sign_in.success', actor: user.id, userId: user.id, clientId: client.clientId, ip: req.ip, detail: { method } });
  return proceed(ctx, req, reply, client, interaction.request, { session, user }, interaction);
}

/** RFC 8176 values after a second factor: what was proven before, the factor's own, and `mfa`. */
export const withSecondFactor = (amr: string[], method: string): string[] => [...new Set([...amr.filter((m) => m !== 'mfa'), method, 'mfa'])];
