import { audit } from '../audit.js';
import { seconds } from '../clock.js';
import { identifier } from '../crypto/random.js';
import { OAuthError } from '../errors.js';
import type { Artifact } from '../storage/types.js';
import { issueAccessToken } from '../tokens/access_token.js';
import { USER_GRANT_SECONDS } from '../tokens/authorization_response.js';
import { SLOW_DOWN_STEP, type DeviceData, type DeviceDecision } from '../tokens/device_authorization.js';
import { issueIdToken } from '../tokens/id_token.js';
import { storageKey } from '../tokens/opaque.js';
import { issueRefreshToken } from '../tokens/refresh_token.js';
import type { GrantContext, GrantHandler } from './types.js';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

const invalid = (description: string) => new OAuthError('invalid_grant', description);

/** How often a poll that lost a race on the code's state re-reads it before it counts as too fast. */
const SWAP_ATTEMPTS = 3;

/**
 * RFC 8628 §3.4: the device polls with its device code. Until the user decides on the device
 * page it is told `authorization_pending`, or `slow_down` when it polls sooner than the
 * interval (§3.5: the interval then grows by 5 seconds for good); a denial is
 * `access_denied`, an expired code `expired_token`. An approved code is consumed atomically
 * — of concurrent polls exactly one gets tokens — and issues what the code flow's code would.
 */
export const deviceCode: GrantHandler = {
  grantType: DEVICE_CODE_GRANT,
  parameters: ['device_code'],
  async handle(ctx) {
    const { client } = ctx.client;
    const value = ctx.params.get('device_code');
    // §3.4: device_code is REQUIRED.
    if (!value) throw new OAuthError('invalid_request', 'device_code is missing');
    const { storage, clock } = ctx.services;
    const key = storageKey(value);
    for (let attempt = 1; ; attempt++) {
      const now = seconds(clock);
      const found = await storage.artifacts.find('device_code', key);
      // §3.4: the device code is bound to the client it was issued to (and to its tenant).
      if (!found || found.tenantId !== ctx.tenant.id || found.clientId !== client.clientId) throw invalid('device code is invalid');
      if (found.usedAt !== null) throw invalid('device code was already used');
      if (found.expiresAt <= now) throw new OAuthError('expired_token', 'device code has expired; start the device authorization again');
      const data = found.data as unknown as DeviceData;
      // §3.5: access_denied is an error of the token endpoint here, so 400 as the others (RFC 6749 §5.2).
      if (data.decision?.approved === false) throw new OAuthError('access_denied', 'the user denied the request', { status: 400 });
      if (data.decision?.approved) return issue(ctx, found, data, data.decision);

      const tooSoon = data.lastPollAt !== null && now - data.lastPollAt < data.interval;
      const next: DeviceData = tooSoon ? { ...data, interval: data.interval + SLOW_DOWN_STEP } : { ...data, lastPollAt: now };
      const swapped = await storage.artifacts.swap('device_code', key, found.data, next as unknown as Record<string, unknown>, now);
      if (swapped && !tooSoon) throw new OAuthError('authorization_pending', 'the user has not approved the request yet');
      // Losing the race to another poll of this code is polling too fast as well.
      if (swapped || attempt >= SWAP_ATTEMPTS) {
        throw new OAuthError('slow_down', `polling too often; wait at least ${next.interval} seconds between requests`);
      }
    }
  },
};

async function issue(ctx: GrantContext, found: Artifact, data: DeviceData, decision: DeviceDecision & { approved: true }) {
  const { client } = ctx.client;
  const { storage, clock, random } = ctx.services;
  const now = seconds(clock);
  if (!(await storage.artifacts.consume('device_code', found.digest, now))) throw invalid('device code was already used');
  const user = await storage.users.get(ctx.tenant.id, decision.userId);
  if (!user || user.disabled) throw invalid('the user of this device code is disabled or gone');
  const grantId = identifier(random);
  const expiresAt = now + USER_GRANT_SECONDS;
  await storage.grants.ensure({
    id: grantId, tenantId: ctx.tenant.id, clientId: client.clientId, subject: user.id, scope: data.scopes.join(' '),
    createdAt: now, expiresAt, revokedAt: null,
  });
  const { scopes, target } = data;
  const token = await issueAccessToken(ctx, { client, subject: user.id, grantId, scopes, audience: target.audience, ttl: target.ttl });
  // OIDC Core §2: auth_time and sid of the browser session the user approved in; no nonce was sent.
  const idToken = scopes.includes('openid')
    ? await issueIdToken(ctx, { client, user, scopes, authTime: decision.authTime, sid: decision.sid, accessToken: token.value, authContext: decision.authContext })
    : undefined;
  // As the code flow: a refresh token for a granted offline_access, or bound to the session for
  // clients registered with --session-refresh-tokens.
  const offline = scopes.includes('offline_access');
  const refreshToken =
    client.grantTypes.includes('refresh_token') && (offline || client.sessionRefreshTokens)
      ? await issueRefreshToken(ctx, {
          client, grantId, userId: user.id, scopes, target, authTime: decision.authTime, authContext: decision.authContext,
          ...(offline ? { expiresAt } : { sid: decision.sid, expiresAt: decision.sessionExpiresAt }),
        })
      : undefined;
  await audit(ctx, { type: 'token.issued', actor: client.clientId, clientId: client.clientId, userId: user.id, ip: ctx.request.ip, detail: { grant_type: DEVICE_CODE_GRANT, scope: scopes.join(' '), grant_id: grantId } });
  return {
    access_token: token.value,
    token_type: 'Bearer' as const,
    expires_in: token.expiresIn,
    ...(refreshToken !== undefined && { refresh_token: refreshToken }),
    ...(scopes.length > 0 && { scope: scopes.join(' ') }),
    ...(idToken !== undefined && { id_token: idToken }),
  };
}
