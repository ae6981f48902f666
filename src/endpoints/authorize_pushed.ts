import type { FastifyReply } from 'fastify';
import { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import { FormParams } from '../http/form.js';
import { loadPushedRequest, REQUEST_URI_PREFIX, spendPushedRequest } from '../tokens/request_uri.js';
import { errorBody } from '../ui/pages.js';
import { sendPage } from '../ui/respond.js';
import type { AuthorizationRequest } from './authorize_request.js';

/**
 * The authorization endpoint's side of PAR (RFC 9126 §4). A request_uri from the PAR
 * endpoint is checked here (client, expiry, not yet used) but spent only when the
 * authorization response is issued (`spendOrRefuse`, as node-oidc-provider does): reloading
 * the login page does not strand the user, and a request_uri that produced a response
 * never works again. Its errors are pages: the redirect URI is in the pushed request, which
 * is not trusted until it is found (RFC 9101 §6.2).
 */

/**
 * The parameters of an authorization request: the front channel's, or — with a request_uri
 * the PAR endpoint issued — only the pushed ones (RFC 9126 §4: the AS MUST only use the
 * parameters in the pushed request; others next to client_id and request_uri are ignored).
 * `pushed` is the storage key that spends it. A request_uri of any other kind stays in the
 * front channel's parameters, where validateRequest refuses it (request_uri_not_supported).
 */
export async function authorizationParameters(ctx: TenantContext, front: FormParams): Promise<{ params: FormParams; pushed?: string }> {
  const requestUri = front.get('request_uri');
  if (requestUri === undefined || !requestUri.startsWith(REQUEST_URI_PREFIX)) return { params: front };
  // RFC 9126 §4 (RFC 9101 §5): client_id is required next to request_uri, and must be the pusher's.
  const clientId = front.get('client_id');
  if (!clientId) throw new OAuthError('invalid_request', 'client_id is missing');
  const { key, params } = await loadPushedRequest(ctx, requestUri, clientId);
  return { params: new FormParams(params), pushed: key };
}

/**
 * Spends the request's pushed request, if it has one, just before its response is issued.
 * Of concurrent uses of one request_uri exactly one goes on; the others get this page.
 * Returns whether it refused (the page is sent). Not the reply itself: a FastifyReply is a
 * thenable, so an async function returning it resolves to undefined once the page is out,
 * and the caller went on to issue a grant and a code nobody would receive (issue 11 races).
 */
export async function spendOrRefuse(ctx: TenantContext, reply: FastifyReply, request: AuthorizationRequest): Promise<boolean> {
  if (request.pushedRequest === undefined || (await spendPushedRequest(ctx, request.pushedRequest))) return false;
  const err = new OAuthError('invalid_request_uri', 'request_uri was already used; push the authorization request again');
  // The page of sendErrorPage (authorize.ts), which this module cannot import without a cycle.
  sendPage(reply, { status: err.status, title: 'Sign-in error', body: () => errorBody({ title: 'We could not start the sign-in', message: err.description }) });
  return true;
}
