import { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import type { Client } from '../storage/types.js';
import type { PresentedToken } from '../tokens/subject_token.js';
import { defaultAudience } from '../tokens/target.js';

/**
 * Whose tokens a client may present (`--token-exchange-subject-client`): its own always,
 * those of the clients it names, or any client of the tenant with '*'. The same rule holds
 * for the actor token, so no client can name as actor a party it has no tokens of.
 */
export function assertMayPresent(client: Client, token: PresentedToken, role: 'subject_token' | 'actor_token'): void {
  const { tokenExchangeSubjectClients: allowed } = client;
  if (token.clientId === client.clientId || allowed.includes('*') || allowed.includes(token.clientId)) return;
  throw new OAuthError('unauthorized_client', `the ${role} was issued to another client, whose tokens this client may not exchange`);
}

/**
 * The audiences a client may obtain by exchange (`--token-exchange-audience`): those it
 * names, or — when it names none — the APIs its own scopes reach and the tenant's default
 * audience, which is what its other grants could give it too. RFC 8693 §2.2.2: a target the
 * server is unwilling to issue a token for is invalid_target.
 */
export async function assertAudiencesAllowed(ctx: TenantContext, client: Client, audience: string[]): Promise<void> {
  let allowed: Set<string | undefined>;
  if (client.tokenExchangeAudiences.length > 0) {
    allowed = new Set(client.tokenExchangeAudiences);
  } else {
    const index = ctx.services.cache.peekApiIndex(ctx.tenant.id) ?? (await ctx.services.cache.apiIndex(ctx.tenant.id));
    allowed = new Set([defaultAudience(ctx), ...client.scopes.map((s) => index.scopeOwner.get(s)?.audience)]);
  }
  const refused = audience.find((a) => !allowed.has(a));
  if (refused !== undefined) throw new OAuthError('invalid_target', `the client may not obtain tokens for ${JSON.stringify(refused)} by token exchange`);
}

const asObject = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/**
 * RFC 8693 §4.4: a subject token with `may_act` names who may act for its subject. The party
 * that acts is the actor token's subject, or without one the requesting client itself; every
 * claim `may_act` states (`sub` is required; `iss`, `client_id`) must be that party's.
 */
export function assertMayAct(ctx: TenantContext, subject: PresentedToken, acting: { sub: string; clientId: string }): void {
  if (subject.mayAct === undefined) return;
  const claims = asObject(subject.mayAct);
  const party = new Map<string, unknown>([['sub', acting.sub], ['iss', ctx.issuer], ['client_id', acting.clientId]]);
  const matches = claims !== undefined && typeof claims.sub === 'string' && Object.entries(claims).every(([k, v]) => party.has(k) && party.get(k) === v);
  if (!matches) throw new OAuthError('invalid_grant', 'the subject_token does not allow this party to act for its subject (may_act)');
}

/** Appends the chain `prior` below the innermost `act` of `chain`. */
function nest(chain: Record<string, unknown> | undefined, prior: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!chain) return prior;
  const inner = nest(asObject(chain.act), prior);
  return { ...chain, ...(inner && { act: inner }) };
}

/**
 * RFC 8693 §4.1: the `act` of the issued token. With an actor token, the actor's subject is
 * the current actor; nested below it come the actors the actor token itself names, then those
 * the subject token already had (the least recent is the most deeply nested). Without an
 * actor token (impersonation) a delegated subject token keeps its `act`: exchanging must
 * never make a delegated token look like the user's own.
 */
export function actClaim(subject: PresentedToken, actor: PresentedToken | undefined): Record<string, unknown> | undefined {
  if (!actor) return subject.act;
  const prior = nest(actor.act, subject.act);
  return { sub: actor.subject, ...(prior && { act: prior }) };
}
