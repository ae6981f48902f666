import { createHash, timingSafeEqual } from 'node:crypto';
import { seconds } from '../clock.js';
import { OAuthError } from '../errors.js';
import { issueAccessToken } from '../tokens/access_token.js';
import { USER_GRANT_SECONDS, type CodeData } from '../tokens/authorization_response.js';
import { issueRefreshToken } from '../tokens/refresh_token.js';
import { issueIdToken } from '../tokens/id_token.js';
import { storageKey } from '../tokens/opaque.js';
import { audit } from '../audit.js';
import { auditRefusal } from '../audit_refusals.js';
import { assertSameKey } from '../dpop/binding.js';
import type { GrantHandler } from './types.js';

const invalid = (description: string) => new OAuthError('invalid_grant', description);

/** RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) must equal the stored challenge. */
function verifierMatches(verifier: string, challenge: string): boolean {
  const computed = Buffer.from(createHash('sha256').update(verifier, 'ascii').digest('base64url'));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}

/**
 * RFC 6749 §4.1.3: exchanges an authorization code. The code is consumed atomically; a
 * second use fails and revokes its grant — every token issued from it (RFC 6749 §4.1.2,
 * SECURITY-CHECKLIST 14).
 */
export const authorizationCode: GrantHandler = {
  grantType: 'authorization_code',
  parameters: ['code', 'redirect_uri', 'code_verifier'],
  async handle(ctx) {
    const { client } = ctx.client;
    const code = ctx.params.get('code');
    if (!code) throw new OAuthError('invalid_request', 'code is missing');
    const { storage, clock } = ctx.services;
    const now = seconds(clock);
    const reused = async (grantId: string | null): Promise<never> => {
      if (grantId) await storage.grants.revoke(grantId, now);
      if (grantId) await audit(ctx, { type: 'token.revoked', actor: client.clientId, clientId: client.clientId, ip: ctx.request.ip, detail: { reason: 'code_reuse', grant_id: grantId } });
      throw invalid('authorization code was already used');
    };
    const key = storageKey(code);
    const found = await storage.artifacts.find('authorization_code', key);
    // A code issued to another client or tenant is not this client's to spend (SECURITY-CHECKLIST 15, 54).
    if (!found || found.tenantId !== ctx.tenant.id || found.clientId !== client.clientId) throw invalid('authorization code is invalid');
    if (found.usedAt !== null) return reused(found.grantId);
    if (found.expiresAt <= now) throw invalid('authorization code has expired');
    const data = found.data as unknown as CodeData;
    const verifier = ctx.params.get('code_verifier');
    // RFC 7636 §4.5 / RFC 9700 §2.1.1: a verifier without a challenge is a downgrade attempt.
    const pkceFailure = data.codeChallenge === undefined
      ? verifier !== undefined && 'code_verifier was sent but the authorization request had no code_challenge'
      : verifier === undefined ? 'code_verifier is missing' : !verifierMatches(verifier, data.codeChallenge) && 'code_verifier does not match the code_challenge';
    if (pkceFailure) {
      // A wrong verifier is what a stolen code looks like (RFC 7636 §1): operators see it.
      auditRefusal(ctx, ctx.request, 'security.pkce_failed', { reason: pkceFailure, clientId: client.clientId, userId: data.userId, actor: client.clientId, detail: { grant_id: found.grantId } });
      throw invalid(pkceFailure);
    }
    // RFC 6749 §4.1.3: redirect_uri must be identical to the authorization request's, if it had one.
    const redirectUri = ctx.params.get('redirect_uri');
    if ((data.redirectUriGiven || redirectUri !== undefined) && redirectUri !== data.redirectUri) {
      throw invalid('redirect_uri does not match the authorization request');
    }
    // RFC 9449 §10: a code requested with dpop_jkt is redeemed only with a proof of that key.
    assertSameKey(ctx.sender, data.dpopJkt, 'authorization code');

    // Of concurrent redemptions exactly one consumes the code; the others are reuse (SECURITY-CHECKLIST 22).
    if (!(await storage.artifacts.consume('authorization_code', key, now))) return reused(found.grantId);
    // The grant may have been revoked a moment ago by a concurrent replay of this code: the
    // winner still gets its response (exactly one success, SECURITY-CHECKLIST 22), and what it
    // is issued is dead on arrival, because every token check also checks its grant (14).
    const grant = found.grantId ? await storage.grants.get(found.grantId) : undefined;
    const user = await storage.users.get(ctx.tenant.id, data.userId);
    if (!grant) throw invalid('the grant behind this code no longer exists');
    if (!user || user.disabled) throw invalid('the user of this code is disabled or gone');

    const token = await issueAccessToken(ctx, {
      client, subject: user.id, grantId: grant.id, scopes: data.scopes, audience: data.target.audience, ttl: data.target.ttl,
    });
    const idToken = data.scopes.includes('openid')
      ? await issueIdToken(ctx, { client, user, scopes: data.scopes, nonce: data.nonce, authTime: data.authTime, sid: data.sid, accessToken: token.value, authContext: data.authContext })
      : undefined;
    // A refresh token for a granted offline_access (the Loomie docs), or bound to the session
    // for clients registered with --session-refresh-tokens (keycloak-js relies on it).
    const offline = data.scopes.includes('offline_access');
    const refreshToken =
      client.grantTypes.includes('refresh_token') && (offline || client.sessionRefreshTokens)
        ? await issueRefreshToken(ctx, {
            client, grantId: grant.id, userId: user.id, scopes: data.scopes, target: data.target, authTime: data.authTime, authContext: data.authContext,
            ...(offline ? { expiresAt: grant.expiresAt ?? now + USER_GRANT_SECONDS } : { sid: data.sid, expiresAt: data.sessionExpiresAt }),
          })
        : undefined;
    await audit(ctx, { type: 'token.issued', actor: client.clientId, clientId: client.clientId, userId: user.id, ip: ctx.request.ip, detail: { grant_type: 'authorization_code', scope: data.scopes.join(' '), grant_id: grant.id } });
    return {
      access_token: token.value,
      token_type: 'Bearer',
      expires_in: token.expiresIn,
      ...(refreshToken !== undefined && { refresh_token: refreshToken }),
      ...(data.scopes.length > 0 && { scope: data.scopes.join(' ') }),
      ...(idToken !== undefined && { id_token: idToken }),
    };
  },
};
