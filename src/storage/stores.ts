import type { ThrottleStore } from '../http/throttle.js';
import type {
  AccessTokenRecord, AuditEvent, Api, ApiScope, Artifact, ArtifactKind, Client, Consent, Grant, InitialAccessToken, MfaFactor, PersonalToken, Session, SigningKeyRecord, Tenant, User,
} from './types.js';

/**
 * Narrow storage interfaces, one per capability. Each method states its atomicity; every
 * backend implements them and passes test/storage/contract.test.ts.
 */

export type TenantPatch = Partial<Pick<Tenant,
  'displayName' | 'defaultAudience' | 'sessionIdleSeconds' | 'sessionMaxSeconds' | 'personalTokenMaxDays' | 'notBefore' | 'registration' | 'requireVerifiedEmail' | 'emailFrom' | 'hostname' | 'dcr'>>;

export interface TenantStore {
  get(id: string): Promise<Tenant | undefined>;
  list(): Promise<Tenant[]>;
  /** Atomic with its first signing keys; fails with a conflict if the id exists. */
  create(tenant: Tenant, keys: SigningKeyRecord[]): Promise<void>;
  /** Atomic; returns false if the tenant does not exist; fails with a conflict if the hostname is taken. */
  update(id: string, patch: TenantPatch, now: number): Promise<boolean>;
  /** Atomic: the tenant and everything in it (clients, APIs, keys, grants, tokens) go together. */
  delete(id: string): Promise<boolean>;
}

export interface ClientStore {
  get(tenantId: string, clientId: string): Promise<Client | undefined>;
  list(tenantId: string): Promise<Client[]>;
  /** Atomic; fails with a conflict if the client id exists. */
  create(client: Client): Promise<void>;
  /** Atomic; replaces every field but the ids and `notBefore`; false if absent. */
  update(client: Client): Promise<boolean>;
  /** Atomic: sets only the not-before time (so a concurrent `update` cannot undo it); false if absent. */
  setNotBefore(tenantId: string, clientId: string, notBefore: number, now: number): Promise<boolean>;
  /** Atomic: the client with its grants and everything issued under them. */
  delete(tenantId: string, clientId: string): Promise<boolean>;
}

export interface ApiStore {
  get(tenantId: string, id: string): Promise<Api | undefined>;
  list(tenantId: string): Promise<Api[]>;
  /** Atomic with its scopes; a conflict if the audience or a scope name is taken in the tenant. */
  create(api: Api): Promise<void>;
  /** Atomic: fields and the whole scope list are replaced together; false if absent. */
  update(api: Api): Promise<boolean>;
  delete(tenantId: string, id: string): Promise<boolean>;
}

export interface KeyStore {
  /** Every key of the tenant that is not revoked, oldest first. */
  list(tenantId: string): Promise<SigningKeyRecord[]>;
  insert(key: SigningKeyRecord): Promise<void>;
  /** Marks the key revoked; false if there is no such unrevoked key. */
  revoke(tenantId: string, kid: string, now: number): Promise<boolean>;
  /** Deletes keys whose last use ended before `before` (private material included). */
  remove(tenantId: string, kids: string[]): Promise<void>;
  /**
   * `tessera keys rewrap`: seals every unrevoked private key, of every tenant, under the current
   * master key (plaintext rows, rows sealed under the previous key). Each row is a conditional
   * update on the value read, so a concurrent revoke is never undone. Returns how many changed.
   */
  reseal(): Promise<number>;
}

export interface GrantStore {
  get(id: string): Promise<Grant | undefined>;
  /**
   * Inserts the grant unless one with the same id exists (then leaves it unchanged). Atomic with
   * `artifacts`, inserted under it in the same transaction (the authorization code of a new
   * grant): a crash between the two never leaves a grant without its code.
   */
  ensure(grant: Grant, artifacts?: Artifact[]): Promise<void>;
  /**
   * Atomic: marks the grant revoked together with every opaque access token and unused
   * artifact issued under it; tokens then fail their grant check. False if absent.
   */
  revoke(id: string, now: number): Promise<boolean>;
  /** The user's grants that are neither revoked nor expired, oldest first. */
  listLive(tenantId: string, subject: string, now: number): Promise<Grant[]>;
  /**
   * Atomic: revokes every unrevoked grant of this user and client, as `revoke` does each
   * (their opaque access tokens and unused artifacts with them); returns how many.
   */
  revokeForClient(tenantId: string, subject: string, clientId: string, now: number): Promise<number>;
}

export interface ArtifactStore {
  /** Fails with a conflict if the digest exists. */
  create(artifact: Artifact): Promise<void>;
  find(kind: ArtifactKind, digest: string): Promise<Artifact | undefined>;
  /**
   * Marks an unused, unexpired artifact used and returns it. Of any number of concurrent
   * callers — across processes, on both backends — exactly one gets the row; the others
   * get undefined. The row is kept (with its grant id) so a second use can be recognised.
   */
  consume(kind: ArtifactKind, digest: string, now: number): Promise<Artifact | undefined>;
  /**
   * Compare-and-set of an unused, unexpired artifact's data (the state of a device code
   * between polls): replaces it with `next` only if it still equals `expected`, the data as
   * `find` returned it; true if it did. Of concurrent swaps from the same `expected` —
   * across processes, on both backends — exactly one succeeds.
   */
  swap(kind: ArtifactKind, digest: string, expected: Record<string, unknown>, next: Record<string, unknown>, now: number): Promise<boolean>;
}

export interface AccessTokenStore {
  /** Durable before it returns: a token whose response was sent is never lost. */
  insert(token: AccessTokenRecord): Promise<void>;
  find(digest: string): Promise<AccessTokenRecord | undefined>;
  /**
   * The token stored under `digest` and its grant's `revokedAt`, read in one statement (one
   * snapshot of both rows); undefined when the token or its grant is absent. Never answered
   * from a cache: the statement starts after the call, so anything committed before it —
   * a revocation on any node — is seen. Calls made in the same turn of the event loop may
   * share that statement.
   */
  lookup(digest: string): Promise<(AccessTokenRecord & { grantRevokedAt: number | null }) | undefined>;
  /** Marks the token revoked (RFC 7009); false if absent or already revoked. */
  revoke(digest: string, now: number): Promise<boolean>;
}

/**
 * JWT access tokens cannot be recalled, so a revoked one is remembered by its `jti` until
 * its `exp` (DESIGN.md §2); cleanup drops the entry afterwards.
 */
export interface RevocationStore {
  /** Idempotent: revoking a revoked jti again changes nothing and does not fail. Durable before it returns. */
  revokeJti(tenantId: string, jti: string, expiresAt: number): Promise<void>;
  /** Whether the jti was revoked in this tenant (expired entries may linger until cleanup; callers check `exp`). */
  isJtiRevoked(tenantId: string, jti: string): Promise<boolean>;
}

export interface UserStore {
  get(tenantId: string, id: string): Promise<User | undefined>;
  /** Case-insensitive match on the username within the tenant. */
  findByUsername(tenantId: string, username: string): Promise<User | undefined>;
  /** Case-insensitive match on the email within the tenant (emails are unique per tenant). */
  findByEmail(tenantId: string, email: string): Promise<User | undefined>;
  list(tenantId: string): Promise<User[]>;
  /**
   * Atomic; a `conflict` if the tenant has a user with that username, an `email_conflict` if
   * one has that email (both case-insensitively).
   */
  create(user: User): Promise<void>;
  /** Atomic; replaces every field but the ids; a conflict (as `create`) on a taken username or email; false if absent. */
  update(user: User): Promise<boolean>;
  /** Atomic: the user with their sessions, consents and grants (and what was issued under them). */
  delete(tenantId: string, id: string): Promise<boolean>;
}

export interface SessionStore {
  /** A conflict if the key or id exists; the idle expiry is capped at the absolute one. */
  create(session: Session): Promise<void>;
  /** The session, whether or not it has expired or been revoked (callers check). */
  get(key: string): Promise<Session | undefined>;
  /** The session with this public id (the `sid` claim) in the tenant, expired or revoked alike (callers check). */
  getById(tenantId: string, id: string): Promise<Session | undefined>;
  /**
   * Atomic: extends the idle expiry of an unrevoked session, never past its absolute expiry
   * and never backwards (of racing touches the later expiry stays). A revoked session is
   * left as it is. It does not check `now`: callers touch only a session they found live.
   */
  touch(key: string, idleExpiresAt: number): Promise<void>;
  /** Marks it revoked; false if absent or already revoked. */
  revoke(key: string, now: number): Promise<boolean>;
  /**
   * Atomic: revokes every unrevoked session of the user (expired ones too), but the one
   * whose key is `exceptKey`; returns the public ids of those that were live, sorted.
   */
  revokeAllForUser(tenantId: string, userId: string, now: number, exceptKey?: string): Promise<string[]>;
  /** The user's sessions that are neither revoked nor expired (idle or absolute), newest first. */
  listLive(tenantId: string, userId: string, now: number): Promise<Session[]>;
}

/** RFC 7591 initial access tokens and RFC 7592 registration access tokens, by digest. */
export interface DcrStore {
  createInitialToken(token: InitialAccessToken, digest: string): Promise<void>;
  /** The live (unrevoked, unexpired, not used up) token with this digest, or undefined. */
  findInitialToken(tenantId: string, digest: string, now: number): Promise<InitialAccessToken | undefined>;
  /** Atomic conditional update: of N concurrent uses of a token with k uses left, exactly k succeed. */
  useInitialToken(tenantId: string, id: string, now: number): Promise<boolean>;
  /** Atomic; false if absent. */
  revokeInitialToken(tenantId: string, id: string): Promise<boolean>;
  listInitialTokens(tenantId: string): Promise<InitialAccessToken[]>;
  /** Upsert: the client's registration access token digest (a rotation replaces it). The row goes with its client. */
  setRegistration(tenantId: string, clientId: string, tokenDigest: string): Promise<void>;
  registrationDigest(tenantId: string, clientId: string): Promise<string | undefined>;
  /** Conditional update from `oldDigest` to `newDigest`: of concurrent rotations of one token exactly one succeeds. */
  rotateRegistration(tenantId: string, clientId: string, oldDigest: string, newDigest: string): Promise<boolean>;
}

/** Which tenants an operator (a user of the `admin` tenant) may manage. */
export interface OperatorStore {
  /** The tenant ids of a scoped operator; null for a global one (no row). */
  scope(userId: string): Promise<string[] | null>;
  /** Atomic upsert; null makes the operator global (deletes the row). The row goes with its user. */
  setScope(userId: string, tenants: string[] | null): Promise<void>;
}

export interface ConsentStore {
  get(tenantId: string, userId: string, clientId: string): Promise<Consent | undefined>;
  /**
   * Atomic upsert: the remembered scopes become the union of the old and the new, sorted.
   * Concurrent calls, across processes and on both backends, all count: none is lost.
   */
  remember(tenantId: string, userId: string, clientId: string, scopes: string[], now: number): Promise<void>;
  /** Forgets the consent; false if there was none. */
  revoke(tenantId: string, userId: string, clientId: string): Promise<boolean>;
  /** Every client the user has a remembered consent for, in client id order. */
  listForUser(tenantId: string, userId: string): Promise<Consent[]>;
}

export interface PersonalTokenStore {
  /** Names a token already issued under `grantId`; a conflict if that grant already has one. */
  create(token: PersonalToken): Promise<void>;
  /** The user's tokens whose grant is neither revoked nor expired, newest first. */
  listLive(tenantId: string, userId: string, now: number): Promise<PersonalToken[]>;
}

export interface AuditQuery {
  /** An exact type (`token.issued`), or a family without the dot (`token`). */
  type?: string;
  /** Only events at or after this time (seconds). */
  since?: number;
  /** Only events before this time (seconds). */
  until?: number;
  /** Only events with exactly this actor, user id or client id. */
  actor?: string;
  userId?: string;
  clientId?: string;
  limit: number;
  /** From a previous page's `nextCursor`. */
  cursor?: string;
}

/** The audit table itself (storage/sql/audit.ts); callers use AuditStore, which batches writes. */
export interface AuditRows {
  /**
   * One multi-row INSERT of its own, in no caller's transaction; durable before it returns.
   * Events of a tenant that no longer exists are dropped (its deletion removes its events).
   */
  insert(events: AuditEvent[]): Promise<void>;
  /**
   * The tenant's events, newest first (by time, then id); `nextCursor` is set when more
   * may follow. Events recorded after a page was read never shift the next page.
   */
  list(tenantId: string, query: AuditQuery): Promise<{ events: AuditEvent[]; nextCursor?: string }>;
  /** Deletes every tenant's events older than `before` (seconds); returns how many. */
  deleteBefore(before: number): Promise<number>;
}

export interface AuditStore extends AuditRows {
  /**
   * Queues the event and returns at once (storage/audit_writer.ts): it is written with others
   * in one INSERT within a fraction of a second, or by `flush()`, `list()` or `close()`.
   */
  record(event: AuditEvent): Promise<void>;
  /** Writes everything queued so far; never rejects (a failed write is logged, retried once). */
  flush(): Promise<void>;
  /** Where a failed write is reported (the server's logger once the app is built). */
  useLog(log: { error(obj: object, msg: string): void }): void;
}

/** Second factors, recovery codes and the policy that asks for them (src/mfa/). */
export interface MfaStore {
  /** The user's factors, oldest first. */
  list(tenantId: string, userId: string): Promise<MfaFactor[]>;
  /** The WebAuthn factor with this credential id in the tenant. */
  findCredential(tenantId: string, credentialId: string): Promise<MfaFactor | undefined>;
  /** A conflict if the id or WebAuthn credential id exists. */
  create(factor: MfaFactor): Promise<void>;
  /** False if absent. */
  remove(tenantId: string, userId: string, id: string): Promise<boolean>;
  /**
   * `tessera keys rewrap`: seals every TOTP secret under the current master key; returns how
   * many rows changed. Each row is a conditional update, so a concurrent change is never undone.
   */
  resealSecrets(): Promise<number>;
  /**
   * Atomic conditional update (RFC 6238 §5.2, one use per code): advances the TOTP factor's last
   * step to `step` only if it is below it. Of concurrent calls with the same step — across
   * processes, on both backends — exactly one gets true.
   */
  useTotpStep(id: string, step: number, now: number): Promise<boolean>;
  /**
   * Atomic conditional update of a WebAuthn signature counter: true if it was below `counter`
   * (or both are 0: authenticators without a counter), so a cloned authenticator replaying an
   * old counter loses.
   */
  useWebauthnCounter(id: string, counter: number, now: number): Promise<boolean>;
  /** Atomic: the user's recovery codes become exactly these digests (old ones, used or not, go). */
  replaceRecoveryCodes(tenantId: string, userId: string, digests: string[], now: number): Promise<void>;
  /** Atomic conditional update: marks an unused code used. Of concurrent uses exactly one gets true. */
  useRecoveryCode(tenantId: string, userId: string, digest: string, now: number): Promise<boolean>;
  /** How many unused recovery codes the user has. */
  recoveryCodesLeft(tenantId: string, userId: string): Promise<number>;
  /** Atomic: every factor and recovery code of the user goes; returns how many factors there were. */
  reset(tenantId: string, userId: string): Promise<number>;
  /** The tenant's policy; undefined if the tenant does not exist. */
  tenantPolicy(tenantId: string): Promise<'optional' | 'required' | undefined>;
  /** False if the tenant does not exist. Bumps the config version. */
  setTenantPolicy(tenantId: string, policy: 'optional' | 'required'): Promise<boolean>;
  /** Whether the client requires a second factor; undefined if it does not exist. */
  clientRequires(tenantId: string, clientId: string): Promise<boolean | undefined>;
  /** False if the client does not exist. Bumps the config version. */
  setClientRequires(tenantId: string, clientId: string, required: boolean): Promise<boolean>;
}

/** A counter bumped in the same transaction as every change to tenants, clients, APIs and keys. */
export interface ConfigVersion {
  current(): Promise<number>;
}

/** Removes rows that can no longer matter. */
export interface Cleanup {
  /** Expired artifacts, access tokens, JWT revocations and grants, sessions past their absolute expiry; returns rows removed. */
  expired(now: number): Promise<number>;
}

export interface Storage {
  tenants: TenantStore;
  clients: ClientStore;
  apis: ApiStore;
  keys: KeyStore;
  grants: GrantStore;
  artifacts: ArtifactStore;
  accessTokens: AccessTokenStore;
  revocations: RevocationStore;
  users: UserStore;
  sessions: SessionStore;
  consents: ConsentStore;
  personalTokens: PersonalTokenStore;
  operators: OperatorStore;
  dcr: DcrStore;
  mfa: MfaStore;
  audit: AuditStore;
  /** Throttle counters shared by every node (http/throttle.ts); `update` is atomic per key, across processes. */
  throttle: ThrottleStore;
  configVersion: ConfigVersion;
  cleanup: Cleanup;
  /** The database connection pool's state, read by /metrics; absent where there is no pool (SQLite). */
  poolStats?: () => { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

export type { ApiScope };
