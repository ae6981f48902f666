import type { FastifyReply, FastifyRequest } from 'fastify';
import { auditRefusal } from '../audit_refusals.js';
import { OAuthError } from '../errors.js';
import { sendAuthorizationError } from '../http/authorization_redirect.js';
import type { TenantContext } from '../http/context.js';
import { FormParams, formBody } from '../http/form.js';
import { startInteraction } from '../http/interaction.js';
import { currentSession } from '../http/session.js';
import { needsStepUp } from '../mfa/policy.js';
import { startStepUp } from '../mfa/second_step.js';
import { authorizationTarget } from '../tokens/authorization_response.js';
import { errorBody } from '../ui/pages.js';
import { sendPage } from '../ui/respond.js';
import { proceed, renderLogin, renderSignUp, responseTarget, sessionIsFresh } from './authorize_flow.js';
import { authorizationParameters } from './authorize_pushed.js';
import { errorResponseMode, resolveClientAndRedirect, safeGet, validateRequest } from './authorize_request.js';

/** An error the user sees on Tessera's page, because there is no safe place to redirect to. */
export function sendErrorPage(reply: FastifyReply, err: OAuthError, status = err.status) {
  return sendPage(reply, { status, title: 'Sign-in error', body: () => errorBody({ title: 'We could not start the sign-in', message: err.description }) });
}

/**
 * The authorization endpoint (RFC 6749 §3.1, OIDC Core §3.1.2), GET or POST. It validates
 * client_id and redirect_uri first — failures render a page, never a redirect
 * (SECURITY-CHECKLIST 6) — then everything else, whose errors go back to the client.
 */
export function authorizeEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  return authorize(ctx, req, reply, false);
}

/**
 * Keycloak's registration endpoint (`…/protocol/openid-connect/registrations`, keycloak-js
 * `register()`): the authorization endpoint's parameters, starting at the sign-up page.
 */
export function registrationsEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  return authorize(ctx, req, reply, true);
}

const signUpClosed = () => new OAuthError('access_denied', 'sign-up is not open here; ask the administrator for an account');

async function authorize(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, signUp: boolean) {
  if (signUp && !ctx.tenant.registration) return sendErrorPage(reply, signUpClosed(), 403);
  // RFC 6749 §3.1: GET must be supported, POST may be; unknown parameters are ignored (§3.1).
  const front = req.method === 'POST' ? formBody(req) : new FormParams((req.query ?? {}) as Record<string, string | string[]>);
  let params: FormParams, pushed: string | undefined, client, redirect;
  try {
    // RFC 9126 §4: with a pushed request's request_uri, only the pushed parameters count.
    ({ params, pushed } = await authorizationParameters(ctx, front));
    ({ client, ...redirect } = await resolveClientAndRedirect(ctx, params));
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    // An unknown client, an unregistered redirect_uri, a bad request_uri: nowhere safe to send the user.
    auditRefusal(ctx, req, 'security.authorize_refused', { reason: err.description, clientId: safeGet(front, 'client_id') });
    return sendErrorPage(reply, err);
  }
  const fallback = { redirectUri: redirect.redirectUri, responseMode: errorResponseMode(params), state: safeGet(params, 'state'), clientName: client.name, afterPost: false };
  let request;
  try {
    // RFC 9126 §4: a client registered with require_pushed_authorization_requests uses PAR only.
    if (client.requirePar && pushed === undefined) throw new OAuthError('invalid_request', 'this client must use pushed authorization requests');
    request = { ...validateRequest(ctx, client, redirect, params), ...(pushed !== undefined && { pushedRequest: pushed }) };
    await authorizationTarget(ctx, client, request);
  } catch (err) {
    if (!(err instanceof OAuthError)) throw err;
    // A flow disabled for the client: Keycloak answers with a 400 page, not a redirect.
    if (err.error === 'unauthorized_client' && err.description.startsWith('Client is not allowed')) return sendErrorPage(reply, err, 400);
    return sendAuthorizationError(ctx, reply, fallback, err);
  }

  // OIDC "Initiating User Registration" prompt=create: the sign-up page, where sign-up is open.
  if (signUp || (request.prompt.includes('create') && ctx.tenant.registration)) {
    return renderSignUp(ctx, reply, client, await startInteraction(ctx, req, reply, request));
  }
  const signedIn = await currentSession(ctx, req);
  if (!signedIn || !sessionIsFresh(ctx, request, signedIn.session)) {
    if (request.prompt.includes('none')) {
      return sendAuthorizationError(ctx, reply, responseTarget(request, client, false), new OAuthError('login_required', 'the user is not signed in'));
    }
    return renderLogin(ctx, reply, client, await startInteraction(ctx, req, reply, request));
  }
  // Step-up: the session lacks a second factor this request needs (OIDC Core §3.1.2.1 acr_values, MFA policy).
  if (await needsStepUp(ctx, client, request, signedIn)) {
    if (request.prompt.includes('none')) {
      return sendAuthorizationError(ctx, reply, responseTarget(request, client, false), new OAuthError('interaction_required', 'a second factor is needed and prompt=none forbids asking for it'));
    }
    return startStepUp(ctx, req, reply, request, signedIn);
  }
  return proceed(ctx, req, reply, client, request, signedIn, undefined);
}
