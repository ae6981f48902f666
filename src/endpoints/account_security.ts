import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { audit } from '../audit.js';
import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { secretValue } from '../crypto/random.js';
import type { TenantContext } from '../http/context.js';
import { cookiesOf } from '../http/cookies.js';
import { formBody } from '../http/form.js';
import { currentSession, sessionCookie } from '../http/session.js';
import { accountUrl } from '../manage/personal_tokens.js';
import { ensureRecoveryCodes, factorView, replaceRecoveryCodes, saveTotpFactor } from '../mfa/factors.js';
import { registrationOptions, verifyRegistration } from '../mfa/webauthn.js';
import { storageKey } from '../tokens/opaque.js';
import { WEBAUTHN_SCRIPT_PATH } from './webauthn_script.js';
import { qrSvg } from '../mfa/second_step.js';
import { matchTotp, newTotpSecret } from '../mfa/totp.js';
import type { User } from '../storage/types.js';
import { Html, html } from '../ui/html.js';
import { enrolTotpBody, MFA_STYLE, passkeyScript, recoveryCodesBody, registerPasskeyBody } from '../ui/mfa.js';
import { errorBody } from '../ui/pages.js';
import { sendPage } from '../ui/respond.js';
import { csrfToken } from './account.js';

/** Time to scan the QR code and type the first code. */
const ENROL_SECONDS = 10 * 60;

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * Two-step verification on the account page (`/account/security`): the user's factors, adding
 * an authenticator app (TOTP), removing a factor, new recovery codes. Signing in and CSRF work
 * as on the account page (endpoints/account.ts): no session sends the browser there first.
 */
export async function accountSecurityEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const self = `${accountUrl(ctx.issuer)}/security`;
  const signedIn = await currentSession(ctx, req);
  const cookie = cookiesOf(req)[sessionCookie(ctx.tenant.id)];
  if (!signedIn || !cookie) return reply.redirect(accountUrl(ctx.issuer), 303);
  const csrf = csrfToken(ctx, cookie);
  if (req.method === 'GET') return render(ctx, reply, signedIn.user, csrf);
  const params = formBody(req);
  const sent = params.get('csrf');
  if (!sent || !same(sent, csrf)) return sendError(reply, 403, 'the form could not be verified (CSRF check failed); reload the page and try again');
  const user = signedIn.user;
  const { storage, clock, random } = ctx.services;
  const now = seconds(clock);
  switch (params.get('action')) {
    case 'start_totp': {
      const key = secretValue(random);
      const secret = newTotpSecret(random);
      await storage.artifacts.create({
        digest: digest(key), tenantId: ctx.tenant.id, kind: 'mfa_enrolment', grantId: null, clientId: null,
        data: { userId: user.id, secret }, createdAt: now, expiresAt: now + ENROL_SECONDS, usedAt: null,
      });
      return renderEnrol(ctx, reply, user, csrf, key, secret);
    }
    case 'confirm_totp': {
      const key = params.get('key') ?? '';
      const found = key ? await storage.artifacts.find('mfa_enrolment', digest(key)) : undefined;
      const data = found?.data as { userId: string; secret: string } | undefined;
      if (!found || !data || found.tenantId !== ctx.tenant.id || found.usedAt !== null || found.expiresAt <= now || data.userId !== user.id) {
        return render(ctx, reply, user, csrf, { error: 'That setup has expired. Start again.' }, 400);
      }
      const step = matchTotp(data.secret, (params.get('code') ?? '').replace(/\s/g, ''), now);
      if (step === undefined) return renderEnrol(ctx, reply, user, csrf, key, data.secret, 'That code is not right. Check the time on your device and try the next code.');
      if (!(await storage.artifacts.consume('mfa_enrolment', digest(key), now))) return render(ctx, reply, user, csrf, { error: 'That setup has expired. Start again.' }, 400);
      const label = (params.get('label') ?? '').trim().slice(0, 60) || 'Authenticator app';
      const saved = await saveTotpFactor(ctx.services, user, { secret: data.secret, step, label, now });
      await audit(ctx, { type: 'mfa.enrolled', actor: user.id, userId: user.id, ip: req.ip, detail: { type: 'totp', factor_id: saved.factor.id, at: 'account' } });
      if (saved.recoveryCodes) return renderCodes(ctx, reply, csrf, saved.recoveryCodes);
      return render(ctx, reply, user, csrf, { notice: 'Your authenticator app is set up.' });
    }
    case 'start_passkey':
      return renderPasskey(ctx, reply, user, csrf, cookie);
    case 'confirm_passkey': {
      const label = (params.get('label') ?? '').trim().slice(0, 60) || 'Passkey';
      const factor = await verifyRegistration(ctx, user, params.get('credential'), registerBinding(cookie), label);
      if (typeof factor === 'string') return renderPasskey(ctx, reply, user, csrf, cookie, factor);
      await storage.mfa.create(factor);
      await audit(ctx, { type: 'mfa.enrolled', actor: user.id, userId: user.id, ip: req.ip, detail: { type: 'webauthn', factor_id: factor.id, at: 'account' } });
      const codes = await ensureRecoveryCodes(ctx.services, user, now);
      if (codes) return renderCodes(ctx, reply, csrf, codes);
      return render(ctx, reply, user, csrf, { notice: 'Your passkey is added.' });
    }
    case 'remove_factor': {
      const id = params.get('factor_id') ?? '';
      if (!(await storage.mfa.remove(ctx.tenant.id, user.id, id))) return render(ctx, reply, user, csrf, { error: 'No such factor.' }, 400);
      // Without any factor, recovery codes have nothing to stand in for.
      if ((await storage.mfa.list(ctx.tenant.id, user.id)).length === 0) await storage.mfa.replaceRecoveryCodes(ctx.tenant.id, user.id, [], now);
      await audit(ctx, { type: 'mfa.removed', actor: user.id, userId: user.id, ip: req.ip, detail: { factor_id: id } });
      return render(ctx, reply, user, csrf, { notice: 'The factor was removed.' });
    }
    case 'new_recovery_codes': {
      if ((await storage.mfa.list(ctx.tenant.id, user.id)).length === 0) return render(ctx, reply, user, csrf, { error: 'Set up a second factor first.' }, 400);
      const codes = await replaceRecoveryCodes(ctx.services, user, now);
      await audit(ctx, { type: 'mfa.recovery_codes_generated', actor: user.id, userId: user.id, ip: req.ip });
      return renderCodes(ctx, reply, csrf, codes);
    }
    case 'done':
      return reply.redirect(self, 303);
    default:
      return render(ctx, reply, user, csrf, { error: 'Unknown action.' }, 400);
  }
}

async function render(ctx: TenantContext, reply: FastifyReply, user: User, csrf: string, extra: { error?: string; notice?: string } = {}, status = 200) {
  const self = `${accountUrl(ctx.issuer)}/security`;
  const factors = (await ctx.services.storage.mfa.list(ctx.tenant.id, user.id)).map(factorView);
  const left = await ctx.services.storage.mfa.recoveryCodesLeft(ctx.tenant.id, user.id);
  const hidden = (action: string) => html`<input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="${action}">`;
  const date = (s: number | null) => (s === null ? '—' : new Date(s * 1000).toISOString().slice(0, 16).replace('T', ' ') + ' UTC');
  return sendPage(reply, {
    status,
    title: `Two-step verification · ${ctx.tenant.displayName}`,
    body: (nonce) => html`<style nonce="${nonce}">${new Html(MFA_STYLE)}</style><h1>Two-step verification</h1>
<p class="muted">${user.username} · <a href="${accountUrl(ctx.issuer)}">Back to your account</a></p>
${extra.error ? html`<p class="error" role="alert">${extra.error}</p>` : ''}${extra.notice ? html`<p class="warn" role="status">${extra.notice}</p>` : ''}
<h2>Your second factors</h2>
${factors.length === 0 ? html`<p>None yet. Signing in asks only for your password.</p>` : html`<table class="factors"><tr><th>Name</th><th>Type</th><th>Last used</th><th></th></tr>
${factors.map((f) => html`<tr><td>${f.label}</td><td>${f.type === 'totp' ? 'Authenticator app' : 'Passkey'}</td><td>${date(f.last_used_at)}</td><td><form class="inline" method="post" action="${self}">${hidden('remove_factor')}<input type="hidden" name="factor_id" value="${f.id}"><button type="submit" class="secondary">Remove</button></form></td></tr>`)}</table>`}
<div class="row"><form method="post" action="${self}">${hidden('start_totp')}<button type="submit">Set up an authenticator app</button></form>
<form method="post" action="${self}">${hidden('start_passkey')}<button type="submit">Add a passkey</button></form></div>
${factors.length ? html`<h2>Recovery codes</h2><p>You have ${String(left)} unused recovery code${left === 1 ? '' : 's'}.</p>
<form method="post" action="${self}">${hidden('new_recovery_codes')}<button type="submit" class="secondary">Generate new recovery codes</button></form>` : ''}`,
  });
}

async function renderEnrol(ctx: TenantContext, reply: FastifyReply, user: User, csrf: string, key: string, secret: string, error?: string) {
  const svg = await qrSvg(ctx, user, secret);
  return sendPage(reply, {
    status: error ? 400 : 200,
    title: `Set up an authenticator app · ${ctx.tenant.displayName}`,
    body: (nonce) => html`<style nonce="${nonce}">${new Html(MFA_STYLE)}</style>${enrolTotpBody({
      action: `${accountUrl(ctx.issuer)}/security`, fields: { csrf, action: 'confirm_totp', key }, qrSvg: svg, secret, error,
      heading: 'Set up an authenticator app', intro: `After this, signing in to ${ctx.tenant.displayName} asks for a code from the app.`,
    })}`,
  });
}

/** A passkey's registration challenge is bound to this session (the cookie, which only this browser holds). */
const registerBinding = (cookie: string): string => `register:${storageKey(cookie)}`;

async function renderPasskey(ctx: TenantContext, reply: FastifyReply, user: User, csrf: string, cookie: string, error?: string) {
  const options = await registrationOptions(ctx, user, await ctx.services.storage.mfa.list(ctx.tenant.id, user.id), registerBinding(cookie));
  return sendPage(reply, {
    status: error ? 400 : 200,
    title: `Add a passkey · ${ctx.tenant.displayName}`,
    body: (nonce) => html`${registerPasskeyBody({ action: `${accountUrl(ctx.issuer)}/security`, fields: { csrf, action: 'confirm_passkey' }, options, error })}${passkeyScript(nonce, `${ctx.issuer}${WEBAUTHN_SCRIPT_PATH}`)}`,
  });
}

function renderCodes(ctx: TenantContext, reply: FastifyReply, csrf: string, codes: string[]) {
  return sendPage(reply, {
    title: `Recovery codes · ${ctx.tenant.displayName}`,
    body: (nonce) => html`<style nonce="${nonce}">${new Html(MFA_STYLE)}</style>${recoveryCodesBody({
      codes, next: { action: `${accountUrl(ctx.issuer)}/security`, fields: { csrf, action: 'done' }, label: 'I have saved them' },
    })}`,
  });
}

function sendError(reply: FastifyReply, status: number, message: string) {
  return sendPage(reply, { status, title: 'Two-step verification', body: () => errorBody({ title: 'We could not do that', message }) });
}
