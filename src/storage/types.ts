/** Records as the rest of the server sees them, independent of the backend. */

export interface Tenant {
  id: string;
  displayName: string;
  /** `aud` of access tokens whose request selects no API; null = the built-in default. */
  defaultAudience: string | null;
  /** Session idle and absolute lifetimes in seconds; null = the defaults (http/session.ts). */
  sessionIdleSeconds: number | null;
  sessionMaxSeconds: number | null;
  /** Longest lifetime of a personal token, in days; null = 90. */
  personalTokenMaxDays: number | null;
  /** Keycloak's not-before policy: tokens issued (`iat`) before it are inactive; 0 = none. */
  notBefore: number;
  /** Self-service sign-up (off by default). */
  registration: boolean;
  /** Sign-in completes only for a user whose email is verified. */
  requireVerifiedEmail: boolean;
  /** From address of this tenant's mail; null = the server's MAIL_FROM. The sender name is `displayName`. */
  emailFrom: string | null;
  /** Own hostname (issuer `https://{hostname}/realms/{id}`, http/issuer.ts); null = under the public URL. */
  hostname: string | null;
  /** RFC 7591 dynamic client registration policy; null = off (the default). */
  dcr: DcrPolicy | null;
  createdAt: number;
  updatedAt: number;
}

/** What a tenant lets clients register for themselves (manage/dcr.ts). */
export interface DcrPolicy {
  enabled: boolean;
  /** Registration without an initial access token (RFC 7591 §3: "open registration"). */
  open: boolean;
  grantTypes: string[];
  allowConsentSkip: boolean;
  allowWebPage: boolean;
  allowPassword: boolean;
  allowTokenExchange: boolean;
  /** Scopes beyond the OIDC ones a registered client may ask for. */
  scopes: string[];
}

/** RFC 7591 §3: an initial access token, stored as its digest. */
export interface InitialAccessToken {
  id: string;
  tenantId: string;
  expiresAt: number | null;
  /** null = unlimited. */
  maxUses: number | null;
  uses: number;
  revoked: boolean;
  createdAt: number;
}

export type AccessTokenFormat = 'jwt' | 'opaque';

export interface Client {
  tenantId: string;
  clientId: string;
  name: string;
  /** SHA-256 digest of the secret; null for public clients. */
  secretDigest: string | null;
  tokenEndpointAuthMethod: string;
  grantTypes: string[];
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  corsOrigins: string[];
  /** Scopes the client may request. */
  scopes: string[];
  accessTokenFormat: AccessTokenFormat;
  accessTokenTtl: number | null;
  consent: 'required' | 'skip';
  webPage: boolean;
  sessionRefreshTokens: boolean;
  /**
   * Seconds after a refresh token's first use in which presenting it again yields a sibling in
   * the same grant instead of revoking the grant; 0 = off (the default).
   */
  refreshGraceSeconds: number;
  /** ID-token algorithm; null = RS256 (never none or HS*). */
  idTokenAlg: 'RS256' | 'ES256' | 'EdDSA' | null;
  jwks: object | null;
  jwksUri: string | null;
  /**
   * OpenID Connect Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed when a
   * session of a user of this client ends; null = none.
   */
  backchannelLogoutUri: string | null;
  /** §2.2 `backchannel_logout_session_required`: the logout token carries `sid` (default true). */
  backchannelLogoutSessionRequired: boolean;
  /** RFC 9126 §6: authorization requests only through PAR. */
  requirePar: boolean;
  /** RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request must carry a DPoP proof. */
  dpopBoundAccessTokens: boolean;
  /** RFC 8693 policy: clients whose tokens this one may exchange ('*' = any); [] = only its own. */
  tokenExchangeSubjectClients: string[];
  /** RFC 8693 policy: audiences it may request by exchange; [] = those its own scopes reach. */
  tokenExchangeAudiences: string[];
  /** RFC 7523: accept the token endpoint URL as a client assertion's `aud` besides the issuer (compatibility; off). */
  assertionAudienceTokenEndpoint: boolean;
  /** Successful requests allowed per window at the client-authenticated endpoints; absent or null = no limit (the default). */
  rateLimit?: ClientRateLimit | null;
  /** Tokens of this client issued before it are inactive, on top of the tenant's; 0 = none. */
  notBefore: number;
  createdAt: number;
  updatedAt: number;
}

export interface ApiScope {
  name: string;
  description: string;
}

/** A resource server ("audience") and the scopes it defines. */
export interface Api {
  tenantId: string;
  id: string;
  audience: string;
  name: string;
  accessTokenTtl: number | null;
  /** SHA-256 digest of its resource-server secret (introspection); its client_id is `id`. Null: none issued. */
  secretDigest: string | null;
  scopes: ApiScope[];
  createdAt: number;
  updatedAt: number;
}

/** access and id keys are published in the JWKS; the refresh key (HMAC) never is (DESIGN.md §1). */
export type KeyPurpose = 'access' | 'id' | 'refresh';

export interface SigningKeyRecord {
  tenantId: string;
  kid: string;
  alg: string;
  purpose: KeyPurpose;
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
  createdAt: number;
  /** Published from createdAt; signs from activatesAt (after the JWKS cache lifetime). */
  activatesAt: number;
  revokedAt: number | null;
  /** Insertion order within the tenant, assigned by the store. */
  seq?: number;
}

/** One user (or the client itself) + client + consent. Every code and token has one. */
export interface Grant {
  id: string;
  tenantId: string;
  clientId: string;
  /** The user's id; null for a client acting on its own behalf (client_credentials). */
  subject: string | null;
  scope: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

export type ArtifactKind =
  | 'authorization_code' | 'refresh_token' | 'device_code' | 'par_request' | 'dpop_jti' | 'interaction'
  /** RFC 8628 §3.3: the user code, pointing at its device code (tokens/device_authorization.ts). */
  | 'device_user_code'
  /** Links sent by mail (accounts/action_token.ts). */
  | 'sign_up' | 'verify_email' | 'reset_password'
  /** RFC 7523 §3 item 7: a client assertion's jti, kept until the assertion expires (http/client_assertion.ts). */
  | 'client_assertion_jti'
  /** The "choose a new password" step of a sign-in whose password was right (endpoints/required_action.ts). */
  | 'password_update'
  /** The second step of a sign-in, and TOTP/passkey enrolment on the account page (src/mfa/). */
  | 'mfa_step' | 'mfa_enrolment'
  /** A WebAuthn challenge, single use, bound to the sign-in or session that asked for it (mfa/webauthn.ts). */
  | 'webauthn_challenge';

/** A single-use value, stored by the digest of its value. */
export interface Artifact {
  digest: string;
  tenantId: string;
  kind: ArtifactKind;
  grantId: string | null;
  clientId: string | null;
  data: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

/** An opaque access token, stored by digest. */
export interface AccessTokenRecord {
  /** `storageKey(token)`: the token's time prefix and SHA-256 digest (tokens/opaque.ts). */
  digest: string;
  tenantId: string;
  grantId: string;
  clientId: string;
  subject: string;
  scope: string;
  audience: string[];
  issuedAt: number;
  expiresAt: number;
  revokedAt: number | null;
  /** RFC 9449 §6: the thumbprint of the DPoP key the token is bound to; absent for a bearer token. */
  jkt?: string;
}

/** A person who signs in to a tenant. */
export interface User {
  tenantId: string;
  id: string;
  /** Unique per tenant, compared case-insensitively (stored as given). */
  username: string;
  email: string | null;
  emailVerified: boolean;
  /** Display name (OIDC `name`); given/family names come with profile editing. */
  name: string | null;
  /** argon2id PHC string; null for a user who cannot sign in with a password. */
  passwordHash: string | null;
  disabled: boolean;
  /** Sign-in asks for a new password before it completes (the first operator; `--must-change-password`). */
  mustChangePassword: boolean;
  createdAt: number;
  updatedAt: number;
}

/** A browser sign-in at one tenant, found by the storage key of its cookie value. */
export interface Session {
  /** `storageKey(cookie value)` (tokens/opaque.ts): the cookie value itself is never stored. */
  key: string;
  /** Public, stable id: the OIDC `sid` claim and `session_state` input. */
  id: string;
  tenantId: string;
  userId: string;
  /** When the user last authenticated (OIDC `auth_time`), seconds. */
  authTime: number;
  /** Authentication methods (RFC 8176): `pwd`, later `otp`, `hwk`… */
  amr: string[];
  createdAt: number;
  /** Idle timeout: extended on use. */
  idleExpiresAt: number;
  /** Absolute lifetime: never extended. */
  expiresAt: number;
  revokedAt: number | null;
}

/** Scopes a user has approved for a client (remembered consent). */
export interface Consent {
  tenantId: string;
  userId: string;
  clientId: string;
  scopes: string[];
  createdAt: number;
  updatedAt: number;
}

export const AUDIT_EVENT_TYPES = [
  'sign_in.success', 'sign_in.failure', 'consent.granted', 'consent.revoked',
  'token.issued', 'token.refreshed', 'token.revoked',
  'user.created', 'user.updated', 'user.deleted',
  'user.password_reset_requested', 'user.password_reset', 'user.password_changed', 'user.email_change_requested', 'user.email_verified', 'client.created', 'client.updated', 'client.deleted',
  'logout.backchannel_failed',
  // Admin API changes (src/admin/); tenant events are recorded in the `admin` tenant.
  'tenant.created', 'tenant.updated', 'tenant.deleted', 'api.created', 'api.updated', 'api.deleted',
  'client.secret_rotated', 'key.rotated', 'key.revoked', 'session.revoked', 'grant.revoked',
  // Second factors (src/mfa/): enrolled or removed by the user, reset by an operator, policy changes.
  'mfa.enrolled', 'mfa.removed', 'mfa.reset', 'mfa.recovery_codes_generated', 'mfa.policy_updated',
  // Issue 9 (docs/audit.md maps every type to where it is recorded).
  'operator.scope_changed', 'dcr_token.created', 'dcr_token.revoked',
  // Security-relevant refusals: `detail.reason` says which check failed.
  'security.client_auth_failed', 'security.authorize_refused', 'security.pkce_failed', 'security.dpop_refused',
  'security.introspection_refused', 'security.admin_refused', 'throttle.refused',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Something that happened in a tenant, for its operators. Never holds a secret (DESIGN.md §3.10). */
export interface AuditEvent {
  /** Sorts by creation time (milliseconds, then random), so a list is newest first by id within a second. */
  id: string;
  tenantId: string;
  type: AuditEventType;
  /** Seconds since the epoch. */
  at: number;
  /** Who did it: a user id, a client id, `operator` (CLI), or `anonymous` (a failed sign-in of an unknown user). */
  actor: string;
  clientId: string | null;
  userId: string | null;
  ip: string | null;
  /** A small JSON object: grant type, scope, reason, changed field names — no tokens, codes, passwords or cookies. */
  detail: Record<string, unknown>;
}

/** A token a user (or an operator for them) issued by hand: named, listed on the account page, revocable. */
export interface PersonalToken {
  /** The grant it was issued under: one per token, so revoking the grant revokes the token. */
  grantId: string;
  tenantId: string;
  userId: string;
  clientId: string;
  name: string;
  scopes: string[];
  createdAt: number;
  expiresAt: number;
}

/** A second factor of a user (mfa/factors.ts). */
export type MfaFactor =
  | (MfaFactorBase & { type: 'totp'; /** RFC 6238 shared secret, base32. */ secret: string; /** Last accepted time step; null = none yet. */ lastStep: number | null })
  | (MfaFactorBase & {
      type: 'webauthn';
      /** base64url credential id; unique across the server. */
      credentialId: string;
      /** COSE public key, base64url. */
      publicKey: string;
      counter: number;
      transports: string[];
    });

export interface MfaFactorBase {
  id: string;
  tenantId: string;
  userId: string;
  label: string;
  createdAt: number;
  lastUsedAt: number | null;
}

/** A client's request rate limit (http/client_rate_limit.ts): `max` requests per `windowSeconds`. */
export interface ClientRateLimit {
  max: number;
  windowSeconds: number;
}
