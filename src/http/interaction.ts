import type { FastifyReply, FastifyRequest } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { secretValue } from '../crypto/random.js';
import type { AuthorizationRequest } from '../endpoints/authorize_request.js';
import { OAuthError } from '../errors.js';
import { newOpaqueValue, storageKey } from '../tokens/opaque.js';
import type { TenantContext } from './context.js';
import { cookiesOf } from './cookies.js';
import type { FormParams } from './form.js';
import { cookieOptions } from './session.js';

/** How long a user may take over signing in and consenting. */
const INTERACTION_SECONDS = 30 * 60;

const bindingCookie = (tenantId: string): string => `tessera_browser_${tenantId}`;

export interface Interaction {
  id: string;
  csrf: string;
  request: AuthorizationRequest;
}

/**
 * Parks a validated authorization request while the user signs in or consents. The login
 * and consent forms carry its id and a CSRF token (synchronizer token), and the browser
 * that started it carries a binding cookie: a form posted from elsewhere, or replayed in
 * another browser, is refused.
 */
export async function startInteraction(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, request: AuthorizationRequest): Promise<Interaction> {
  const { storage, clock, random } = ctx.services;
  const now = seconds(clock);
  let binding = cookiesOf(req)[bindingCookie(ctx.tenant.id)];
  if (!binding || binding.length < 43) {
    binding = secretValue(random);
    reply.setCookie(bindingCookie(ctx.tenant.id), binding, cookieOptions(ctx));
  }
  const id = newOpaqueValue(clock, random);
  const csrf = secretValue(random);
  await storage.artifacts.create({
    digest: storageKey(id), tenantId: ctx.tenant.id, kind: 'interaction', grantId: null, clientId: request.clientId,
    data: { request, csrf, binding: digest(binding) }, createdAt: now, expiresAt: now + INTERACTION_SECONDS, usedAt: null,
  });
  return { id, csrf, request };
}

const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/** The answer for a form or link whose sign-in is over. */
export const expired = () => new OAuthError('invalid_request', 'this sign-in request has expired or was already completed; return to the application and start again');

/** The interaction a posted form continues, after checking its CSRF token and browser binding. */
export async function loadInteraction(ctx: TenantContext, req: FastifyRequest, params: FormParams): Promise<Interaction> {
  const id = params.get('interaction');
  const csrf = params.get('csrf');
  if (!id || !csrf) throw new OAuthError('invalid_request', 'the form is incomplete; return to the application and start again');
  const artifact = await ctx.services.storage.artifacts.find('interaction', storageKey(id));
  const now = seconds(ctx.services.clock);
  if (!artifact || artifact.tenantId !== ctx.tenant.id || artifact.usedAt !== null || artifact.expiresAt <= now) throw expired();
  const data = artifact.data as { request: AuthorizationRequest; csrf: string; binding: string };
  const binding = cookiesOf(req)[bindingCookie(ctx.tenant.id)];
  if (!same(csrf, data.csrf) || !binding || !same(digest(binding), data.binding)) {
    throw new OAuthError('invalid_request', 'the form could not be verified (CSRF check failed); return to the application and start again');
  }
  return { id, csrf, request: data.request };
}

/**
 * The interaction `id` names, if it is still open and this browser is the one that started it
 * (binding cookie): for pages reached by a link (sign-up, forgot password) and for mail links
 * that continue a sign-in. No CSRF token is needed to read it; forms built from it carry one.
 */
export async function resumeInteraction(ctx: TenantContext, req: FastifyRequest, id: string | undefined): Promise<Interaction | undefined> {
  if (!id) return undefined;
  const artifact = await ctx.services.storage.artifacts.find('interaction', storageKey(id));
  if (!artifact || artifact.tenantId !== ctx.tenant.id || artifact.usedAt !== null || artifact.expiresAt <= seconds(ctx.services.clock)) return undefined;
  const data = artifact.data as { request: AuthorizationRequest; csrf: string; binding: string };
  const binding = cookiesOf(req)[bindingCookie(ctx.tenant.id)];
  if (!binding || !same(digest(binding), data.binding)) return undefined;
  return { id, csrf: data.csrf, request: data.request };
}

/** Marks the interaction done: of two submissions of one form, exactly one completes. */
export async function completeInteraction(ctx: TenantContext, interaction: Interaction): Promise<void> {
  const done = await ctx.services.storage.artifacts.consume('interaction', storageKey(interaction.id), seconds(ctx.services.clock));
  if (!done) throw expired();
}
