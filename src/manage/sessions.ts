import { OPERATOR, recordAudit } from '../audit.js';
import { seconds } from '../clock.js';
import { InputError } from '../errors.js';
import type { Grant, Session } from '../storage/types.js';
import type { ManageDeps } from './tenants.js';
import { requireUser } from './users.js';

/**
 * A user's sign-ins (sessions) and grants, as an operator lists and ends them: the admin API
 * (admin/sessions.ts) and the CLI (`tessera user sessions|grants|revoke-…`) share these.
 */

const gone = (what: string, id: string) => new InputError(`the user has no live ${what} ${id}`, 'not_found');

export const sessionView = (s: Session) => ({
  id: s.id, auth_time: s.authTime, amr: s.amr, created_at: s.createdAt, idle_expires_at: s.idleExpiresAt, expires_at: s.expiresAt,
});

export const grantView = (g: Grant) => ({ id: g.id, client_id: g.clientId, scope: g.scope, created_at: g.createdAt, expires_at: g.expiresAt });

/** The user's live sessions; `user` is an id or a username. */
export async function listUserSessions(deps: ManageDeps, tenantId: string, user: string): Promise<{ userId: string; sessions: Session[] }> {
  const u = await requireUser(deps, tenantId, user);
  return { userId: u.id, sessions: await deps.storage.sessions.listLive(tenantId, u.id, seconds(deps.clock)) };
}

/** Ends one session (with its session-bound refresh tokens); its clients hear of it by back-channel logout. */
export async function revokeUserSession(deps: ManageDeps, tenantId: string, user: string, sid: string): Promise<void> {
  const u = await requireUser(deps, tenantId, user);
  const s = await deps.storage.sessions.getById(tenantId, sid);
  if (!s || s.userId !== u.id || !(await deps.storage.sessions.revoke(s.key, seconds(deps.clock)))) throw gone('session', sid);
  deps.sessionsEnded?.(tenantId, u.id, [s.id]);
  await recordAudit(deps, tenantId, { type: 'session.revoked', actor: deps.actor ?? OPERATOR, userId: u.id, detail: { sid: s.id } });
}

/** The user's live grants (one per client consent or personal token). */
export async function listUserGrants(deps: ManageDeps, tenantId: string, user: string): Promise<{ userId: string; grants: Grant[] }> {
  const u = await requireUser(deps, tenantId, user);
  return { userId: u.id, grants: await deps.storage.grants.listLive(tenantId, u.id, seconds(deps.clock)) };
}

/** Revokes a grant with every token and code issued under it. */
export async function revokeUserGrant(deps: ManageDeps, tenantId: string, user: string, grantId: string): Promise<void> {
  const u = await requireUser(deps, tenantId, user);
  const g = await deps.storage.grants.get(grantId);
  if (!g || g.tenantId !== tenantId || g.subject !== u.id || !(await deps.storage.grants.revoke(g.id, seconds(deps.clock)))) throw gone('grant', grantId);
  await recordAudit(deps, tenantId, { type: 'grant.revoked', actor: deps.actor ?? OPERATOR, userId: u.id, clientId: g.clientId, detail: { grant: g.id } });
}
