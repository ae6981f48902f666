import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { seconds } from '../clock.js';
import { InputError, OAuthError } from '../errors.js';
import { endpointUrl, type TenantContext } from '../http/context.js';
import { cookiesOf } from '../http/cookies.js';
import { formBody, FormParams } from '../http/form.js';
import { currentSession, sessionCookie } from '../http/session.js';
import {
  accountUrl, builtinClientId, ensureBuiltinClient, issuePersonalToken, listConnectedApps, listPersonalTokens,
  PERSONAL_TOKEN_DEFAULT_SECONDS, personalTokenCap, revokeApp, revokePersonalToken,
} from '../manage/personal_tokens.js';
import { changeEmail, changePassword, resendVerification } from '../accounts/credentials.js';
import type { User } from '../storage/types.js';
import { storageKey } from '../tokens/opaque.js';
import { ACCOUNT_STYLE, accountBody, type AccountView } from '../ui/account.js';
import { Html, html } from '../ui/html.js';
import { errorBody } from '../ui/pages.js';
import { sendPage } from '../ui/respond.js';

/** Lifetimes the form offers, in days; the longest is the cap (SECURITY-CHECKLIST 59). */
const LIFETIMES = [7, 30, 60, 90];

/** The lifetimes offered, in days: the usual choices up to the tenant's cap, and the cap itself. */
const lifetimesFor = (capDays: number) => [...new Set([...LIFETIMES.filter((d) => d < capDays), capDays])];

/**
 * The account page (`/realms/T/account`): the signed-in user's connected apps and personal
 * tokens.
 *
 * Signing in: the page is a first-party client of its own tenant (the built-in "Account"
 * client, consent skipped) and sends a browser without a session through the ordinary
 * authorization code flow, redirect URI = this page. So the one login page, with its
 * throttling, CSRF binding and session fixation defence, is the only place a session is
 * made; the page never handles a password. The code that comes back is not needed (the
 * session cookie is what counts): it is consumed and its grant revoked at once, and the
 * browser is sent on to the clean URL.
 *
 * Changes are POSTs to this page carrying a CSRF token that is an HMAC keyed with the
 * session cookie (HttpOnly, held only by this browser), as the logout confirmation does.
 */
export async function accountEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  try {
    return await handle(ctx, req, reply);
  } catch (err) {
    if (err instanceof OAuthError && err.status < 500) return sendError(reply, err.status, err.description);
    throw err;
  }
}

async function handle(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const { services } = ctx;
  const self = accountUrl(ctx.issuer);
  const signedIn = await currentSession(ctx, req);
  const cookie = cookiesOf(req)[sessionCookie(ctx.tenant.id)];
  if (req.method === 'POST') {
    // Without a session there is nothing to change: the GET signs the user in first.
    if (!signedIn || !cookie) return reply.redirect(self, 303);
    const params = formBody(req);
    params.assertNoDuplicates(['scope']);
    const csrf = params.get('csrf');
    if (!csrf || !same(csrf, csrfToken(ctx, cookie))) {
      return sendError(reply, 403, 'the form could not be verified (CSRF check failed); reload the account page and try again');
    }
    return act(ctx, req, reply, params, signedIn.user, csrf, storageKey(cookie));
  }

  const query = new FormParams((req.query ?? {}) as Record<string, string | string[]>);
  const code = safeGet(query, 'code');
  if (signedIn) {
    if (code !== undefined || safeGet(query, 'error') !== undefined) {
      if (code !== undefined) await discardCode(ctx, code);
      reply.header('cache-control', 'no-store');
      return reply.redirect(self, 303);
    }
    return render(ctx, reply, signedIn.user, { csrf: csrfToken(ctx, cookie!) });
  }
  if (code !== undefined || safeGet(query, 'error') !== undefined) {
    // Back from the sign-in without a session: the cookie did not stick. Sending the browser
    // round again would loop.
    return sendError(reply, 400, 'you signed in, but this browser did not keep the session; allow cookies for this site and open the account page again');
  }
  const client = await ensureBuiltinClient(services, ctx.tenant.id, 'account', ctx.issuer, (t, c) => services.cache.client(t, c));
  const auth = `${endpointUrl(ctx.issuer, 'auth')}?${new URLSearchParams({ client_id: client.clientId, redirect_uri: self, response_type: 'code' })}`;
  reply.header('cache-control', 'no-store');
  return reply.redirect(auth, 302);
}

const safeGet = (params: FormParams, name: string): string | undefined => {
  try {
    return params.get(name);
  } catch {
    // Repeated: present, but not a value to act on.
    return '';
  }
};

/** The account client's code is of no use: consume it, so it can never be redeemed, and end its grant. */
async function discardCode(ctx: TenantContext, code: string) {
  const { storage, clock } = ctx.services;
  const key = storageKey(code);
  const artifact = await storage.artifacts.find('authorization_code', key);
  if (!artifact || artifact.tenantId !== ctx.tenant.id || artifact.clientId !== builtinClientId(ctx.tenant.id, 'account')) return;
  const now = seconds(clock);
  await storage.artifacts.consume('authorization_code', key, now);
  if (artifact.grantId) await storage.grants.revoke(artifact.grantId, now);
}

/** Changes to the user's own sign-in details (accounts/credentials.ts): a notice on success. */
const CREDENTIAL_ACTIONS: Record<string, (ctx: TenantContext, req: FastifyRequest, user: User, params: FormParams, sessionKey: string) => Promise<string>> = {
  change_password: changePassword,
  change_email: (ctx, req, user, params) => changeEmail(ctx, req, user, params),
  resend_verification: (ctx, req, user) => resendVerification(ctx, req, user),
};

async function act(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, params: FormParams, user: User, csrf: string, sessionKey: string) {
  const { services } = ctx;
  const tenantId = ctx.tenant.id;
  const self = accountUrl(ctx.issuer);
  const action = params.get('action');
  try {
    const credential = action && Object.hasOwn(CREDENTIAL_ACTIONS, action) ? CREDENTIAL_ACTIONS[action] : undefined;
    if (credential) {
      const notice = await credential(ctx, req, user, params, sessionKey);
      // Re-read: a confirmed change (password) is shown as it now is.
      return render(ctx, reply, (await services.storage.users.get(tenantId, user.id)) ?? user, { csrf, notice });
    }
    if (action === 'revoke_app') {
      const clientId = params.get('client_id');
      if (!clientId) throw new InputError('no app was named');
      await revokeApp(services, tenantId, user.id, clientId);
      return reply.redirect(self, 303);
    }
    if (action === 'revoke_token') {
      const id = params.get('token_id');
      if (!id) throw new InputError('no token was named');
      await revokePersonalToken({ ...services, actor: user.id }, tenantId, user.id, id);
      return reply.redirect(self, 303);
    }
    if (action === 'create_token') {
      const days = params.get('days');
      if (!days || !/^\d{1,4}$/.test(days)) throw new InputError('choose how long the token lives');
      const apis = (await services.cache.apiIndex(tenantId)).list;
      const name = params.get('name') ?? '';
      const issued = await issuePersonalToken({ ...services, actor: user.id }, {
        tenant: ctx.tenant, issuer: ctx.issuer, user, apis, scopes: params.all('scope'), expiresIn: Number(days) * 86400, name,
        loadClient: (t, c) => services.cache.client(t, c),
      });
      return render(ctx, reply, user, {
        csrf, created: { name: name.trim(), value: issued.value, scopes: issued.scopes, expiresAt: seconds(services.clock) + issued.expiresIn },
      });
    }
    throw new InputError('unknown action');
  } catch (err) {
    if (err instanceof InputError) return render(ctx, reply, user, { csrf, error: `${capitalise(err.message)}.` }, 400);
    throw err;
  }
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

async function render(
  ctx: TenantContext,
  reply: FastifyReply,
  user: User,
  extra: Pick<AccountView, 'csrf' | 'created' | 'error' | 'notice'>,
  status = 200,
) {
  const { services } = ctx;
  const tenantId = ctx.tenant.id;
  const [apps, tokens, index] = await Promise.all([
    listConnectedApps(services, tenantId, user.id, (t, c) => services.cache.client(t, c)),
    listPersonalTokens(services, tenantId, user.id),
    services.cache.apiIndex(tenantId),
  ]);
  const scopes = index.list.flatMap((api) => api.scopes).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const self = accountUrl(ctx.issuer);
  const signOutUrl = `${endpointUrl(ctx.issuer, 'logout')}?${new URLSearchParams({ client_id: builtinClientId(tenantId, 'account'), post_logout_redirect_uri: self })}`;
  const view: AccountView = {
    action: self, username: user.username, email: user.email, emailVerified: user.emailVerified, tenantName: ctx.tenant.displayName, signOutUrl,
    apps: apps.map((a) => ({ clientId: a.client.clientId, name: a.client.name, scopes: a.scopes })),
    tokens: tokens.map((t) => ({ id: t.grantId, name: t.name, scopes: t.scopes, createdAt: t.createdAt, expiresAt: t.expiresAt })),
    scopes, lifetimes: lifetimesFor(personalTokenCap(ctx.tenant) / 86400),
    defaultDays: Math.min(PERSONAL_TOKEN_DEFAULT_SECONDS, personalTokenCap(ctx.tenant)) / 86400, ...extra,
  };
  return sendPage(reply, {
    status,
    title: `Your account · ${ctx.tenant.displayName}`,
    body: (nonce) => html`<style nonce="${nonce}">${new Html(ACCOUNT_STYLE)}</style>${accountBody(view)}`,
  });
}

function sendError(reply: FastifyReply, status: number, message: string) {
  return sendPage(reply, { status, title: 'Account', body: () => errorBody({ title: 'We could not do that', message }) });
}

/** The forms' CSRF token: an HMAC keyed with the session cookie's value, bound to this tenant's account page. */
export const csrfToken = (ctx: TenantContext, cookie: string): string =>
  createHmac('sha256', cookie).update(`tessera account page\0${ctx.tenant.id}`).digest('base64url');

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
