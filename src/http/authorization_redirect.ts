import type { FastifyReply } from 'fastify';
import type { ResponseMode } from '../endpoints/authorize_request.js';
import type { OAuthError } from '../errors.js';
import { formPostBody, FORM_POST_SCRIPT, webPageBody, WEB_PAGE_SCRIPT } from '../ui/pages.js';
import { formTarget, sendPage } from '../ui/respond.js';
import type { TenantContext } from './context.js';

export interface ResponseTarget {
  redirectUri: string;
  responseMode: ResponseMode;
  state?: string;
  clientName: string;
  /** After a POSTed form: 303, so the browser follows with a GET (SECURITY-CHECKLIST 12). */
  afterPost: boolean;
}

/**
 * Delivers an authorization response to the validated redirect URI in the response mode:
 * query or fragment (RFC 6749 §4.1.2, §4.2.2), an auto-submitted form (Form Post Response
 * Mode), or Tessera's own token page (web_page). Every response carries `iss` (RFC 9207)
 * and echoes `state`.
 */
export function sendAuthorizationResponse(ctx: TenantContext, reply: FastifyReply, target: ResponseTarget, params: Record<string, string>): FastifyReply {
  const all: Record<string, string> = { ...params, ...(target.state !== undefined && { state: target.state }), iss: ctx.issuer };
  reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
  switch (target.responseMode) {
    case 'form_post':
      return sendPage(reply, {
        title: 'Continue', body: () => formPostBody({ redirectUri: target.redirectUri, params: all }), script: FORM_POST_SCRIPT,
        formActions: [formTarget(target.redirectUri)],
      });
    case 'web_page':
      return sendPage(reply, {
        title: `Your token for ${target.clientName}`, script: WEB_PAGE_SCRIPT,
        body: () => webPageBody({ clientName: target.clientName, accessToken: all.access_token, expiresIn: Number(all.expires_in), scope: all.scope ?? '' }),
      });
    case 'fragment':
      // Registered redirect URIs have no fragment (checked at registration), so ours is the only one.
      return reply.redirect(`${target.redirectUri}#${new URLSearchParams(all).toString()}`, target.afterPost ? 303 : 302);
    default: {
      // Keep the registered URI's own query, adding ours (RFC 6749 §3.1.2).
      const sep = target.redirectUri.includes('?') ? '&' : '?';
      return reply.redirect(`${target.redirectUri}${sep}${new URLSearchParams(all).toString()}`, target.afterPost ? 303 : 302);
    }
  }
}

/** An error after the redirect URI was validated: sent there, in the request's response mode. */
export function sendAuthorizationError(ctx: TenantContext, reply: FastifyReply, target: ResponseTarget, err: OAuthError): FastifyReply {
  const mode = target.responseMode === 'web_page' ? 'fragment' : target.responseMode;
  return sendAuthorizationResponse(ctx, reply, { ...target, responseMode: mode }, { error: err.error, error_description: err.description });
}
