import { seconds } from '../clock.js';
import type { TenantContext } from '../http/context.js';
import type { Artifact } from '../storage/types.js';
import { newOpaqueValue, storageKey } from '../tokens/opaque.js';

/**
 * Links sent by mail: finish a sign-up, confirm an email address, reset a password. Each
 * carries a 256-bit single-use value; only its digest is stored (an artifact), and using it
 * consumes it atomically, so of two clicks (or a click and a replay) exactly one acts.
 * Opening the link only shows a page with a button: mail scanners that fetch links must not
 * use them up.
 */
export type ActionKind = 'sign_up' | 'verify_email' | 'reset_password';

/** How long a link works. A reset link is a password: short. */
export const ACTION_SECONDS: Record<ActionKind, number> = {
  sign_up: 24 * 3600,
  verify_email: 24 * 3600,
  reset_password: 30 * 60,
};

/** Where each link points, under the issuer. */
export const ACTION_PATHS: Record<ActionKind, string> = {
  sign_up: '/login-actions/sign-up',
  verify_email: '/login-actions/verify-email',
  reset_password: '/login-actions/reset-password',
};

/** What a link stands for; `interaction` is the sign-in it may continue in the same browser. */
export interface ActionData {
  userId?: string;
  username?: string;
  email?: string;
  /** argon2id hash of the password chosen at sign-up (the account exists only once the link is used). */
  passwordHash?: string;
  interaction?: string;
}

/** Stores a new link's digest and returns the link. */
export async function createActionLink(ctx: TenantContext, kind: ActionKind, data: ActionData): Promise<string> {
  const { storage, clock, random } = ctx.services;
  const now = seconds(clock);
  const value = newOpaqueValue(clock, random);
  await storage.artifacts.create({
    digest: storageKey(value), tenantId: ctx.tenant.id, kind, grantId: null, clientId: null,
    data: data as Record<string, unknown>, createdAt: now, expiresAt: now + ACTION_SECONDS[kind], usedAt: null,
  });
  return `${ctx.issuer}${ACTION_PATHS[kind]}?${new URLSearchParams({ key: value })}`;
}

const live = (ctx: TenantContext, a: Artifact | undefined): a is Artifact =>
  a !== undefined && a.tenantId === ctx.tenant.id && a.usedAt === null && a.expiresAt > seconds(ctx.services.clock);

/** The link's data if it is unused and unexpired, without using it (the page behind the link). */
export async function peekAction(ctx: TenantContext, kind: ActionKind, value: string): Promise<ActionData | undefined> {
  const a = await ctx.services.storage.artifacts.find(kind, storageKey(value));
  return live(ctx, a) ? (a.data as ActionData) : undefined;
}

/** Uses the link: exactly one of any number of concurrent callers gets its data. */
export async function consumeAction(ctx: TenantContext, kind: ActionKind, value: string): Promise<ActionData | undefined> {
  const a = await ctx.services.storage.artifacts.consume(kind, storageKey(value), seconds(ctx.services.clock));
  return a && a.tenantId === ctx.tenant.id ? (a.data as ActionData) : undefined;
}
