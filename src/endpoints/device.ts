import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { audit } from '../audit.js';
import { auditThrottled } from '../audit_refusals.js';
import { seconds } from '../clock.js';
import { OAuthError } from '../errors.js';
import { DEVICE_CODE_GRANT } from '../grants/device_code.js';
import { ACR_MFA, acrOf, hasMfa } from '../mfa/policy.js';
import { endpointUrl, type TenantContext } from '../http/context.js';
import { cookiesOf } from '../http/cookies.js';
import { formBody, FormParams } from '../http/form.js';
import { currentSession, sessionCookie } from '../http/session.js';
import { builtinClientId, deviceUrl, ensureBuiltinClient } from '../manage/personal_tokens.js';
import type { Session, User } from '../storage/types.js';
import { findByUserCode, formatUserCode, normalizeUserCode, recordDecision, type UserCodeLookup } from '../tokens/device_authorization.js';
import { storageKey } from '../tokens/opaque.js';
import { deviceConsentBody, deviceDoneBody, deviceEntryBody } from '../ui/device.js';
import { errorBody } from '../ui/pages.js';
import { sendPage } from '../ui/respond.js';
import { safeGet } from './authorize_request.js';
import { OIDC_DESCRIPTIONS } from './authorize_flow.js';

const WRONG_CODE = 'That code is not valid. Check the code shown on your device and try again.';
const SPENT_CODE = 'That code has expired or was already used. Start again on your device to get a new code.';

/**
 * The device page (`/realms/T/device`, RFC 8628 §3.3 `verification_uri`): a signed-in user
 * types the code their device shows, sees which client asks for what, and allows or denies.
 * Signing in works as on the account page: the page is the built-in "Device sign-in" client
 * and sends a browser without a session through the authorization code flow, the typed code
 * riding along in `state`; the code that comes back is consumed and its grant ended at once.
 * Forms carry a CSRF token that is an HMAC keyed with the session cookie.
 */
export async function deviceEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  try {
    return await handle(ctx, req, reply);
  } catch (err) {
    if (err instanceof OAuthError && err.status < 500) return sendError(reply, err.status, err.description);
    throw err;
  }
}

/** The page's URL, with a well-formed user code to fill in. */
const selfWith = (ctx: TenantContext, typed: string | undefined): string => {
  const code = typed === undefined ? undefined : normalizeUserCode(typed);
  return `${deviceUrl(ctx.issuer)}${code ? `?${new URLSearchParams({ user_code: formatUserCode(code) })}` : ''}`;
};

async function handle(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const { services } = ctx;
  const signedIn = await currentSession(ctx, req);
  const cookie = cookiesOf(req)[sessionCookie(ctx.tenant.id)];
  reply.header('cache-control', 'no-store');
  if (req.method === 'POST') {
    const params = formBody(req);
    // Without a session there is nothing to decide: the GET signs the user in first.
    if (!signedIn || !cookie) return reply.redirect(selfWith(ctx, params.get('user_code')), 303);
    const csrf = params.get('csrf');
    if (!csrf || !same(csrf, csrfToken(ctx, cookie))) {
      return sendError(reply, 403, 'the form could not be verified (CSRF check failed); open the device page again');
    }
    return submit(ctx, req, reply, params, signedIn, csrf);
  }

  const query = new FormParams((req.query ?? {}) as Record<string, string | string[]>);
  const code = safeGet(query, 'code');
  const back = code !== undefined || safeGet(query, 'error') !== undefined;
  const typed = safeGet(query, back ? 'state' : 'user_code');
  if (signedIn) {
    if (back) {
      if (code !== undefined) await discardCode(ctx, code);
      return reply.redirect(selfWith(ctx, typed), 303);
    }
    const prefill = typed === undefined ? undefined : normalizeUserCode(typed);
    return renderEntry(ctx, reply, signedIn.user, csrfToken(ctx, cookie!), { userCode: prefill && formatUserCode(prefill) });
  }
  // Back from the sign-in without a session: the cookie did not stick, and going round again would loop.
  if (back) return sendError(reply, 400, 'you signed in, but this browser did not keep the session; allow cookies for this site and open the device page again');
  const client = await ensureBuiltinClient(services, ctx.tenant.id, 'device', ctx.issuer, (t, c) => services.cache.client(t, c));
  const prefill = typed === undefined ? undefined : normalizeUserCode(typed);
  const auth = new URLSearchParams({ client_id: client.clientId, redirect_uri: deviceUrl(ctx.issuer), response_type: 'code', ...(prefill && { state: formatUserCode(prefill) }) });
  return reply.redirect(`${endpointUrl(ctx.issuer, 'auth')}?${auth}`, 302);
}

/** A posted code (`user_code`), and with `decision=allow|deny` the answer to the consent page. */
async function submit(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, params: FormParams, signedIn: { session: Session; user: User }, csrf: string) {
  const { user, session } = signedIn;
  const typed = params.get('user_code') ?? '';
  // Wrong user codes per signed-in user and per client address, with the login page's growing
  // delays (RFC 8628 §5.1: the user code's low entropy is safe only with rate limiting).
  const throttle = ctx.services.deviceThrottle;
  const now = seconds(ctx.services.clock);
  const account = { tenant: ctx.tenant.id, username: user.id };
  const verdict = await throttle.check(account, req.ip, now);
  if (!verdict.allowed) {
    auditThrottled(ctx.services, ctx.tenant.id, { ip: req.ip, limit: 'device_user_code', userId: user.id, endpoint: 'device', retryAfterSeconds: verdict.retryAfter });
    reply.header('retry-after', String(verdict.retryAfter));
    return renderEntry(ctx, reply, user, csrf, { status: 429, userCode: typed, error: `Too many wrong codes. Try again in ${verdict.retryAfter} seconds.` });
  }
  const found: UserCodeLookup = await findByUserCode(ctx, typed);
  // Only an open code clears the user's count: a spent one is no proof of anything.
  if (found.status !== 'open') await throttle.fail(account, req.ip, now);
  if (found.status === 'unknown') return renderEntry(ctx, reply, user, csrf, { status: 400, userCode: typed, error: WRONG_CODE });
  if (found.status === 'spent') return renderEntry(ctx, reply, user, csrf, { status: 400, error: SPENT_CODE });
  await throttle.succeed(account, req.ip, now);

  const decision = params.get('decision');
  if (decision === undefined) return renderConsent(ctx, reply, user, csrf, found);
  if (decision !== 'allow' && decision !== 'deny') throw new OAuthError('invalid_request', 'choose Allow or Deny');
  const approved = decision === 'allow';
  // A device client that requires a second factor: a password-only session steps up first
  // (the authorization endpoint asks for it), then comes back here with the code filled in.
  if (approved && !hasMfa(session.amr) && (await ctx.services.storage.mfa.clientRequires(ctx.tenant.id, found.client.clientId))) {
    const client = await ensureBuiltinClient(ctx.services, ctx.tenant.id, 'device', ctx.issuer, (t, c) => ctx.services.cache.client(t, c));
    const auth = new URLSearchParams({ client_id: client.clientId, redirect_uri: deviceUrl(ctx.issuer), response_type: 'code', acr_values: ACR_MFA, state: found.userCode });
    return reply.redirect(`${endpointUrl(ctx.issuer, 'auth')}?${auth}`, 303);
  }
  const recorded = await recordDecision(ctx, found.device.digest, approved
    ? { approved, userId: user.id, authTime: session.authTime, sid: session.id, sessionExpiresAt: session.expiresAt, authContext: { amr: session.amr, acr: acrOf(session.amr, undefined) } }
    : { approved, userId: user.id });
  if (!recorded) return renderEntry(ctx, reply, user, csrf, { status: 400, error: SPENT_CODE });
  if (approved) {
    await audit(ctx, { type: 'consent.granted', actor: user.id, userId: user.id, clientId: found.client.clientId, ip: req.ip, detail: { scope: found.data.scopes.join(' '), grant_type: DEVICE_CODE_GRANT } });
  }
  return sendPage(reply, { title: approved ? 'Device connected' : 'Access denied', body: () => deviceDoneBody({ approved, clientName: found.client.name }) });
}

function renderEntry(ctx: TenantContext, reply: FastifyReply, user: User, csrf: string, extra: { status?: number; userCode?: string; error?: string }) {
  return sendPage(reply, {
    status: extra.status,
    title: `Connect a device · ${ctx.tenant.displayName}`,
    body: () => deviceEntryBody({ form: { action: deviceUrl(ctx.issuer), csrf }, tenantName: ctx.tenant.displayName, username: user.username, userCode: extra.userCode, error: extra.error }),
  });
}

async function renderConsent(ctx: TenantContext, reply: FastifyReply, user: User, csrf: string, found: UserCodeLookup & { status: 'open' }) {
  const index = await ctx.services.cache.apiIndex(ctx.tenant.id);
  const describe = (name: string) => index.scopeOwner.get(name)?.scopes.find((s) => s.name === name)?.description ?? OIDC_DESCRIPTIONS[name] ?? name;
  return sendPage(reply, {
    title: `Authorize ${found.client.name}`,
    body: () => deviceConsentBody({
      form: { action: deviceUrl(ctx.issuer), csrf }, clientName: found.client.name, username: user.username, userCode: found.userCode,
      scopes: found.data.scopes.map((name) => ({ name, description: describe(name) })),
    }),
  });
}

/** The device client's code is of no use: consume it, so it can never be redeemed, and end its grant. */
async function discardCode(ctx: TenantContext, code: string) {
  const { storage, clock } = ctx.services;
  const key = storageKey(code);
  const artifact = await storage.artifacts.find('authorization_code', key);
  if (!artifact || artifact.tenantId !== ctx.tenant.id || artifact.clientId !== builtinClientId(ctx.tenant.id, 'device')) return;
  const now = seconds(clock);
  await storage.artifacts.consume('authorization_code', key, now);
  if (artifact.grantId) await storage.grants.revoke(artifact.grantId, now);
}

function sendError(reply: FastifyReply, status: number, message: string) {
  return sendPage(reply, { status, title: 'Connect a device', body: () => errorBody({ title: 'We could not do that', message }) });
}

/** The forms' CSRF token: an HMAC keyed with the session cookie's value, bound to this tenant's device page. */
const csrfToken = (ctx: TenantContext, cookie: string): string =>
  createHmac('sha256', cookie).update(`tessera device page\0${ctx.tenant.id}`).digest('base64url');

const same = (a: string, b: string) => {
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
};
