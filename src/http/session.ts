import type { FastifyReply, FastifyRequest } from 'fastify';
import { seconds } from '../clock.js';
import { identifier } from '../crypto/random.js';
import type { Session, User } from '../storage/types.js';
import { newOpaqueValue, storageKey } from '../tokens/opaque.js';
import type { TenantContext } from './context.js';
import { cookiesOf } from './cookies.js';

/** Default session lifetimes (Keycloak's): 30 minutes idle, 10 hours absolute; a tenant may set its own. */
export const SESSION_IDLE_SECONDS = 30 * 60;
export const SESSION_MAX_SECONDS = 10 * 60 * 60;

export const lifetimes = (ctx: TenantContext) => ({
  idle: ctx.tenant.sessionIdleSeconds ?? SESSION_IDLE_SECONDS,
  max: ctx.tenant.sessionMaxSeconds ?? SESSION_MAX_SECONDS,
});

/** One cookie per tenant, so signing in to one tenant says nothing to another. */
export const sessionCookie = (tenantId: string): string => `tessera_session_${tenantId}`;

/**
 * Cookie attributes: HttpOnly, Path=/ so every alias path sees it; on https
 * SameSite=None;Secure so silent renew in an iframe works; on plain-http loopback
 * development, Lax (browsers refuse SameSite=None without Secure).
 */
export function cookieOptions(ctx: TenantContext, maxAge?: number) {
  // The issuer, not the public URL: a tenant with its own hostname is https even then.
  const secure = ctx.issuer.startsWith('https://');
  return { path: '/', httpOnly: true, secure, sameSite: secure ? ('none' as const) : ('lax' as const), ...(maxAge !== undefined && { maxAge }) };
}

/** The live session this request's cookie names, with its user; undefined when there is none. */
export async function currentSession(ctx: TenantContext, req: FastifyRequest): Promise<{ session: Session; user: User } | undefined> {
  const value = cookiesOf(req)[sessionCookie(ctx.tenant.id)];
  if (!value) return undefined;
  const { storage } = ctx.services;
  const session = await storage.sessions.get(storageKey(value));
  const now = seconds(ctx.services.clock);
  if (!session || session.tenantId !== ctx.tenant.id || session.revokedAt !== null || now >= session.idleExpiresAt || now >= session.expiresAt) return undefined;
  const user = await storage.users.get(ctx.tenant.id, session.userId);
  // A disabled user can use nothing, including a session opened before.
  if (!user || user.disabled) return undefined;
  const idle = Math.min(now + lifetimes(ctx).idle, session.expiresAt);
  if (idle - session.idleExpiresAt >= 60) await storage.sessions.touch(session.key, idle);
  return { session, user };
}

/**
 * Starts a session after a successful sign-in, with a new cookie value (the old one, if
 * any, is revoked: session fixation), and returns it.
 */
export async function startSession(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, user: User, amr: string[]): Promise<Session> {
  const { storage, clock, random } = ctx.services;
  const now = seconds(clock);
  const previous = cookiesOf(req)[sessionCookie(ctx.tenant.id)];
  if (previous) await storage.sessions.revoke(storageKey(previous), now);
  const value = newOpaqueValue(clock, random);
  const { idle, max } = lifetimes(ctx);
  const session: Session = {
    key: storageKey(value), id: identifier(random), tenantId: ctx.tenant.id, userId: user.id, authTime: now, amr,
    createdAt: now, idleExpiresAt: now + Math.min(idle, max), expiresAt: now + max, revokedAt: null,
  };
  await storage.sessions.create(session);
  reply.setCookie(sessionCookie(ctx.tenant.id), value, cookieOptions(ctx, max));
  return session;
}
