import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors, jwtVerify } from 'jose';
import { seconds } from '../clock.js';
import { OAuthError } from '../errors.js';
import { endpointUrl, type TenantContext } from '../http/context.js';
import { cookiesOf } from '../http/cookies.js';
import { FormParams, formBody } from '../http/form.js';
import { redirectUriMatches } from '../http/redirect_uri.js';
import { cookieOptions, currentSession, sessionCookie } from '../http/session.js';
import { queueBackchannelLogout } from '../logout/backchannel.js';
import type { Client } from '../storage/types.js';
import { errorBody, logoutConfirmBody, signedOutBody } from '../ui/pages.js';
import { formTarget, sendPage } from '../ui/respond.js';

/** A logout request whose parameters have all been checked; nothing has been changed yet. */
interface LogoutRequest {
  client?: Client;
  /** Registered on `client`: the only place this endpoint ever redirects to. */
  redirectUri?: string;
  state?: string;
  /** From a verified id_token_hint. */
  hint?: { sub: string; sid?: string };
}

/**
 * OpenID Connect RP-Initiated Logout 1.0 (GET or POST). Everything is validated before the
 * session is touched; a hint naming this browser's session logs out at once, otherwise the
 * user confirms on a page (Keycloak's behaviour; §6 logout CSRF). `logout_hint` and
 * `ui_locales` are accepted and not used: there is one session per browser and one language.
 */
export async function endSessionEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  try {
    // §2: the OP MUST support GET and POST (form-encoded, as keycloak-js's logoutMethod POST sends).
    const params = req.method === 'POST' ? formBody(req) : new FormParams((req.query ?? {}) as Record<string, string | string[]>);
    params.assertNoDuplicates();
    const request = await validateRequest(ctx, params);
    const afterPost = req.method === 'POST';
    const csrf = afterPost ? params.get('csrf') : undefined;
    const cookie = cookiesOf(req)[sessionCookie(ctx.tenant.id)];
    const signedIn = await currentSession(ctx, req);
    if (signedIn && cookie) {
      const hintIsThisSession = request.hint?.sid === signedIn.session.id && request.hint.sub === signedIn.session.userId;
      if (csrf !== undefined) {
        if (!same(csrf, confirmationToken(ctx, cookie))) {
          throw new OAuthError('invalid_request', 'the sign-out form could not be verified (CSRF check failed); return to the application and sign out again');
        }
      } else if (!hintIsThisSession) {
        // A hint naming another session (or none) proves nothing about this browser: ask.
        return sendConfirmation(ctx, reply, request, confirmationToken(ctx, cookie));
      }
      if (await ctx.services.storage.sessions.revoke(signedIn.session.key, seconds(ctx.services.clock))) {
        // Back-Channel Logout 1.0: the clients hear of it after this response, never within it.
        queueBackchannelLogout(ctx, { userId: signedIn.session.userId, sid: signedIn.session.id });
      }
    }
    if (cookie !== undefined) reply.setCookie(sessionCookie(ctx.tenant.id), '', { ...cookieOptions(ctx, 0), expires: new Date(0) });
    if (request.redirectUri !== undefined) {
      // §3: state is passed back to the RP unchanged; the registered URI keeps its own query.
      const sep = request.redirectUri.includes('?') ? '&' : '?';
      const query = request.state !== undefined ? `${sep}${new URLSearchParams({ state: request.state })}` : '';
      reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
      return reply.redirect(`${request.redirectUri}${query}`, afterPost ? 303 : 302);
    }
    return sendPage(reply, { title: 'Signed out', body: () => signedOutBody({ tenantName: ctx.tenant.displayName }) });
  } catch (err) {
    if (err instanceof OAuthError) {
      return sendPage(reply, { status: err.status, title: 'Sign-out error', body: () => errorBody({ title: 'We could not sign you out', message: err.description }) });
    }
    throw err;
  }
}

async function validateRequest(ctx: TenantContext, params: FormParams): Promise<LogoutRequest> {
  const token = params.get('id_token_hint');
  const clientId = params.get('client_id');
  const redirectUri = params.get('post_logout_redirect_uri');
  const state = params.get('state');

  let hint: LogoutRequest['hint'];
  let hintClientId: string | undefined;
  if (token !== undefined) {
    const claims = await readIdTokenHint(ctx, token);
    const aud = Array.isArray(claims.aud) ? claims.aud : typeof claims.aud === 'string' ? [claims.aud] : [];
    // §2: when both are given, the RP's client_id must be an audience of the hint.
    if (clientId !== undefined && !aud.includes(clientId)) throw new OAuthError('invalid_request', 'id_token_hint was not issued to client_id');
    hintClientId = typeof claims.azp === 'string' ? claims.azp : aud.length === 1 ? aud[0] : undefined;
    hint = { sub: claims.sub, ...(typeof claims.sid === 'string' && { sid: claims.sid }) };
  }

  const id = clientId ?? hintClientId;
  const client = id !== undefined ? await ctx.services.cache.client(ctx.tenant.id, id) : undefined;
  if (id !== undefined && !client) throw new OAuthError('invalid_request', 'the client is not known');
  if (redirectUri !== undefined) {
    if (!client) throw new OAuthError('invalid_request', 'post_logout_redirect_uri needs client_id or id_token_hint to identify the client');
    // §3 and SECURITY-CHECKLIST 42: exactly one of the client's registered URIs, or no redirect at all.
    if (!client.postLogoutRedirectUris.some((registered) => redirectUriMatches(registered, redirectUri))) {
      throw new OAuthError('invalid_request', 'post_logout_redirect_uri is not registered for this client');
    }
  }
  return { client, redirectUri, state, hint };
}

/**
 * §2: id_token_hint is an ID token this OP issued: this tenant's issuer, signed with one of
 * its published keys, `typ: JWT` (an access token, `at+jwt`, is not one). "The OP need not
 * be concerned with the expiry": an expired but otherwise valid token is accepted.
 */
async function readIdTokenHint(ctx: TenantContext, token: string): Promise<{ sub: string; aud?: unknown; azp?: unknown; sid?: unknown }> {
  const ring = ctx.services.cache.peekKeyRing(ctx.tenant.id) ?? (await ctx.services.cache.keyRing(ctx.tenant.id));
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(token, ring.verificationKeys(), {
      issuer: ctx.issuer, typ: 'JWT', algorithms: ['RS256', 'ES256', 'EdDSA'], currentDate: new Date(seconds(ctx.services.clock) * 1000),
    }));
  } catch (err) {
    // jose checks the signature, typ and iss before exp, so an expired token is otherwise sound.
    if (err instanceof errors.JWTExpired && err.claim === 'exp') claims = err.payload;
    else throw new OAuthError('invalid_request', 'id_token_hint is not a valid ID token from this server', { detail: (err as Error).message });
  }
  if (typeof claims.sub !== 'string') throw new OAuthError('invalid_request', 'id_token_hint is not a valid ID token from this server');
  return { ...claims, sub: claims.sub };
}

/**
 * The confirmation form's CSRF token: an HMAC keyed with the session cookie's value, which
 * only this browser holds (HttpOnly, never stored by the server). It needs no storage and
 * dies with the session; a page elsewhere can neither read nor compute it.
 */
const confirmationToken = (ctx: TenantContext, cookie: string): string =>
  createHmac('sha256', cookie).update(`tessera logout confirmation\0${ctx.tenant.id}`).digest('base64url');

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

function sendConfirmation(ctx: TenantContext, reply: FastifyReply, request: LogoutRequest, csrf: string) {
  return sendPage(reply, {
    title: `Sign out of ${ctx.tenant.displayName}`,
    // Browsers apply form-action to the redirect that follows the POST, too.
    formActions: request.redirectUri !== undefined ? [formTarget(request.redirectUri)] : [],
    body: () =>
      logoutConfirmBody({
        action: endpointUrl(ctx.issuer, 'logout'), csrf, tenantName: ctx.tenant.displayName,
        clientName: request.redirectUri !== undefined ? request.client?.name : undefined,
        fields: { client_id: request.client?.clientId, post_logout_redirect_uri: request.redirectUri, state: request.state },
      }),
  });
}
