import { z } from 'zod';
import { seconds } from '../clock.js';
import { OAuthError } from '../errors.js';
import { listPersonalTokens, revokePersonalToken } from '../manage/personal_tokens.js';
import { grantView, listUserGrants, listUserSessions, revokeUserGrant, revokeUserSession, sessionView } from '../manage/sessions.js';
import { requireUser } from '../manage/users.js';
import { pageOf, pageQuery, paginate } from './cursor.js';
import { route, type AdminCall } from './route.js';
import { grantSchema, personalTokenSchema, sessionSchema } from './schemas.js';
import { userParams } from './users.js';

/** A user's sign-ins, grants and personal tokens: what an operator lists and ends for them. */

type UserCall = AdminCall<{ tenant: string; user: string }, { limit: number; cursor?: string }, unknown>;

const gone = (what: string, id: string) => new OAuthError('not_found', `the user has no live ${what} ${id}`);

const list = async <T, V>(call: UserCall, kind: string, load: (userId: string, now: number) => Promise<T[]>, key: (t: T) => string, view: (t: T) => V) => {
  const user = await requireUser(call.deps, call.params.tenant, call.params.user);
  const items = await load(user.id, seconds(call.services.clock));
  return paginate(call.services, `${kind} ${call.params.tenant} ${user.id}`, items, key, call.query, view);
};

export const sessionRoutes = [
  route({
    method: 'GET', path: '/tenants/{tenant}/users/{user}/sessions', operationId: 'listSessions', tag: 'sessions', summary: 'List a user’s live sessions',
    params: userParams, query: pageQuery, response: pageOf(sessionSchema),
    handler: async (call) => {
      const { userId, sessions } = await listUserSessions(call.deps, call.params.tenant, call.params.user);
      return paginate(call.services, `sessions ${call.params.tenant} ${userId}`, sessions, (s) => s.id, call.query, sessionView);
    },
  }),
  route({
    method: 'DELETE', path: '/tenants/{tenant}/users/{user}/sessions/{session}', operationId: 'revokeSession', tag: 'sessions',
    summary: 'End one of a user’s sessions (with its session-bound refresh tokens)',
    params: userParams.extend({ session: z.string().describe('the session id (sid)') }), status: 204,
    handler: (call) => revokeUserSession(call.deps, call.params.tenant, call.params.user, call.params.session),
  }),
  route({
    method: 'GET', path: '/tenants/{tenant}/users/{user}/grants', operationId: 'listGrants', tag: 'sessions', summary: 'List a user’s live grants (one per client consent or personal token)',
    params: userParams, query: pageQuery, response: pageOf(grantSchema),
    handler: async (call) => {
      const { userId, grants } = await listUserGrants(call.deps, call.params.tenant, call.params.user);
      return paginate(call.services, `grants ${call.params.tenant} ${userId}`, grants, (g) => g.id, call.query, grantView);
    },
  }),
  route({
    method: 'DELETE', path: '/tenants/{tenant}/users/{user}/grants/{grant}', operationId: 'revokeGrant', tag: 'sessions',
    summary: 'Revoke a grant with every token and code issued under it',
    params: userParams.extend({ grant: z.string() }), status: 204,
    handler: (call) => revokeUserGrant(call.deps, call.params.tenant, call.params.user, call.params.grant),
  }),
  route({
    method: 'GET', path: '/tenants/{tenant}/users/{user}/personal-tokens', operationId: 'listPersonalTokens', tag: 'personal tokens', summary: 'List a user’s live personal tokens',
    params: userParams, query: pageQuery, response: pageOf(personalTokenSchema),
    handler: (call) => list(call, 'personal-tokens', (u) => listPersonalTokens(call.deps, call.params.tenant, u), (t) => t.grantId, (t) => ({
      id: t.grantId, name: t.name, client_id: t.clientId, scopes: t.scopes, created_at: t.createdAt, expires_at: t.expiresAt,
    })),
  }),
  route({
    method: 'DELETE', path: '/tenants/{tenant}/users/{user}/personal-tokens/{token}', operationId: 'revokePersonalToken', tag: 'personal tokens',
    summary: 'Revoke one of a user’s personal tokens', params: userParams.extend({ token: z.string().describe('its id (grant id)') }), status: 204,
    handler: async (call) => {
      const user = await requireUser(call.deps, call.params.tenant, call.params.user);
      // Recorded by revokePersonalToken (token.revoked, reason personal_token_revoked).
      if (!(await revokePersonalToken(call.deps, call.params.tenant, user.id, call.params.token))) throw gone('personal token', call.params.token);
    },
  }),
];
