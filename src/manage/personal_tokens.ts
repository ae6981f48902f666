import { OPERATOR, recordAudit } from '../audit.js';
import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { identifier, secretValue } from '../crypto/random.js';
import { InputError } from '../errors.js';
import type { Api, Client, PersonalToken, Tenant, User } from '../storage/types.js';
import { newOpaqueValue, storageKey } from '../tokens/opaque.js';
import type { ManageDeps } from './tenants.js';
import { SCOPE_TOKEN } from './validate.js';

/** SECURITY-CHECKLIST 59: a personal token lives at most this long (Pulsoid-style manual tokens are long-lived, not forever). */
export const PERSONAL_TOKEN_MAX_SECONDS = 90 * 24 * 3600;

/** The tenant's cap on a personal token's lifetime (`tenant update --personal-token-max-days`), 90 days unless set. */
export const personalTokenCap = (tenant: Tenant): number => (tenant.personalTokenMaxDays === null ? PERSONAL_TOKEN_MAX_SECONDS : tenant.personalTokenMaxDays * 86400);
export const PERSONAL_TOKEN_DEFAULT_SECONDS = 30 * 24 * 3600;

/**
 * Built-in clients, made per tenant on first use. Their ids are fixed per tenant, so two
 * nodes making one at once collide on the primary key instead of making two; generated ids
 * are base64url and never contain a ".", so no operator's client can take one.
 * - `account`: the account page signs users in through the ordinary authorization code
 *   flow as this first-party client (consent skipped, redirect URI = the account page).
 * - `personal`: holds the grants of personal tokens; confidential with a secret nobody was
 *   ever shown and no grant type, so no flow can be run as it.
 * - `device`: the device page (RFC 8628 §3.3) signs users in as the account page does, with
 *   the device page as its redirect URI.
 */
export type BuiltinClient = 'account' | 'personal' | 'device';

const BUILTIN_IDS: Record<BuiltinClient, string> = { account: 'tessera.account', personal: 'tessera.personal-tokens', device: 'tessera.device' };
const BUILTIN_NAMES: Record<BuiltinClient, string> = { account: 'Account', personal: 'Personal tokens', device: 'Device sign-in' };

export const builtinClientId = (tenantId: string, kind: BuiltinClient): string => `${BUILTIN_IDS[kind]}.${tenantId}`;

export const isBuiltinClient = (tenantId: string, clientId: string): boolean =>
  (Object.keys(BUILTIN_IDS) as BuiltinClient[]).some((kind) => clientId === builtinClientId(tenantId, kind));

/** The account page's URL: the account client's only redirect (and post-logout redirect) URI. */
export const accountUrl = (issuer: string): string => `${issuer}/account`;

/** The device page's URL (RFC 8628 `verification_uri`): the device client's only redirect URI. */
export const deviceUrl = (issuer: string): string => `${issuer}/device`;

/** The page a signing-in built-in client returns to; the personal-tokens client has none. */
const pageOf = (kind: BuiltinClient, issuer: string): string | undefined =>
  kind === 'account' ? accountUrl(issuer) : kind === 'device' ? deviceUrl(issuer) : undefined;

function builtinClient(deps: ManageDeps, tenantId: string, kind: BuiltinClient, issuer: string): Client {
  const now = seconds(deps.clock);
  const page = pageOf(kind, issuer);
  return {
    tenantId, clientId: builtinClientId(tenantId, kind), name: BUILTIN_NAMES[kind],
    secretDigest: digest(secretValue(deps.random)), tokenEndpointAuthMethod: 'client_secret_basic',
    grantTypes: page ? ['authorization_code'] : [], redirectUris: page ? [page] : [],
    postLogoutRedirectUris: page ? [page] : [], corsOrigins: [], scopes: [],
    accessTokenFormat: 'opaque', accessTokenTtl: null, consent: 'skip', webPage: false, sessionRefreshTokens: false,
    refreshGraceSeconds: 0, idTokenAlg: null, jwks: null, jwksUri: null, backchannelLogoutUri: null, backchannelLogoutSessionRequired: true,
    requirePar: false, dpopBoundAccessTokens: false, tokenExchangeSubjectClients: [], tokenExchangeAudiences: [], assertionAudienceTokenEndpoint: false,
    notBefore: 0, createdAt: now, updatedAt: now,
  };
}

/**
 * The tenant's built-in client of this kind, made if missing. The account and device clients' URIs
 * follow the public URL, so they are corrected if it changed since the client was made.
 * `get` may be a cached lookup; it must not cache misses.
 */
export async function ensureBuiltinClient(
  deps: ManageDeps,
  tenantId: string,
  kind: BuiltinClient,
  issuer: string,
  get: (tenantId: string, clientId: string) => Promise<Client | undefined> = (t, c) => deps.storage.clients.get(t, c),
): Promise<Client> {
  const id = builtinClientId(tenantId, kind);
  let client = await get(tenantId, id);
  if (!client) {
    const fresh = builtinClient(deps, tenantId, kind, issuer);
    try {
      await deps.storage.clients.create(fresh);
      return fresh;
    } catch (err) {
      if (!(err instanceof InputError && err.code === 'conflict')) throw err;
      client = await deps.storage.clients.get(tenantId, id);
      if (!client) throw err;
    }
  }
  const url = pageOf(kind, issuer);
  if (url !== undefined && (client.redirectUris.length !== 1 || client.redirectUris[0] !== url)) {
    client = { ...client, redirectUris: [url], postLogoutRedirectUris: [url], updatedAt: seconds(deps.clock) };
    await deps.storage.clients.update(client);
  }
  return client;
}

export interface IssueInput {
  tenant: Tenant;
  issuer: string;
  user: User;
  /** The client to issue under; the tenant's built-in personal-tokens client when absent. */
  client?: Client;
  /** How that built-in client is looked up (a cached lookup on the server; see ensureBuiltinClient). */
  loadClient?: (tenantId: string, clientId: string) => Promise<Client | undefined>;
  /** The tenant's APIs: they define the scopes and audiences. */
  apis: Api[];
  scopes: string[];
  /** Seconds; the default is 30 days, the cap 90. */
  expiresIn?: number;
  /** Shown in the user's list (personal-tokens client only). */
  name?: string;
}

export interface IssuedToken {
  value: string;
  grantId: string;
  scopes: string[];
  expiresIn: number;
}

/** Whether a token of this client is a personal one (listed, named, API scopes only). */
const isPersonal = (c: Client) => c.clientId === builtinClientId(c.tenantId, 'personal');

/**
 * The checks of issuePersonalToken, storing nothing: a request refused here leaves the store as it
 * was (not even the built-in client is made). Without `client`, the built-in personal-tokens client.
 */
function checkPersonalToken(input: IssueInput) {
  const { user, client, tenant } = input;
  if (user.tenantId !== tenant.id || (client && client.tenantId !== tenant.id)) throw new InputError('the user and the client must belong to the tenant');
  if (user.disabled) throw new InputError(`user ${user.username} is disabled`);
  const scopes = [...new Set(input.scopes)];
  if (scopes.length === 0) throw new InputError('choose at least one scope');
  const owner = new Map(input.apis.flatMap((api) => api.scopes.map((s) => [s.name, api] as const)));
  const personal = !client || isPersonal(client);
  for (const s of scopes) {
    if (!SCOPE_TOKEN.test(s)) throw new InputError(`scope ${JSON.stringify(s)} is not a valid scope name (RFC 6749 §3.3)`);
    if (personal && !owner.has(s)) throw new InputError(`scope ${s} is not defined by an API of tenant ${tenant.id}: a personal token carries API scopes only`);
    if (client && !personal && !client.scopes.includes(s)) throw new InputError(`client ${client.clientId} may not request scope ${s}`);
  }
  const cap = personalTokenCap(tenant);
  const ttl = input.expiresIn ?? Math.min(PERSONAL_TOKEN_DEFAULT_SECONDS, cap);
  if (!Number.isInteger(ttl) || ttl < 60 || ttl > cap) {
    throw new InputError(`the lifetime must be from 60 seconds to ${cap / 86400} days (${cap} seconds)`);
  }
  const name = (input.name ?? 'Personal token').trim();
  if (!name || [...name].length > 100) throw new InputError('the token name must be 1–100 characters');
  return { scopes, owner, ttl, name, personal };
}

/**
 * Issues an opaque access token for `user` by hand, under a grant of its own (SECURITY-CHECKLIST
 * 59): opaque, so it is recalled by its row and never outlives a revocation; its lifetime is
 * capped; and its scopes never exceed what the user could consent to — for the personal-tokens
 * client, scopes the tenant's APIs define; for any other client, scopes it may request
 * (RFC 6749 §3.3). The value is returned once: only its digest is stored.
 */
export async function issuePersonalToken(deps: ManageDeps, input: IssueInput): Promise<IssuedToken> {
  const { user, tenant } = input;
  const { scopes, owner, ttl, name, personal } = checkPersonalToken(input);
  // Made on first use, after the checks: a refused request stores nothing.
  const client = input.client ?? (await ensureBuiltinClient(deps, tenant.id, 'personal', input.issuer, input.loadClient));
  const apis = [...new Set(scopes.map((s) => owner.get(s)).filter((a): a is Api => a !== undefined))];
  const audience = apis.length ? apis.map((a) => a.audience) : [tenant.defaultAudience ?? `${input.issuer}/api`];
  const now = seconds(deps.clock);
  const grantId = identifier(deps.random);
  const value = newOpaqueValue(deps.clock, deps.random);
  const { storage } = deps;
  // The grant ends with the token, so the built-in cleanup removes both (and the name) then.
  await storage.grants.ensure({
    id: grantId, tenantId: tenant.id, clientId: client.clientId, subject: user.id, scope: scopes.join(' '),
    createdAt: now, expiresAt: now + ttl, revokedAt: null,
  });
  // Named before the token exists: a failure in between leaves a listed, revocable name, never an unlisted token.
  if (personal) {
    await storage.personalTokens.create({ grantId, tenantId: tenant.id, userId: user.id, clientId: client.clientId, name, scopes, createdAt: now, expiresAt: now + ttl });
  }
  await storage.accessTokens.insert({
    digest: storageKey(value), tenantId: tenant.id, grantId, clientId: client.clientId, subject: user.id,
    scope: scopes.join(' '), audience, issuedAt: now, expiresAt: now + ttl, revokedAt: null,
  });
  await recordAudit(deps, tenant.id, {
    type: 'token.issued', actor: deps.actor ?? OPERATOR, userId: user.id, clientId: client.clientId,
    detail: { grant_type: 'personal', scope: scopes.join(' '), grant_id: grantId, name, expires_in: ttl },
  });
  return { value, grantId, scopes, expiresIn: ttl };
}

/** Revokes one of the user's personal tokens (its grant); false if the user has no such live token. */
export async function revokePersonalToken(deps: ManageDeps, tenantId: string, userId: string, grantId: string): Promise<boolean> {
  const now = seconds(deps.clock);
  const mine = (await deps.storage.personalTokens.listLive(tenantId, userId, now)).some((t) => t.grantId === grantId);
  const revoked = mine && (await deps.storage.grants.revoke(grantId, now));
  if (revoked) await recordAudit(deps, tenantId, { type: 'token.revoked', actor: deps.actor ?? OPERATOR, userId, detail: { reason: 'personal_token_revoked', grant_id: grantId } });
  return revoked;
}

export const listPersonalTokens = (deps: ManageDeps, tenantId: string, userId: string): Promise<PersonalToken[]> =>
  deps.storage.personalTokens.listLive(tenantId, userId, seconds(deps.clock));

export interface ConnectedApp {
  client: Client;
  /** What the user approved (remembered consent) and what live grants hold, together. */
  scopes: string[];
}

/**
 * The apps the user has let in: remembered consents and live grants, by client. Tessera's
 * own clients (the account page, personal tokens) are not apps the user connected.
 */
export async function listConnectedApps(
  deps: ManageDeps,
  tenantId: string,
  userId: string,
  get: (tenantId: string, clientId: string) => Promise<Client | undefined>,
): Promise<ConnectedApp[]> {
  const now = seconds(deps.clock);
  const [consents, grants] = await Promise.all([deps.storage.consents.listForUser(tenantId, userId), deps.storage.grants.listLive(tenantId, userId, now)]);
  const scopes = new Map<string, Set<string>>();
  const add = (clientId: string, list: string[]) => {
    if (isBuiltinClient(tenantId, clientId)) return;
    const set = scopes.get(clientId) ?? new Set<string>();
    list.forEach((s) => set.add(s));
    scopes.set(clientId, set);
  };
  consents.forEach((c) => add(c.clientId, c.scopes));
  grants.forEach((g) => add(g.clientId, g.scope.split(' ').filter(Boolean)));
  const apps: ConnectedApp[] = [];
  for (const [clientId, set] of scopes) {
    const client = await get(tenantId, clientId);
    if (client) apps.push({ client, scopes: [...set].sort() });
  }
  return apps.sort((a, b) => a.client.name.localeCompare(b.client.name) || (a.client.clientId < b.client.clientId ? -1 : 1));
}

/**
 * Disconnects an app: forgets the consent and revokes every grant of this user and client,
 * with their opaque access tokens and refresh tokens. (A JWT access token already issued
 * runs out at its `exp`, at most the access-token lifetime.) False if there was nothing.
 */
export async function revokeApp(deps: ManageDeps, tenantId: string, userId: string, clientId: string): Promise<boolean> {
  if (isBuiltinClient(tenantId, clientId)) throw new InputError('this is not an app you connected');
  const forgot = await deps.storage.consents.revoke(tenantId, userId, clientId);
  const revoked = await deps.storage.grants.revokeForClient(tenantId, userId, clientId, seconds(deps.clock));
  if (forgot || revoked > 0) await recordAudit(deps, tenantId, { type: 'consent.revoked', actor: deps.actor ?? userId, userId, clientId, detail: { grants_revoked: revoked } });
  return forgot || revoked > 0;
}
