import type { FastifyReply, FastifyRequest } from 'fastify';
import { seconds } from '../clock.js';
import { OAuthError } from '../errors.js';
import { audit } from '../audit.js';
import { sendAuthorizationError, sendAuthorizationResponse, type ResponseTarget } from '../http/authorization_redirect.js';
import type { TenantContext } from '../http/context.js';
import { completeInteraction, startInteraction, type Interaction } from '../http/interaction.js';
import { isDeviceLocal } from '../http/redirect_uri.js';
import type { Client, Session, User } from '../storage/types.js';
import { issueAuthorization } from '../tokens/authorization_response.js';
import { signUpBody } from '../ui/account_pages.js';
import { consentBody, loginBody } from '../ui/pages.js';
import { formTarget, sendPage } from '../ui/respond.js';
import { spendOrRefuse } from './authorize_pushed.js';
import type { AuthorizationRequest } from './authorize_request.js';

export type LoginAction = 'authenticate' | 'consent' | 'registration' | 'reset-credentials' | 'required-action' | 'mfa' | 'passkey';

export const loginActionUrl = (ctx: TenantContext, action: LoginAction): string =>
  `${ctx.issuer}/login-actions/${action}`;

/** A page of this sign-in reached by a link (the interaction is resumed only in the browser that started it). */
export const interactionLink = (ctx: TenantContext, action: LoginAction, interaction: Interaction): string =>
  `${loginActionUrl(ctx, action)}?${new URLSearchParams({ interaction: interaction.id })}`;

export const responseTarget = (req: AuthorizationRequest, client: Client, afterPost: boolean): ResponseTarget => ({
  redirectUri: req.redirectUri, responseMode: req.responseMode, state: req.state, clientName: client.name, afterPost,
});

/** Pages of the flow may post to Tessera and be redirected to the client. */
export const formActions = (req: AuthorizationRequest) => [formTarget(req.redirectUri)];

export function renderLogin(ctx: TenantContext, reply: FastifyReply, client: Client, interaction: Interaction, extra: { error?: string; username?: string; status?: number } = {}) {
  return sendPage(reply, {
    status: extra.status,
    title: `Sign in to ${ctx.tenant.displayName}`,
    formActions: formActions(interaction.request),
    body: () => loginBody({
      form: { action: loginActionUrl(ctx, 'authenticate'), interaction: interaction.id, csrf: interaction.csrf },
      clientName: client.name, tenantName: ctx.tenant.displayName, username: extra.username ?? interaction.request.loginHint, error: extra.error,
      links: {
        resetUrl: interactionLink(ctx, 'reset-credentials', interaction),
        passkeyUrl: loginActionUrl(ctx, 'passkey'),
        ...(ctx.tenant.registration && { signUpUrl: interactionLink(ctx, 'registration', interaction) }),
      },
    }),
  });
}

export function renderSignUp(ctx: TenantContext, reply: FastifyReply, client: Client, interaction: Interaction, extra: { error?: string; username?: string; email?: string; status?: number } = {}) {
  return sendPage(reply, {
    status: extra.status,
    title: `Create your account · ${ctx.tenant.displayName}`,
    formActions: formActions(interaction.request),
    body: () => signUpBody({
      form: { action: loginActionUrl(ctx, 'registration'), interaction: interaction.id, csrf: interaction.csrf },
      tenantName: ctx.tenant.displayName, clientName: client.name, loginUrl: interactionLink(ctx, 'authenticate', interaction),
      username: extra.username, email: extra.email, error: extra.error,
    }),
  });
}

async function renderConsent(ctx: TenantContext, reply: FastifyReply, client: Client, interaction: Interaction, user: User) {
  const index = await ctx.services.cache.apiIndex(ctx.tenant.id);
  const describe = (name: string) => index.scopeOwner.get(name)?.scopes.find((s) => s.name === name)?.description ?? OIDC_DESCRIPTIONS[name] ?? name;
  return sendPage(reply, {
    title: `Authorize ${client.name}`,
    formActions: formActions(interaction.request),
    body: () => consentBody({
      form: { action: loginActionUrl(ctx, 'consent'), interaction: interaction.id, csrf: interaction.csrf },
      clientName: client.name, username: user.username,
      scopes: interaction.request.scopes.map((name) => ({ name, description: describe(name) })),
    }),
  });
}

export const OIDC_DESCRIPTIONS: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name and username',
  email: 'See your email address',
  offline_access: 'Stay connected when you are not using it',
};

/**
 * Whether the user must approve this request now. Never skipped for a public client whose
 * redirect URI any app on the device could receive (RFC 8252 §8.6, SECURITY-CHECKLIST 55).
 */
async function needsConsent(ctx: TenantContext, client: Client, req: AuthorizationRequest, user: User): Promise<boolean> {
  if (req.prompt.includes('consent')) return true;
  if (client.tokenEndpointAuthMethod === 'none' && isDeviceLocal(req.redirectUri)) return true;
  if (client.consent === 'skip') return false;
  const remembered = await ctx.services.storage.consents.get(ctx.tenant.id, user.id, client.clientId);
  // No remembered consent at all means asking, even for a request that names no scope.
  return !remembered || !req.scopes.every((s) => remembered.scopes.includes(s));
}

/** Whether the session satisfies prompt=login and max_age (OIDC Core §3.1.2.1). */
export function sessionIsFresh(ctx: TenantContext, req: AuthorizationRequest, session: Session): boolean {
  if (req.prompt.includes('login')) return false;
  return req.maxAge === undefined || seconds(ctx.services.clock) - session.authTime <= req.maxAge;
}

/**
 * The rest of an authorization once the user is known: consent if needed, then the
 * response. `interaction` is set when the user came through Tessera's forms.
 */
export async function proceed(
  ctx: TenantContext,
  httpReq: FastifyRequest,
  reply: FastifyReply,
  client: Client,
  req: AuthorizationRequest,
  signedIn: { session: Session; user: User },
  interaction: Interaction | undefined,
  consented = false,
) {
  if (!consented && (await needsConsent(ctx, client, req, signedIn.user))) {
    if (req.prompt.includes('none')) return sendAuthorizationError(ctx, reply, responseTarget(req, client, false), new OAuthError('consent_required', 'the user has not approved this client'));
    return renderConsent(ctx, reply, client, interaction ?? (await startInteraction(ctx, httpReq, reply, req)), signedIn.user);
  }
  if (interaction) await completeInteraction(ctx, interaction);
  // RFC 9126 §4: a pushed request's request_uri is one-time use; it is spent here.
  if (await spendOrRefuse(ctx, reply, req)) return reply;
  const target = responseTarget(req, client, interaction !== undefined);
  try {
    const params = await issueAuthorization(ctx, client, req, signedIn.user, signedIn.session);
    if (params.access_token) await audit(ctx, { type: 'token.issued', actor: client.clientId, clientId: client.clientId, userId: signedIn.user.id, ip: httpReq.ip, detail: { grant_type: 'implicit', scope: params.scope } });
    return sendAuthorizationResponse(ctx, reply, target, params);
  } catch (err) {
    if (err instanceof OAuthError && err.status < 500) return sendAuthorizationError(ctx, reply, target, err);
    throw err;
  }
}

