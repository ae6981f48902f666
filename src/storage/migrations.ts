import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import { emailKey } from './sql/users.js';

/**
 * Every schema change, in order, for both backends: written once with the dialect-neutral
 * schema builder. Later changes append a new entry; an applied entry is never edited.
 */
const migrations: Record<string, Migration> = {
  '0001_foundation': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'bigint', (c) => c.notNull())
        .execute();
      await db.insertInto('meta').values({ key: 'config_version', value: 1 }).execute();

      await db.schema
        .createTable('tenants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('default_audience', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('clients')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('secret_digest', 'text')
        .addColumn('token_endpoint_auth_method', 'text', (c) => c.notNull())
        .addColumn('grant_types', 'text', (c) => c.notNull())
        .addColumn('redirect_uris', 'text', (c) => c.notNull())
        .addColumn('post_logout_redirect_uris', 'text', (c) => c.notNull())
        .addColumn('cors_origins', 'text', (c) => c.notNull())
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('access_token_format', 'text', (c) => c.notNull())
        .addColumn('access_token_ttl', 'integer')
        .addColumn('consent', 'text', (c) => c.notNull())
        .addColumn('web_page', 'integer', (c) => c.notNull())
        .addColumn('session_refresh_tokens', 'integer', (c) => c.notNull())
        .addColumn('jwks', 'text')
        .addColumn('jwks_uri', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('clients_tenant').on('clients').columns(['tenant_id', 'name']).execute();

      await db.schema
        .createTable('apis')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('audience', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('access_token_ttl', 'integer')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('apis_audience_unique', ['tenant_id', 'audience'])
        .execute();

      // Scope names are unique within a tenant, so a scope names its API (DESIGN.md §1 CLI).
      await db.schema
        .createTable('api_scopes')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('api_id', 'text', (c) => c.notNull().references('apis.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('api_scopes_pk', ['tenant_id', 'name'])
        .execute();

      await db.schema
        .createTable('signing_keys')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('kid', 'text', (c) => c.notNull())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('private_jwk', 'text', (c) => c.notNull())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('activates_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        // Insertion order within the tenant: of two keys activating in the same second,
        // the later one signs.
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addPrimaryKeyConstraint('signing_keys_pk', ['tenant_id', 'kid'])
        .execute();

      await db.schema
        .createTable('grants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('subject', 'text')
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint')
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('grants_client').on('grants').columns(['tenant_id', 'client_id', 'subject']).execute();

      // Single-use artifacts (codes, refresh tokens, device codes, PAR request_uris, DPoP
      // jtis). Consuming marks used_at and keeps the row until it expires, so a second use
      // is recognised and its grant revoked (DESIGN.md §2).
      await db.schema
        .createTable('artifacts')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('grant_id', 'text', (c) => c.references('grants.id').onDelete('cascade'))
        .addColumn('client_id', 'text')
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .execute();
      await db.schema.createIndex('artifacts_expiry').on('artifacts').column('expires_at').execute();
      await db.schema.createIndex('artifacts_grant').on('artifacts').column('grant_id').execute();

      await db.schema
        .createTable('access_tokens')
        .addColumn('digest', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('grant_id', 'text', (c) => c.notNull().references('grants.id').onDelete('cascade'))
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('audience', 'text', (c) => c.notNull())
        .addColumn('issued_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      await db.schema.createIndex('access_tokens_expiry').on('access_tokens').column('expires_at').execute();
      await db.schema.createIndex('access_tokens_grant').on('access_tokens').column('grant_id').execute();

      // JWT access tokens are revoked by jti until their exp (DESIGN.md §2).
      await db.schema
        .createTable('revoked_jtis')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('jti', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('revoked_jtis_pk', ['tenant_id', 'jti'])
        .execute();
    },
  },
  '0002_users_sessions_consents': {
    async up(db: Kysely<any>) {
      // Case-insensitive uniqueness through a column the store fills (username_lower), not
      // lower() or a collation: SQLite's lower() folds ASCII only and PostgreSQL's depends on
      // the database locale, so the two backends would disagree on what is a duplicate.
      await db.schema
        .createTable('users')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('username_lower', 'text', (c) => c.notNull())
        .addColumn('email', 'text')
        .addColumn('email_verified', 'integer', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('password_hash', 'text')
        .addColumn('disabled', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('users_username').on('users').columns(['tenant_id', 'username_lower']).unique().execute();

      await db.schema
        .createTable('sessions')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('auth_time', 'bigint', (c) => c.notNull())
        .addColumn('amr', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('idle_expires_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('revoked_at', 'bigint')
        .execute();
      // user_id first: the cascade from users finds sessions by user_id alone (an index led by
      // tenant_id would not serve it), and user ids are unique across tenants anyway.
      await db.schema.createIndex('sessions_user').on('sessions').columns(['user_id', 'tenant_id']).execute();
      await db.schema.createIndex('sessions_expiry').on('sessions').column('expires_at').execute();

      await db.schema
        .createTable('consents')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('client_id', 'text', (c) => c.notNull().references('clients.id').onDelete('cascade'))
        .addColumn('scopes', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('consents_pk', ['tenant_id', 'user_id', 'client_id'])
        .execute();
      // A cascading delete finds the child rows by the foreign key alone: without an index
      // on it, deleting one user or client scans the whole table (on both backends).
      await db.schema.createIndex('consents_user').on('consents').column('user_id').execute();
      await db.schema.createIndex('consents_client').on('consents').column('client_id').execute();
      // Deleting a user deletes their grants (UserStore.delete).
      await db.schema.createIndex('grants_subject').on('grants').columns(['tenant_id', 'subject']).execute();
    },
  },
  '0003_session_lifetimes_id_token_alg': {
    async up(db: Kysely<any>) {
      // Null means the built-in default (30 minutes idle, 10 hours absolute).
      await db.schema.alterTable('tenants').addColumn('session_idle_seconds', 'integer').execute();
      await db.schema.alterTable('tenants').addColumn('session_max_seconds', 'integer').execute();
      // RFC 7591 / OIDC Registration name; null means RS256.
      await db.schema.alterTable('clients').addColumn('id_token_signed_response_alg', 'text').execute();
    },
  },
  '0005_refresh_grace': {
    async up(db: Kysely<any>) {
      // Seconds in which a rotated-out refresh token may be presented again for a sibling
      // (ORY Hydra's graceful rotation); 0 = off, the default.
      await db.schema.alterTable('clients').addColumn('refresh_token_grace_seconds', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
  '0004_api_credentials': {
    async up(db: Kysely<any>) {
      // Resource-server credentials (introspection, SECURITY-CHECKLIST 58): the API's id is
      // its client_id; only the secret's SHA-256 digest is kept. Null: none issued yet.
      await db.schema.alterTable('apis').addColumn('secret_digest', 'text').execute();
    },
  },
  '0007_audit_not_before': {
    async up(db: Kysely<any>) {
      // Keycloak's not-before policy: tokens issued before it are inactive; 0 = none.
      await db.schema.alterTable('tenants').addColumn('not_before', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('clients').addColumn('not_before', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      // Audit events outlive the users and clients they name, so only the tenant cascades.
      await db.schema
        .createTable('audit_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('at', 'bigint', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('client_id', 'text')
        .addColumn('user_id', 'text')
        .addColumn('ip', 'text')
        .addColumn('detail', 'text', (c) => c.notNull())
        .execute();
      // Lists are per tenant, newest first, paged by (at, id).
      await db.schema.createIndex('audit_events_tenant_at').on('audit_events').columns(['tenant_id', 'at', 'id']).execute();
    },
  },
  '0006_account': {
    async up(db: Kysely<any>) {
      // Personal tokens (account page, `tessera token issue`): each is an opaque access token
      // under a grant of its own, so revoking one is revoking its grant. This row only names
      // it for the user's list; it goes with its grant (expiry cleanup, revocation's cascade)
      // and with its user.
      await db.schema
        .createTable('personal_tokens')
        .addColumn('grant_id', 'text', (c) => c.primaryKey().references('grants.id').onDelete('cascade'))
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('personal_tokens_user').on('personal_tokens').columns(['user_id', 'tenant_id']).execute();
    },
  },
  '0008_backchannel_logout': {
    async up(db: Kysely<any>) {
      // OpenID Connect Back-Channel Logout 1.0 §2.2 client metadata. Null: the client has none.
      await db.schema.alterTable('clients').addColumn('backchannel_logout_uri', 'text').execute();
      // The registration default is false; ours is true (every logout token carries sid).
      await db.schema.alterTable('clients').addColumn('backchannel_logout_session_required', 'integer', (c) => c.notNull().defaultTo(1)).execute();
    },
  },
  '0009_personal_token_cap': {
    async up(db: Kysely<any>) {
      // Null means the built-in cap (90 days).
      await db.schema.alterTable('tenants').addColumn('personal_token_max_days', 'integer').execute();
    },
  },
  '0010_accounts': {
    async up(db: Kysely<any>) {
      // Self-service sign-up is off unless an operator turns it on; so is requiring a verified
      // email before sign-in completes. Null from address: the server's MAIL_FROM.
      await db.schema.alterTable('tenants').addColumn('registration', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('tenants').addColumn('require_verified_email', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('tenants').addColumn('email_from', 'text').execute();
      // An email names at most one user per tenant (sign-in and password reset find users by
      // it). The key is computed in JavaScript (sql/users.ts `emailKey`), as for usernames;
      // NULLs never collide, so users without an email need nothing.
      await db.schema.alterTable('users').addColumn('email_lower', 'text').execute();
      const rows = await db.selectFrom('users').select(['tenant_id', 'id', 'email']).where('email', 'is not', null).orderBy('created_at').orderBy('id').execute();
      const seen = new Set<string>();
      for (const r of rows) {
        const key = emailKey(r.email);
        // Addresses shared before this migration: the oldest account keeps the key, the
        // others keep their address but cannot be found by it until an operator fixes them.
        if (seen.has(`${r.tenant_id}\0${key}`)) continue;
        seen.add(`${r.tenant_id}\0${key}`);
        await db.updateTable('users').set({ email_lower: key }).where('tenant_id', '=', r.tenant_id).where('id', '=', r.id).execute();
      }
      await db.schema.createIndex('users_tenant_email').unique().on('users').columns(['tenant_id', 'email_lower']).execute();
    },
  },
  '0011_client_metadata': {
    async up(db: Kysely<any>) {
      // RFC 9126 §6: require_pushed_authorization_requests.
      await db.schema.alterTable('clients').addColumn('require_par', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      // RFC 9449 §5.2: dpop_bound_access_tokens (the client always uses DPoP).
      await db.schema.alterTable('clients').addColumn('dpop_bound_access_tokens', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      // RFC 8693 policy: whose tokens the client may exchange (JSON list of client ids, "*" for
      // any) and which audiences it may ask for (JSON list); [] = its own tokens, its own audiences.
      await db.schema.alterTable('clients').addColumn('token_exchange_subject_clients', 'text', (c) => c.notNull().defaultTo('[]')).execute();
      await db.schema.alterTable('clients').addColumn('token_exchange_audiences', 'text', (c) => c.notNull().defaultTo('[]')).execute();
      // RFC 7523 client assertions: `aud` is the issuer; 1 also accepts the token endpoint URL
      // (a compatibility switch, off by default: endpoint-URL audiences invite audience injection).
      await db.schema.alterTable('clients').addColumn('assertion_aud_token_endpoint', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
  '0012_dpop': {
    async up(db: Kysely<any>) {
      // RFC 9449 §6: an opaque access token bound to a DPoP key remembers the key's thumbprint
      // (JWTs carry it as cnf.jkt). Null: a bearer token.
      await db.schema.alterTable('access_tokens').addColumn('jkt', 'text').execute();
    },
  },
  '0013_admin': {
    async up(db: Kysely<any>) {
      // Set for the first operator (and by `user update --must-change-password`): sign-in asks
      // for a new password before it completes (endpoints/required_action.ts).
      await db.schema.alterTable('users').addColumn('must_change_password', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      // Operators are the users of the `admin` tenant. One scoped to some tenants has a row
      // here naming them (JSON list); no row is a global operator. A row is never implied by
      // its tenants' existence, so deleting every tenant of a scoped operator widens nothing.
      await db.schema
        .createTable('operator_scopes')
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('tenants', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0014_dcr': {
    async up(db: Kysely<any>) {
      // RFC 7591 dynamic client registration: the tenant's policy as a JSON object; null = off (manage/dcr.ts).
      await db.schema.alterTable('tenants').addColumn('dcr', 'text').execute();
      // RFC 7591 §3: initial access tokens, stored as digests; max_uses null = unlimited.
      await db.schema
        .createTable('dcr_initial_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('digest', 'text', (c) => c.notNull().unique())
        .addColumn('expires_at', 'bigint')
        .addColumn('max_uses', 'integer')
        .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('revoked', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      // RFC 7592 §1: a dynamically registered client's registration access token (digest); no row = not manageable this way.
      await db.schema
        .createTable('dcr_registrations')
        .addColumn('client_id', 'text', (c) => c.primaryKey().references('clients.id').onDelete('cascade'))
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('token_digest', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0015_hostnames': {
    async up(db: Kysely<any>) {
      // A tenant's own hostname (issuer `https://{hostname}/realms/{id}`); null = under the
      // public URL. Unique: a Host header names at most one tenant (http/issuer.ts).
      await db.schema.alterTable('tenants').addColumn('hostname', 'text').execute();
      await db.schema.createIndex('tenants_hostname').unique().on('tenants').column('hostname').execute();
    },
  },
  '0017_throttle': {
    async up(db: Kysely<any>) {
      // Throttle counters shared by every node (storage/sql/throttle.ts); times in seconds.
      // `version` makes each update a compare-and-set, so concurrent updates never lose a count.
      await db.schema
        .createTable('throttle_entries')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('failures', 'integer', (c) => c.notNull())
        .addColumn('pending', 'integer', (c) => c.notNull())
        .addColumn('last', 'double precision', (c) => c.notNull())
        .addColumn('expires', 'double precision', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('throttle_entries_expires').on('throttle_entries').column('expires').execute();
      // A client's limit on successful requests, `MAX/WINDOW_SECONDS`; null = none (the default).
      await db.schema.alterTable('clients').addColumn('rate_limit', 'text').execute();
    },
  },
  '0016_mfa': {
    async up(db: Kysely<any>) {
      // Second-factor policy (mfa/policy.ts): the tenant's ('optional' | 'required') and a
      // client's own requirement on top of it.
      await db.schema.alterTable('tenants').addColumn('mfa', 'text', (c) => c.notNull().defaultTo('optional')).execute();
      await db.schema.alterTable('clients').addColumn('require_mfa', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      // A user's second factors. TOTP (RFC 6238): the shared secret and the last time step
      // accepted, advanced by a conditional UPDATE so a code is accepted once across nodes.
      // WebAuthn: the credential id (base64url, unique), COSE public key, signature counter.
      await db.schema
        .createTable('mfa_factors')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('label', 'text', (c) => c.notNull())
        .addColumn('secret', 'text')
        .addColumn('last_step', 'bigint')
        .addColumn('credential_id', 'text', (c) => c.unique())
        .addColumn('public_key', 'text')
        .addColumn('counter', 'bigint')
        .addColumn('transports', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
      await db.schema.createIndex('mfa_factors_user').on('mfa_factors').column('user_id').execute();
      // Recovery codes as SHA-256 digests; used_at is set by a conditional UPDATE (single use across nodes).
      await db.schema
        .createTable('mfa_recovery_codes')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addPrimaryKeyConstraint('mfa_recovery_codes_pk', ['user_id', 'digest'])
        .execute();
    },
  },
  '0019_audit': {
    async up(db: Kysely<any>) {
      // The audit filters (storage/sql/audit.ts) within a tenant, newest first; and retention,
      // which deletes by time across tenants.
      await db.schema.createIndex('audit_events_tenant_type').on('audit_events').columns(['tenant_id', 'type', 'at']).execute();
      await db.schema.createIndex('audit_events_tenant_user').on('audit_events').columns(['tenant_id', 'user_id', 'at']).execute();
      await db.schema.createIndex('audit_events_tenant_client').on('audit_events').columns(['tenant_id', 'client_id', 'at']).execute();
      await db.schema.createIndex('audit_events_tenant_actor').on('audit_events').columns(['tenant_id', 'actor', 'at']).execute();
      await db.schema.createIndex('audit_events_at').on('audit_events').column('at').execute();
    },
  },
  '0020_expiry_indexes': {
    async up(db: Kysely<any>) {
      // The expiry cleanup (storage/index.ts) deletes grants and revoked JWT ids by expires_at:
      // without these it scans every grant and every revoked jti each run, inside the write
      // transaction that token issuance waits on (docs/performance.md shows the plans).
      await db.schema.createIndex('grants_expiry').on('grants').column('expires_at').execute();
      await db.schema.createIndex('revoked_jtis_expiry').on('revoked_jtis').column('expires_at').execute();
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/** Applies every pending migration; safe to run while other processes use the database. */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
