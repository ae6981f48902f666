import type { Generated } from 'kysely';

/**
 * Table types for the query builder. Times are integer seconds since the epoch; lists and
 * objects are JSON text; booleans are 0/1 — the same representation on SQLite and
 * PostgreSQL, so one set of queries serves both.
 */
export interface Database {
  meta: { key: string; value: number };
  tenants: {
    id: string;
    display_name: string;
    default_audience: string | null;
    session_idle_seconds: number | null;
    session_max_seconds: number | null;
    personal_token_max_days: number | null;
    registration: number;
    require_verified_email: number;
    email_from: string | null;
    hostname: string | null;
    not_before: number;
    /** JSON DcrPolicy; null = dynamic client registration off. */
    dcr: string | null;
    /** Second-factor policy: 'optional' | 'required' (mfa/policy.ts). */
    mfa?: string;
    created_at: number;
    updated_at: number;
  };
  clients: {
    tenant_id: string;
    id: string;
    name: string;
    secret_digest: string | null;
    token_endpoint_auth_method: string;
    grant_types: string;
    redirect_uris: string;
    post_logout_redirect_uris: string;
    cors_origins: string;
    scopes: string;
    access_token_format: string;
    access_token_ttl: number | null;
    consent: string;
    web_page: number;
    session_refresh_tokens: number;
    refresh_token_grace_seconds: number;
    id_token_signed_response_alg: string | null;
    jwks: string | null;
    jwks_uri: string | null;
    backchannel_logout_uri: string | null;
    backchannel_logout_session_required: number;
    /** `MAX/WINDOW_SECONDS` (http/client_rate_limit.ts); null = none. */
    rate_limit: string | null;
    /** 1: sign-in for this client needs a second factor (mfa/policy.ts). */
    require_mfa?: number;
    require_par: number;
    dpop_bound_access_tokens: number;
    token_exchange_subject_clients: string;
    token_exchange_audiences: string;
    assertion_aud_token_endpoint: number;
    not_before: number;
    created_at: number;
    updated_at: number;
  };
  apis: {
    tenant_id: string;
    id: string;
    audience: string;
    name: string;
    access_token_ttl: number | null;
    secret_digest: string | null;
    created_at: number;
    updated_at: number;
  };
  api_scopes: {
    tenant_id: string;
    api_id: string;
    name: string;
    description: string;
  };
  signing_keys: {
    tenant_id: string;
    kid: string;
    alg: string;
    purpose: string;
    private_jwk: string;
    public_jwk: string;
    created_at: number;
    activates_at: number;
    revoked_at: number | null;
    seq: number;
  };
  grants: {
    id: string;
    tenant_id: string;
    client_id: string;
    subject: string | null;
    scope: string;
    created_at: number;
    expires_at: number | null;
    revoked_at: number | null;
  };
  artifacts: {
    digest: string;
    tenant_id: string;
    kind: string;
    grant_id: string | null;
    client_id: string | null;
    data: string;
    created_at: number;
    expires_at: number;
    used_at: number | null;
  };
  access_tokens: {
    digest: string;
    tenant_id: string;
    grant_id: string;
    client_id: string;
    subject: string;
    scope: string;
    audience: string;
    issued_at: number;
    expires_at: number;
    revoked_at: number | null;
    /** RFC 9449 §6: thumbprint of the DPoP key the token is bound to; null for a bearer token. */
    jkt: string | null;
  };
  revoked_jtis: {
    tenant_id: string;
    jti: string;
    expires_at: number;
  };
  users: {
    tenant_id: string;
    id: string;
    username: string;
    /** The uniqueness key, computed by the store (sql/users.ts `usernameKey`), never by SQL. */
    username_lower: string;
    email: string | null;
    /** Unique per tenant; computed by the store (sql/users.ts `emailKey`). */
    email_lower: string | null;
    email_verified: number;
    name: string | null;
    password_hash: string | null;
    disabled: number;
    must_change_password: number;
    created_at: number;
    updated_at: number;
  };
  /** Second factors (mfa/factors.ts); TOTP or WebAuthn columns are null for the other type. */
  mfa_factors: {
    id: string;
    tenant_id: string;
    user_id: string;
    type: string;
    label: string;
    secret: string | null;
    last_step: number | null;
    credential_id: string | null;
    public_key: string | null;
    counter: number | null;
    transports: string | null;
    created_at: number;
    last_used_at: number | null;
  };
  mfa_recovery_codes: {
    user_id: string;
    tenant_id: string;
    digest: string;
    created_at: number;
    used_at: number | null;
  };
  sessions: {
    key: string;
    id: string;
    tenant_id: string;
    user_id: string;
    auth_time: number;
    amr: string;
    created_at: number;
    idle_expires_at: number;
    expires_at: number;
    revoked_at: number | null;
  };
  consents: {
    tenant_id: string;
    user_id: string;
    client_id: string;
    /** Space-joined, sorted. */
    scopes: string;
    created_at: number;
    updated_at: number;
  };
  audit_events: {
    id: string;
    tenant_id: string;
    type: string;
    at: number;
    actor: string;
    client_id: string | null;
    user_id: string | null;
    ip: string | null;
    /** JSON object. */
    detail: string;
  };
  dcr_initial_tokens: {
    id: string;
    tenant_id: string;
    digest: string;
    expires_at: number | null;
    max_uses: number | null;
    uses: number;
    revoked: number;
    created_at: number;
  };
  dcr_registrations: {
    client_id: string;
    tenant_id: string;
    token_digest: string;
  };
  operator_scopes: {
    user_id: string;
    /** JSON list of tenant ids. */
    tenants: string;
  };
  personal_tokens: {
    grant_id: string;
    tenant_id: string;
    user_id: string;
    client_id: string;
    name: string;
    /** Space-joined. */
    scope: string;
    created_at: number;
    expires_at: number;
  };
  /** Throttle counters (http/throttle.ts ThrottleEntry); `version` is the compare-and-set token. */
  throttle_entries: {
    key: string;
    failures: number;
    pending: number;
    last: number;
    expires: number;
    version: number;
  };
}

export type Seq = Generated<number>;
