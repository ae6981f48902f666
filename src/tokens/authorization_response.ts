import { createHash } from 'node:crypto';
import { seconds } from '../clock.js';
import { identifier } from '../crypto/random.js';
import { OIDC_SCOPES, type AuthorizationRequest } from '../endpoints/authorize_request.js';
import type { TenantContext } from '../http/context.js';
import type { Artifact, Client, Session, User } from '../storage/types.js';
import { acrOf } from '../mfa/policy.js';
import { issueAccessToken } from './access_token.js';
import { issueIdToken, type AuthContext } from './id_token.js';
import { newOpaqueValue, storageKey } from './opaque.js';
import { resolveTarget, type Target } from './target.js';

/** RFC 9700 §4.2.1 / SECURITY-CHECKLIST 16: codes are short-lived. */
export const CODE_TTL = 60;
/** How long a user grant (and its used artifacts, for reuse detection) is kept. */
export const USER_GRANT_SECONDS = 30 * 24 * 3600;

/** What the authorization code remembers for the token request. */
export interface CodeData {
  userId: string;
  redirectUri: string;
  redirectUriGiven: boolean;
  scopes: string[];
  target: Target;
  nonce?: string;
  codeChallenge?: string;
  /** RFC 9449 §10: the DPoP key the token request must prove (`dpop_jkt`). */
  dpopJkt?: string;
  authTime: number;
  sid: string;
  /** The session's absolute expiry: a session-bound refresh token ends with it. */
  sessionExpiresAt: number;
  /** `amr` and `acr` for the ID tokens of this grant (mfa/policy.ts). */
  authContext?: AuthContext;
}

/** The scopes and audience the request asks for; API scopes go through the token endpoint's rules. */
export function authorizationTarget(ctx: TenantContext, client: Client, req: AuthorizationRequest): Promise<Target> {
  return resolveTarget(ctx, client, {
    requested: req.scopes.filter((s) => !OIDC_SCOPES.has(s)),
    audience: req.audience,
    resources: req.resources,
    defaultScopes: [],
  });
}

/**
 * OIDC Session Management §3: session_state = hash(client_id, RP origin, browser state,
 * salt) + "." + salt, so an RP's check-session iframe can tell when the session changes.
 */
function sessionState(clientId: string, redirectUri: string, sessionId: string, salt: string): string {
  let origin = redirectUri;
  try {
    origin = new URL(redirectUri).origin;
  } catch {
    /* a private-use scheme has no origin; the whole URI stands in */
  }
  return `${createHash('sha256').update(`${clientId} ${origin} ${sessionId} ${salt}`).digest('base64url')}.${salt}`;
}

/**
 * Issues what the response_type asks for (RFC 6749 §4.1.2, §4.2.2; OIDC Core §3.3.2.5) under a
 * new grant for this user and client: a code, an access token, an ID token, or several.
 */
export async function issueAuthorization(ctx: TenantContext, client: Client, req: AuthorizationRequest, user: User, session: Session): Promise<Record<string, string>> {
  const { storage, clock, random } = ctx.services;
  const now = seconds(clock);
  const target = await authorizationTarget(ctx, client, req);
  const oidc = req.scopes.filter((s) => OIDC_SCOPES.has(s));
  const scopes = [...oidc, ...target.scopes];
  const grantId = identifier(random);
  const types = req.responseType.split(' ');
  const out: Record<string, string> = {};
  const authContext: AuthContext = { amr: session.amr, acr: acrOf(session.amr, req.acrValues) };
  const artifacts: Artifact[] = [];
  if (types.includes('code')) {
    const code = newOpaqueValue(clock, random);
    const data: CodeData = {
      userId: user.id, redirectUri: req.redirectUri, redirectUriGiven: req.redirectUriGiven, scopes, target,
      nonce: req.nonce, codeChallenge: req.codeChallenge, authTime: session.authTime, sid: session.id, sessionExpiresAt: session.expiresAt, authContext,
      ...(req.dpopJkt !== undefined && { dpopJkt: req.dpopJkt }),
    };
    artifacts.push({
      digest: storageKey(code), tenantId: ctx.tenant.id, kind: 'authorization_code', grantId, clientId: client.clientId,
      data: data as unknown as Record<string, unknown>, createdAt: now, expiresAt: now + CODE_TTL, usedAt: null,
    });
    out.code = code;
  }
  // The grant and its code in one transaction: a crash leaves both or neither.
  await storage.grants.ensure({
    id: grantId, tenantId: ctx.tenant.id, clientId: client.clientId, subject: user.id, scope: scopes.join(' '),
    createdAt: now, expiresAt: now + USER_GRANT_SECONDS, revokedAt: null,
  }, artifacts);
  if (types.includes('token')) {
    const token = await issueAccessToken(ctx, { client, subject: user.id, grantId, scopes, audience: target.audience, ttl: target.ttl });
    Object.assign(out, { access_token: token.value, token_type: 'Bearer', expires_in: String(token.expiresIn) });
  }
  if (types.includes('id_token')) {
    out.id_token = await issueIdToken(ctx, {
      client, user, scopes, nonce: req.nonce, authTime: session.authTime, sid: session.id, accessToken: out.access_token, code: out.code, authContext,
    });
  }
  if (types.includes('token') && scopes.length > 0) out.scope = scopes.join(' ');
  out.session_state = sessionState(client.clientId, req.redirectUri, session.id, random(12).toString('base64url'));
  return out;
}
