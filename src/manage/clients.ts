import { isIP } from 'node:net';
import { OPERATOR, recordAudit } from '../audit.js';
import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { privateMembersOf } from '../crypto/jwk.js';
import { identifier, secretValue } from '../crypto/random.js';
import { addressKind, isLoopbackDevelopment } from '../http/outbound.js';
import { InputError } from '../errors.js';
import type { Client } from '../storage/types.js';
import { requireTenant, type ManageDeps } from './tenants.js';
import { checkAudience, checkLifetime, checkOrigin, checkRedirectUri, LOOPBACK_HOSTS, SCOPE_TOKEN } from './validate.js';
import { formatRateLimit, parseRateLimit } from './rate_limit.js';

export const GRANT_TYPES = [
  'authorization_code',
  'implicit',
  'refresh_token',
  'client_credentials',
  'password',
  'urn:ietf:params:oauth:grant-type:device_code',
  'urn:ietf:params:oauth:grant-type:token-exchange',
] as const;

/** The longest refresh grace window a client may have (0 = none, the default). */
export const MAX_REFRESH_GRACE_SECONDS = 60;

export const ID_TOKEN_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;

/**
 * Methods a client may register. `private_key_jwt` (RFC 7523 §2.2) clients have no secret but
 * keys (`jwks` or `jwks_uri`); `client_secret_jwt` is not offered: secrets are digests (DESIGN.md §2).
 */
export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'] as const;

/** How a client proves who it is: nothing (public), a secret, or a key; a client never changes kind. */
const credentialKind = (method: string): 'public' | 'secret' | 'key' => (method === 'none' ? 'public' : method === 'private_key_jwt' ? 'key' : 'secret');

/** Every field a client has; `update` takes any subset. */
export interface ClientInput {
  name?: string;
  redirectUris?: string[];
  grantTypes?: string[];
  scopes?: string[];
  public?: boolean;
  accessTokenFormat?: string;
  accessTokenTtl?: number;
  postLogoutRedirectUris?: string[];
  corsOrigins?: string[];
  tokenEndpointAuthMethod?: string;
  jwksUri?: string;
  jwks?: object;
  consent?: string;
  webPage?: boolean;
  sessionRefreshTokens?: boolean;
  refreshGraceSeconds?: number;
  idTokenAlg?: string;
  /** OpenID Connect Back-Channel Logout 1.0 §2.2; '' or null removes it. */
  backchannelLogoutUri?: string | null;
  backchannelLogoutSessionRequired?: boolean;
  requirePar?: boolean;
  dpopBoundAccessTokens?: boolean;
  tokenExchangeSubjectClients?: string[];
  tokenExchangeAudiences?: string[];
  assertionAudienceTokenEndpoint?: boolean;
  /** Successful requests per window, `N/WINDOW` (`100/60`, `600/1m`, `5000/hour`); 'off' or null removes it. */
  rateLimit?: string | null;
}

/** What client rules depend on besides the client: the server's public URL (the loopback development exception). */
export interface ClientPolicy {
  /** When plain-http loopback, a back-channel logout URI may be http on a loopback host. Absent: https only. */
  publicUrl?: string;
}

/**
 * A URL the server calls (a back-channel logout URI, §2.2; a jwks_uri, RFC 7591 §2): absolute,
 * no fragment, no user information, https — or http on a loopback host only while the server
 * itself runs on plain-http loopback (local development and tests). An IP literal must be a
 * public address; a host name is checked again, resolved, at every call (src/http/outbound.ts).
 */
function checkCalledUri(label: string, value: string, policy: ClientPolicy): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InputError(`${label} ${JSON.stringify(value)} is not an absolute URI`);
  }
  if (value.includes('#')) throw new InputError(`${label} ${value} must not contain a fragment`);
  if (url.username || url.password) throw new InputError(`${label} ${value} must not contain user information`);
  const dev = policy.publicUrl !== undefined && isLoopbackDevelopment(policy.publicUrl);
  if (url.protocol === 'http:') {
    if (!dev || !LOOPBACK_HOSTS.has(url.hostname)) {
      throw new InputError(`${label} ${value} must use https (http is allowed only on a loopback host while the server's own public URL is http on loopback)`);
    }
  } else if (url.protocol !== 'https:') {
    throw new InputError(`${label} ${value} must use https`);
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host)) {
    const kind = addressKind(host);
    if (kind !== 'public' && !(kind === 'loopback' && dev)) throw new InputError(`${label} ${value} names a ${kind} address; the server calls nothing there`);
  }
  return value;
}

export const checkBackchannelLogoutUri = (value: string, policy: ClientPolicy): string => checkCalledUri('back-channel logout URI', value, policy);

/**
 * Response types follow from grant types as in OpenID Connect Dynamic Registration §2:
 * authorization_code → code; implicit → token, id_token, id_token token; both → hybrid.
 */
export function responseTypesFor(grantTypes: string[]): string[] {
  const code = grantTypes.includes('authorization_code');
  const implicit = grantTypes.includes('implicit');
  return [
    ...(code ? ['code'] : []),
    ...(implicit ? ['token', 'id_token', 'id_token token'] : []),
    ...(code && implicit ? ['code id_token', 'code token', 'code id_token token'] : []),
  ];
}

/**
 * A client's own keys, for verifying what it signs: public keys only. A private member
 * (RFC 7518 §6.2.2, §6.3.2, §6.4.1, RFC 8037 §2) would be stored and shown by every `show`.
 */
function checkPublicJwks(jwks: object): object {
  const keys = typeof jwks === 'object' && jwks !== null ? (jwks as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys)) throw new InputError('jwks must be a JSON Web Key Set ({"keys": [...]})');
  keys.forEach((key: unknown, i) => {
    if (typeof key !== 'object' || key === null || Array.isArray(key)) throw new InputError(`jwks key ${i} must be a JSON object`);
    const jwk = key as Record<string, unknown>;
    // RFC 7517 §4.1: kty is REQUIRED.
    if (typeof jwk.kty !== 'string' || jwk.kty === '') throw new InputError(`jwks key ${i} has no kty`);
    const secret = privateMembersOf(jwk);
    if (secret.length) throw new InputError(`jwks must contain public keys only; key ${i} has private member${secret.length > 1 ? 's' : ''} ${secret.join(', ')}`);
  });
  return jwks;
}

/** Applies `input` over `base` and checks the result as a whole. */
function apply(base: Client, input: ClientInput, maxTtl: number, policy: ClientPolicy): Client {
  const c: Client = { ...base };
  if (input.name !== undefined) {
    c.name = input.name.trim();
    if (!c.name || c.name.length > 200) throw new InputError('name must be 1–200 characters');
  }
  if (input.grantTypes !== undefined) {
    const unknown = input.grantTypes.filter((g) => !(GRANT_TYPES as readonly string[]).includes(g));
    if (unknown.length) throw new InputError(`unknown grant type ${unknown.join(', ')} (known: ${GRANT_TYPES.join(', ')})`);
    if (input.grantTypes.length === 0) throw new InputError('grant types must not be empty');
    c.grantTypes = [...new Set(input.grantTypes)];
  }
  if (input.redirectUris !== undefined) c.redirectUris = [...new Set(input.redirectUris.map(checkRedirectUri))];
  if (input.postLogoutRedirectUris !== undefined) c.postLogoutRedirectUris = [...new Set(input.postLogoutRedirectUris.map(checkRedirectUri))];
  if (input.corsOrigins !== undefined) c.corsOrigins = [...new Set(input.corsOrigins.map(checkOrigin))];
  if (input.scopes !== undefined) {
    const bad = input.scopes.find((s) => !SCOPE_TOKEN.test(s));
    if (bad !== undefined) throw new InputError(`scope ${JSON.stringify(bad)} is not a valid scope name (RFC 6749 §3.3)`);
    c.scopes = [...new Set(input.scopes)];
  }
  if (input.accessTokenFormat !== undefined) {
    if (input.accessTokenFormat !== 'jwt' && input.accessTokenFormat !== 'opaque') throw new InputError('access token format must be jwt or opaque');
    c.accessTokenFormat = input.accessTokenFormat;
  }
  if (input.accessTokenTtl !== undefined) c.accessTokenTtl = checkLifetime('access token lifetime', input.accessTokenTtl, maxTtl) ?? null;
  if (input.consent !== undefined) {
    if (input.consent !== 'required' && input.consent !== 'skip') throw new InputError('consent must be required or skip');
    c.consent = input.consent;
  }
  if (input.webPage !== undefined) c.webPage = input.webPage;
  if (input.rateLimit !== undefined) c.rateLimit = parseRateLimit(input.rateLimit);
  if (input.sessionRefreshTokens !== undefined) c.sessionRefreshTokens = input.sessionRefreshTokens;
  if (input.refreshGraceSeconds !== undefined) {
    // A window long enough for a client's concurrent retries, short enough that a stolen,
    // rotated-out token is still caught (ORY Hydra caps its grace period similarly).
    const s = input.refreshGraceSeconds;
    if (!Number.isInteger(s) || s < 0 || s > MAX_REFRESH_GRACE_SECONDS) throw new InputError(`refresh grace seconds must be a whole number from 0 to ${MAX_REFRESH_GRACE_SECONDS}`);
    c.refreshGraceSeconds = s;
  }
  if (input.idTokenAlg !== undefined) {
    // Asymmetric only: secrets are stored as digests, so HS* ID tokens cannot be offered (DESIGN.md §2).
    if (!ID_TOKEN_ALGS.includes(input.idTokenAlg as never)) throw new InputError(`ID token algorithm must be one of ${ID_TOKEN_ALGS.join(', ')}`);
    c.idTokenAlg = input.idTokenAlg as Client['idTokenAlg'];
  }
  if (input.backchannelLogoutUri !== undefined) {
    c.backchannelLogoutUri = input.backchannelLogoutUri === null || input.backchannelLogoutUri === '' ? null : checkBackchannelLogoutUri(input.backchannelLogoutUri, policy);
  }
  if (input.backchannelLogoutSessionRequired !== undefined) c.backchannelLogoutSessionRequired = input.backchannelLogoutSessionRequired;
  if (input.requirePar !== undefined) c.requirePar = input.requirePar;
  if (input.dpopBoundAccessTokens !== undefined) c.dpopBoundAccessTokens = input.dpopBoundAccessTokens;
  if (input.assertionAudienceTokenEndpoint !== undefined) c.assertionAudienceTokenEndpoint = input.assertionAudienceTokenEndpoint;
  if (input.tokenExchangeSubjectClients !== undefined) c.tokenExchangeSubjectClients = [...new Set(input.tokenExchangeSubjectClients.map((s) => s.trim()).filter(Boolean))];
  if (input.tokenExchangeAudiences !== undefined) c.tokenExchangeAudiences = [...new Set(input.tokenExchangeAudiences.map(checkAudience))];
  // RFC 7591 §2: jwks_uri and jwks MUST NOT both be present, so setting one drops the other.
  if (input.jwksUri !== undefined && input.jwks !== undefined) throw new InputError('give a jwks URI or a jwks, not both (RFC 7591 §2)');
  if (input.jwksUri !== undefined) {
    c.jwksUri = checkCalledUri('jwks URI', input.jwksUri, policy);
    c.jwks = null;
  }
  if (input.jwks !== undefined) {
    c.jwks = checkPublicJwks(input.jwks);
    c.jwksUri = null;
  }
  if (input.tokenEndpointAuthMethod !== undefined) {
    if (!(AUTH_METHODS as readonly string[]).includes(input.tokenEndpointAuthMethod)) {
      throw new InputError(`token endpoint auth method must be one of ${AUTH_METHODS.join(', ')}`);
    }
    c.tokenEndpointAuthMethod = input.tokenEndpointAuthMethod;
  }
  if (c.tokenEndpointAuthMethod === 'none' && c.grantTypes.includes('client_credentials')) {
    // RFC 6749 §4.4: the client credentials grant is for confidential clients only.
    throw new InputError('a public client cannot use the client_credentials grant');
  }
  if (c.tokenEndpointAuthMethod === 'private_key_jwt' && c.jwks === null && c.jwksUri === null) {
    // RFC 7523 §2.2: the server verifies the client's assertions with keys it registered.
    throw new InputError('a private_key_jwt client needs its public keys: give jwks or a jwks URI');
  }
  return c;
}

export interface CreatedClient {
  client: Client;
  /** Shown once: only its digest is stored. */
  secret?: string;
}

export async function createClient(deps: ManageDeps, tenantId: string, input: ClientInput, maxTtl: number, policy: ClientPolicy = {}): Promise<CreatedClient> {
  await requireTenant(deps, tenantId);
  if (input.name === undefined) throw new InputError('name is required');
  const isPublic = input.public === true || input.tokenEndpointAuthMethod === 'none';
  if (input.public && input.tokenEndpointAuthMethod && input.tokenEndpointAuthMethod !== 'none') {
    throw new InputError('a public client has no secret: its token endpoint auth method is none');
  }
  const now = seconds(deps.clock);
  // A private_key_jwt client proves itself with its keys: it gets no secret (RFC 7523 §2.2).
  const secret = isPublic || input.tokenEndpointAuthMethod === 'private_key_jwt' ? undefined : secretValue(deps.random);
  const base: Client = {
    tenantId, clientId: identifier(deps.random), name: '', secretDigest: secret ? digest(secret) : null,
    tokenEndpointAuthMethod: isPublic ? 'none' : 'client_secret_basic',
    grantTypes: ['authorization_code', 'refresh_token'], redirectUris: [], postLogoutRedirectUris: [], corsOrigins: [],
    scopes: [], accessTokenFormat: 'jwt', accessTokenTtl: null, consent: 'required', webPage: false,
    sessionRefreshTokens: false, refreshGraceSeconds: 0, idTokenAlg: null, jwks: null, jwksUri: null,
    backchannelLogoutUri: null, backchannelLogoutSessionRequired: true,
    requirePar: false, dpopBoundAccessTokens: false, tokenExchangeSubjectClients: [], tokenExchangeAudiences: [], assertionAudienceTokenEndpoint: false, notBefore: 0, createdAt: now, updatedAt: now,
  };
  const client = apply(base, { ...input, tokenEndpointAuthMethod: isPublic ? 'none' : input.tokenEndpointAuthMethod }, maxTtl, policy);
  await deps.storage.clients.create(client);
  await recordAudit(deps, tenantId, { type: 'client.created', actor: deps.actor ?? OPERATOR, clientId: client.clientId, detail: { name: client.name } });
  return { client, secret };
}

export async function requireClient(deps: ManageDeps, tenantId: string, clientId: string): Promise<Client> {
  await requireTenant(deps, tenantId);
  const c = await deps.storage.clients.get(tenantId, clientId);
  if (!c) throw new InputError(`tenant ${tenantId} has no client ${clientId}`, 'not_found');
  return c;
}

export async function updateClient(deps: ManageDeps, tenantId: string, clientId: string, input: ClientInput, maxTtl: number, policy: ClientPolicy = {}): Promise<Client> {
  const current = await requireClient(deps, tenantId, clientId);
  const kindNow = credentialKind(current.tokenEndpointAuthMethod);
  const kindNext = input.tokenEndpointAuthMethod === undefined ? kindNow : credentialKind(input.tokenEndpointAuthMethod);
  if (input.public !== undefined || (kindNow === 'public') !== (kindNext === 'public')) {
    throw new InputError('a client cannot change between public and confidential; create a new client');
  }
  if (kindNow !== kindNext && (AUTH_METHODS as readonly string[]).includes(input.tokenEndpointAuthMethod!)) {
    // A secret client has no keys to switch to, and a key client no secret: its credential is fixed at creation.
    throw new InputError('a client cannot change between a secret and private_key_jwt; create a new client');
  }
  const next = apply(current, input, maxTtl, policy);
  next.updatedAt = seconds(deps.clock);
  await deps.storage.clients.update(next);
  await recordAudit(deps, tenantId, { type: 'client.updated', actor: deps.actor ?? OPERATOR, clientId, detail: { fields: changedFields(input) } });
  return next;
}

export async function deleteClient(deps: ManageDeps, tenantId: string, clientId: string): Promise<void> {
  await requireClient(deps, tenantId, clientId);
  await deps.storage.clients.delete(tenantId, clientId);
  await recordAudit(deps, tenantId, { type: 'client.deleted', actor: deps.actor ?? OPERATOR, clientId });
}

/**
 * Gives a secret client a new secret (256 bits, shown once, stored as its digest); the old one
 * stops working at once. Public and private_key_jwt clients have none to rotate.
 */
export async function rotateClientSecret(deps: ManageDeps, tenantId: string, clientId: string): Promise<CreatedClient> {
  const current = await requireClient(deps, tenantId, clientId);
  if (credentialKind(current.tokenEndpointAuthMethod) !== 'secret') {
    throw new InputError(`client ${clientId} has no secret to rotate (its token endpoint auth method is ${current.tokenEndpointAuthMethod})`);
  }
  const secret = secretValue(deps.random);
  const client: Client = { ...current, secretDigest: digest(secret), updatedAt: seconds(deps.clock) };
  await deps.storage.clients.update(client);
  await recordAudit(deps, tenantId, { type: 'client.secret_rotated', actor: deps.actor ?? OPERATOR, clientId });
  return { client, secret };
}

/** The names of the fields an update gave, never their values. */
export const changedFields = (input: object): string[] =>
  Object.entries(input).filter(([, v]) => v !== undefined).map(([k]) => k).sort();

/** The client as RFC 7591 §3.2.1 names its metadata; never includes the secret digest. */
export function clientView(c: Client, secret?: string): Record<string, unknown> {
  return {
    client_id: c.clientId,
    ...(secret !== undefined && { client_secret: secret }),
    tenant: c.tenantId,
    client_name: c.name,
    token_endpoint_auth_method: c.tokenEndpointAuthMethod,
    grant_types: c.grantTypes,
    response_types: responseTypesFor(c.grantTypes),
    redirect_uris: c.redirectUris,
    post_logout_redirect_uris: c.postLogoutRedirectUris,
    cors_origins: c.corsOrigins,
    scope: c.scopes.join(' '),
    access_token_format: c.accessTokenFormat,
    access_token_ttl: c.accessTokenTtl,
    consent: c.consent,
    web_page: c.webPage,
    session_refresh_tokens: c.sessionRefreshTokens,
    refresh_token_grace_seconds: c.refreshGraceSeconds,
    id_token_signed_response_alg: c.idTokenAlg ?? 'RS256',
    ...(c.jwksUri !== null && { jwks_uri: c.jwksUri }),
    ...(c.jwks !== null && { jwks: c.jwks }),
    backchannel_logout_uri: c.backchannelLogoutUri,
    backchannel_logout_session_required: c.backchannelLogoutSessionRequired,
    require_pushed_authorization_requests: c.requirePar,
    dpop_bound_access_tokens: c.dpopBoundAccessTokens,
    token_exchange: { subject_clients: c.tokenExchangeSubjectClients, audiences: c.tokenExchangeAudiences },
    client_assertion_audience_token_endpoint: c.assertionAudienceTokenEndpoint,
    // Shown only when set: off is the default, and most clients never have one.
    ...(c.rateLimit && { rate_limit: formatRateLimit(c.rateLimit) }),
    created_at: c.createdAt,
    updated_at: c.updatedAt,
  };
}
