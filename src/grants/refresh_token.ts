import { seconds } from '../clock.js';
import { OAuthError } from '../errors.js';
import { lifetimes } from '../http/session.js';
import type { Session } from '../storage/types.js';
import { issueAccessToken } from '../tokens/access_token.js';
import { issueIdToken } from '../tokens/id_token.js';
import { storageKey } from '../tokens/opaque.js';
import { issueRefreshToken, OFFLINE_IDLE_SECONDS, readRefreshToken, type RefreshData } from '../tokens/refresh_token.js';
import { parseScope } from '../tokens/scope.js';
import { notBeforeOf } from '../tokens/not_before.js';
import { audit } from '../audit.js';
import { assertSameKey } from '../dpop/binding.js';
import type { GrantContext, GrantHandler } from './types.js';

const invalid = (description: string) => new OAuthError('invalid_grant', description);

/**
 * The audiences a narrowed token keeps: those that define one of its remaining scopes, or
 * all of the original ones when none does. Never one the original token did not have.
 */
async function narrowedAudience(ctx: GrantContext, audience: string[], scopes: string[]): Promise<string[]> {
  const index = ctx.services.cache.peekApiIndex(ctx.tenant.id) ?? (await ctx.services.cache.apiIndex(ctx.tenant.id));
  const owners = new Set(scopes.map((s) => index.scopeOwner.get(s)?.audience));
  const kept = audience.filter((a) => owners.has(a));
  return kept.length > 0 ? kept : audience;
}

/**
 * RFC 6749 §6: a refresh token buys a new access token. Every use rotates it (RFC 9700
 * §4.14.2): the presented token is consumed atomically and a successor is issued in the
 * same grant; presenting a rotated-out token again revokes the whole grant (SECURITY-CHECKLIST 30).
 * Without a grace window, of N concurrent uses exactly one succeeds (31). A client with
 * `refreshGraceSeconds` (ORY Hydra's graceful rotation) may present a token again within that
 * many seconds of its first use and gets a sibling in the same grant — a retry after a lost
 * response, or parallel refreshes in several tabs; after the window a reuse revokes the grant.
 */
export const refreshToken: GrantHandler = {
  grantType: 'refresh_token',
  parameters: ['refresh_token', 'scope'],
  async handle(ctx) {
    const { client } = ctx.client;
    const value = ctx.params.get('refresh_token');
    if (!value) throw new OAuthError('invalid_request', 'refresh_token is missing');
    const { storage, clock } = ctx.services;
    const claims = await readRefreshToken(ctx, value);
    // RFC 6749 §6: the refresh token must have been issued to the authenticated client (SECURITY-CHECKLIST 32).
    if (claims.azp !== client.clientId) throw invalid('refresh token was issued to another client');

    const now = seconds(clock);
    const key = storageKey(claims.jti);
    const found = await storage.artifacts.find('refresh_token', key);
    if (!found || found.tenantId !== ctx.tenant.id || found.clientId !== client.clientId || found.grantId === null) throw invalid('refresh token is invalid');
    const data = found.data as unknown as RefreshData;
    if (data.userId !== claims.sub || data.sid !== claims.sid) throw invalid('refresh token is invalid');
    // RFC 9449 §5: a bound token is refreshed only with a proof of its key (SECURITY-CHECKLIST 34).
    assertSameKey(ctx.sender, data.jkt, 'refresh token');
    const grantId = found.grantId;
    const reused = async (): Promise<never> => {
      // RFC 9700 §4.14.2: a rotated-out token presented again means an attacker and the
      // client both hold the family; which one is which is unknown, so all of it goes.
      await storage.grants.revoke(grantId, now);
      await audit(ctx, { type: 'token.revoked', actor: client.clientId, clientId: client.clientId, userId: data.userId, ip: ctx.request.ip, detail: { reason: 'refresh_reuse', grant_id: grantId } });
      throw invalid('refresh token was already used');
    };
    // Checked before reuse: revoking a grant marks its unused tokens used, and those are
    // revoked, not replayed.
    const grant = await storage.grants.get(grantId);
    if (!grant || grant.revokedAt !== null) throw invalid('refresh token was revoked');
    // Whole seconds, both ends included: a token first used at t is graceful through t + grace.
    const graceful = (usedAt: number | null) => usedAt !== null && client.refreshGraceSeconds > 0 && now - usedAt <= client.refreshGraceSeconds;
    if (found.usedAt !== null && !graceful(found.usedAt)) return reused();
    if (found.expiresAt <= now) throw invalid('refresh token has expired');
    // Keycloak's not-before policy: the row's creation is the token's iat.
    if (found.createdAt < notBeforeOf(ctx, client)) throw invalid('token was issued before the not-before policy');

    let session: Session | undefined;
    if (data.sid !== undefined) {
      // A session-bound token lives only as long as its session (Keycloak's behaviour, DESIGN.md §1).
      session = await storage.sessions.getById(ctx.tenant.id, data.sid);
      if (!session || session.userId !== data.userId || session.revokedAt !== null || now >= session.idleExpiresAt || now >= session.expiresAt) {
        throw invalid('the session of this refresh token has ended');
      }
    } else if (found.createdAt + OFFLINE_IDLE_SECONDS <= now) {
      throw invalid('refresh token has been idle too long');
    }
    const user = await storage.users.get(ctx.tenant.id, data.userId);
    if (!user || user.disabled) throw invalid('the user of this refresh token is disabled or gone');

    // RFC 6749 §6: the requested scope must not include any scope not originally granted;
    // omitted, it is the original scope (SECURITY-CHECKLIST 33).
    const requested = parseScope(ctx.params.get('scope'), ctx.commaScopes);
    const extra = requested?.find((s) => !data.scopes.includes(s));
    if (extra !== undefined) throw new OAuthError('invalid_scope', `scope ${extra} was not granted to this refresh token`);
    const scopes = requested ? data.scopes.filter((s) => requested.includes(s)) : data.scopes;
    const audience = requested ? await narrowedAudience(ctx, data.target.audience, scopes) : data.target.audience;

    // Of concurrent uses exactly one consumes the token; the others are reuse (SECURITY-CHECKLIST 31),
    // unless the client's grace window is open: then they get siblings in the same grant.
    // A consumed token also proves the grant was not revoked before it: revocation marks it used.
    if (found.usedAt === null && !(await storage.artifacts.consume('refresh_token', key, now))) {
      const after = await storage.artifacts.find('refresh_token', key);
      if (!graceful(after?.usedAt ?? null)) return reused();
      // Revocation marks unused tokens used at its own time, which looks like a graceful use:
      // the grant may have been revoked since it was read above.
      const current = await storage.grants.get(grantId);
      if (!current || current.revokedAt !== null) throw invalid('refresh token was revoked');
    }
    if (session) {
      // Refreshing is activity in the session, as in Keycloak: it extends the idle timeout.
      const idle = Math.min(now + lifetimes(ctx).idle, session.expiresAt);
      if (idle - session.idleExpiresAt >= 60) await storage.sessions.touch(session.key, idle);
    }

    const token = await issueAccessToken(ctx, { client, subject: user.id, grantId, scopes, audience, ttl: data.target.ttl });
    // RFC 6749 §6: the new refresh token's scope is identical to the presented one's, and it
    // keeps the absolute expiry (the grant's for offline tokens, the session's otherwise).
    const next = await issueRefreshToken(ctx, {
      client, grantId, userId: user.id, scopes: data.scopes, target: data.target, authTime: data.authTime, sid: data.sid, authContext: data.authContext, expiresAt: found.expiresAt,
    });
    // OIDC Core §12.2: same iss, sub and aud, the original auth_time, and no nonce; an offline
    // token has no session, so no sid.
    const idToken = scopes.includes('openid')
      ? await issueIdToken(ctx, { client, user, scopes, authTime: data.authTime, sid: data.sid, accessToken: token.value, authContext: data.authContext })
      : undefined;
    await audit(ctx, { type: 'token.refreshed', actor: client.clientId, clientId: client.clientId, userId: user.id, ip: ctx.request.ip, detail: { scope: scopes.join(' '), grant_id: grantId } });
    return {
      access_token: token.value,
      token_type: 'Bearer',
      expires_in: token.expiresIn,
      refresh_token: next,
      ...(scopes.length > 0 && { scope: scopes.join(' ') }),
      ...(idToken !== undefined && { id_token: idToken }),
    };
  },
};
