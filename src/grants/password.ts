import { ACR_SINGLE, passwordGrantRefusal } from '../mfa/policy.js';
import { audit } from '../audit.js';
import { auditThrottled } from '../audit_refusals.js';
import { seconds } from '../clock.js';
import { verifyDummy, verifyPassword } from '../crypto/password.js';
import { identifier } from '../crypto/random.js';
import { OIDC_SCOPES } from '../endpoints/authorize_request.js';
import { OAuthError } from '../errors.js';
import { findUserByLogin } from '../manage/users.js';
import { issueAccessToken } from '../tokens/access_token.js';
import { USER_GRANT_SECONDS } from '../tokens/authorization_response.js';
import { issueIdToken } from '../tokens/id_token.js';
import { issueRefreshToken } from '../tokens/refresh_token.js';
import { parseScope } from '../tokens/scope.js';
import { resolveTarget } from '../tokens/target.js';
import type { GrantHandler } from './types.js';

/** One answer for an unknown user and a wrong password, as on the login page (SECURITY-CHECKLIST 56). */
const INVALID = 'invalid username or password';

/**
 * RFC 6749 §4.3: the resource owner password credentials grant (Loomie's "Resource Owner
 * Flow"), for clients registered with the `password` grant type only (the token endpoint
 * refuses others). The credentials go through the login page's checks: the same throttle and
 * keys (§4.3.2: "MUST protect the endpoint against brute force attacks"), argon2 for unknown
 * users too, and disabled accounts refused (SECURITY-CHECKLIST 52). Success creates a user
 * grant as the code flow does; the user typed their password into the client, so there is
 * no consent page to show.
 */
export const password: GrantHandler = {
  grantType: 'password',
  parameters: ['username', 'password', 'scope', 'audience', 'resource'],
  repeatable: ['resource'],
  async handle(ctx) {
    const { client } = ctx.client;
    // Trimmed as the login form trims it, so both count against the same throttle key.
    const username = ctx.params.get('username')?.trim();
    const secret = ctx.params.get('password');
    // §4.3.2: username and password are REQUIRED.
    if (!username) throw new OAuthError('invalid_request', 'username is missing');
    if (!secret) throw new OAuthError('invalid_request', 'password is missing');

    // Scopes and audience first: a malformed request costs no argon2 and no throttle allowance.
    const requested = parseScope(ctx.params.get('scope'), ctx.commaScopes) ?? [];
    const target = await resolveTarget(ctx, client, {
      requested: requested.filter((s) => !OIDC_SCOPES.has(s)),
      audience: ctx.params.get('audience'),
      resources: ctx.params.all('resource'),
      defaultScopes: [],
    });
    const scopes = [...requested.filter((s) => OIDC_SCOPES.has(s)), ...target.scopes];

    const { throttle, storage, clock, random } = ctx.services;
    const now = seconds(clock);
    const account = { tenant: ctx.tenant.id, username };
    const ip = ctx.request.ip;
    const verdict = await throttle.check(account, ip, now);
    if (!verdict.allowed) {
      auditThrottled(ctx.services, ctx.tenant.id, { ip, limit: 'sign_in', clientId: ctx.client.client.clientId, endpoint: 'token', retryAfterSeconds: verdict.retryAfter });
      // RFC 6749 §5.2 has no rate-limit code, and invalid_grant ("the resource owner
      // credentials … are invalid") is what a client already handles for this request; the
      // status is the login page's 429 with Retry-After (RFC 6585 §4), so a client or proxy
      // knows to wait rather than ask the user again. The wait is no secret: the login page shows it.
      throw new OAuthError('invalid_grant', `too many failed sign-ins; try again in ${verdict.retryAfter} seconds`, {
        status: 429,
        headers: { 'retry-after': String(verdict.retryAfter) },
      });
    }
    const user = await findUserByLogin(storage, ctx.tenant.id, username);
    const ok = user ? await verifyPassword(user.passwordHash, secret) : await verifyDummy(secret);
    if (!user || !ok) {
      await throttle.fail(account, ip, now);
      // As the login page records it: only a known account is named.
      await audit(ctx, { type: 'sign_in.failure', actor: user?.id ?? 'anonymous', userId: user?.id, clientId: client.clientId, ip, detail: { reason: user ? 'invalid_password' : 'unknown_user', grant_type: 'password' } });
      throw new OAuthError('invalid_grant', INVALID);
    }
    await throttle.succeed(account, ip, now);
    // As on the login page, said only to whoever knows the password.
    if (user.disabled) {
      await audit(ctx, { type: 'sign_in.failure', actor: user.id, userId: user.id, clientId: client.clientId, ip, detail: { reason: 'user_disabled', grant_type: 'password' } });
      throw new OAuthError('invalid_grant', 'this account is disabled');
    }
    // The tenant's sign-in condition holds here too; the user confirms the address in a browser.
    if (ctx.tenant.requireVerifiedEmail && !user.emailVerified) {
      await audit(ctx, { type: 'sign_in.failure', actor: user.id, userId: user.id, clientId: client.clientId, ip, detail: { reason: 'email_not_verified', grant_type: 'password' } });
      throw new OAuthError('invalid_grant', 'the email address of this account is not verified');
    }
    // A password that must be replaced is replaced in a browser first (endpoints/required_action.ts).
    if (user.mustChangePassword) {
      await audit(ctx, { type: 'sign_in.failure', actor: user.id, userId: user.id, clientId: client.clientId, ip, detail: { reason: 'password_change_required', grant_type: 'password' } });
      throw new OAuthError('invalid_grant', 'the password of this account must be changed; sign in with a browser first');
    }
    // This grant has no second step: a user with a second factor, or a tenant or client that
    // requires one, signs in with a browser instead (docs/mfa.md).
    const mfaRefusal = await passwordGrantRefusal(ctx, client, user);
    if (mfaRefusal) {
      await audit(ctx, { type: 'sign_in.failure', actor: user.id, userId: user.id, clientId: client.clientId, ip, detail: { reason: 'mfa_required', grant_type: 'password' } });
      throw new OAuthError('invalid_grant', mfaRefusal);
    }
    await audit(ctx, { type: 'sign_in.success', actor: user.id, userId: user.id, clientId: client.clientId, ip, detail: { method: 'pwd', grant_type: 'password' } });

    const grantId = identifier(random);
    await storage.grants.ensure({
      id: grantId, tenantId: ctx.tenant.id, clientId: client.clientId, subject: user.id, scope: scopes.join(' '),
      createdAt: now, expiresAt: now + USER_GRANT_SECONDS, revokedAt: null,
    });
    const token = await issueAccessToken(ctx, { client, subject: user.id, grantId, scopes, audience: target.audience, ttl: target.ttl });
    // OIDC Core §2: auth_time is now, the moment the password was checked; no nonce (none was
    // sent) and no sid (no browser session exists).
    const idToken = scopes.includes('openid')
      ? await issueIdToken(ctx, { client, user, scopes, authTime: now, accessToken: token.value, authContext: { amr: ['pwd'], acr: ACR_SINGLE } })
      : undefined;
    // Without a session there is nothing to bind a refresh token to: only offline_access gets one.
    const refreshToken =
      client.grantTypes.includes('refresh_token') && scopes.includes('offline_access')
        ? await issueRefreshToken(ctx, { client, grantId, userId: user.id, scopes, target, authTime: now, expiresAt: now + USER_GRANT_SECONDS })
        : undefined;
    await audit(ctx, { type: 'token.issued', actor: client.clientId, clientId: client.clientId, userId: user.id, ip, detail: { grant_type: 'password', scope: scopes.join(' '), grant_id: grantId } });
    return {
      access_token: token.value,
      token_type: 'Bearer',
      expires_in: token.expiresIn,
      ...(refreshToken !== undefined && { refresh_token: refreshToken }),
      ...(scopes.length > 0 && { scope: scopes.join(' ') }),
      ...(idToken !== undefined && { id_token: idToken }),
    };
  },
};
