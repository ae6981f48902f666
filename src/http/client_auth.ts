import type { FastifyRequest } from 'fastify';
import { decodeJwt } from 'jose';
import { auditClientAuthFailure } from '../audit_refusals.js';
import { secretMatchesDigest } from '../crypto/digest.js';
import { OAuthError } from '../errors.js';
import type { Api, Client } from '../storage/types.js';
import { authenticateByAssertion } from './client_assertion.js';
import { throttledAuthentication } from './client_auth_throttle.js';
import type { TenantContext } from './context.js';
import type { FormParams } from './form.js';

/** The client a request authenticated as, and how. */
export interface AuthenticatedClient {
  client: Client;
  method: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
}

const PRIVATE_KEY_JWT_ONLY = 'the client must authenticate with a client assertion (private_key_jwt)';

/** A digest no secret matches: unknown clients cost the same comparison as known ones. */
const DUMMY_DIGEST = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

function invalidClient(ctx: TenantContext, description: string, detail?: unknown): OAuthError {
  // RFC 6749 §5.2: 401 with a WWW-Authenticate challenge for the scheme the client can use.
  return new OAuthError('invalid_client', description, {
    status: 401,
    headers: { 'www-authenticate': `Basic realm="${ctx.tenant.id}", charset="UTF-8"` },
    detail,
  });
}

/** Whether the request authenticates with a client assertion (RFC 7521 §4.2); two lookups, so the secret path stays as fast. */
const hasAssertion = (params: FormParams) => params.get('client_assertion') !== undefined || params.get('client_assertion_type') !== undefined;

/** RFC 7523 §2.2: the assertion is the only client credential of the request. */
function byAssertion(ctx: TenantContext, req: FastifyRequest, params: FormParams): Promise<Client> {
  // RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
  if (req.headers.authorization !== undefined && /^\s*basic\b/i.test(req.headers.authorization)) {
    throw new OAuthError('invalid_request', 'client credentials were given both in the authorization header and as a client assertion');
  }
  if (params.get('client_secret') !== undefined) throw new OAuthError('invalid_request', 'client_secret and client_assertion must not be used together');
  return authenticateByAssertion(ctx, params, (description, detail) => invalidClient(ctx, description, detail));
}

/** RFC 6749 §2.3.1: id and secret are form-encoded before they are joined with ":". */
function formDecode(s: string): string {
  if (!/[%+]/.test(s)) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new OAuthError('invalid_request', 'malformed client credentials in the authorization header');
  }
}

function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() !== 'basic') return undefined;
  const decoded = Buffer.from(value ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new OAuthError('invalid_request', 'malformed client credentials in the authorization header');
  const id = formDecode(decoded.slice(0, colon));
  // RFC 6749 Appendix A: a client_id is VSCHARs. A NUL cannot even be compared by PostgreSQL (found by the fuzzer).
  if (id.includes('\u0000')) throw new OAuthError('invalid_request', 'malformed client credentials in the authorization header');
  return { id, secret: formDecode(decoded.slice(colon + 1)) };
}

/**
 * The client id a request claims — `client_id` in the body, the Basic header's, or a client
 * assertion's `sub` (RFC 7523 §3: the client_id) — unverified: a throttle key and an audit
 * field, never an identity. Undefined when absent or malformed (a malformed header is an
 * invalid_request, never a failed authentication). An assertion's `sub` may hold anything,
 * a NUL included: each user of the id bounds it for its store (audit_refusals.ts, client_auth_throttle.ts).
 */
export function claimedClientId(req: FastifyRequest, params: FormParams): string | undefined {
  const id = params.get('client_id');
  if (id !== undefined) return id;
  try {
    const basic = basicCredentials(req.headers.authorization)?.id;
    if (basic !== undefined) return basic;
  } catch {
    return undefined;
  }
  const assertion = params.get('client_assertion');
  if (assertion === undefined) return undefined;
  try {
    const { sub } = decodeJwt(assertion);
    return typeof sub === 'string' ? sub : undefined;
  } catch {
    return undefined;
  }
}

/** The credentials a request presents: HTTP Basic or the body, never both (RFC 6749 §2.3). */
function presentedCredentials(ctx: TenantContext, req: FastifyRequest, params: FormParams) {
  const basic = basicCredentials(req.headers.authorization);
  const bodyId = params.get('client_id');
  const bodySecret = params.get('client_secret');
  if (basic && bodySecret !== undefined) {
    // RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request.
    throw new OAuthError('invalid_request', 'client credentials were given both in the authorization header and in the body');
  }
  if (basic && bodyId !== undefined && bodyId !== basic.id) {
    throw new OAuthError('invalid_request', 'client_id in the body does not match the authorization header');
  }
  const id = basic?.id ?? bodyId;
  if (!id) throw invalidClient(ctx, 'client authentication is required');
  return { id, secret: basic?.secret ?? bodySecret, basic: basic !== undefined };
}

/**
 * Authenticates the client of a token-endpoint request (RFC 6749 §2.3): HTTP Basic, or
 * `client_id` + `client_secret` in the body, or `client_id` alone for a public client, or a
 * client assertion (RFC 7523 §2.2) for a `private_key_jwt` client. Secret clients may use
 * either secret method (§2.3.1: servers MUST support Basic); the others only their own.
 */
export async function authenticateClient(ctx: TenantContext, req: FastifyRequest, params: FormParams): Promise<AuthenticatedClient> {
  try {
    return await throttledAuthentication(ctx, req, params, () => authenticateTokenClient(ctx, req, params));
  } catch (err) {
    auditClientAuthFailure(ctx, req, params, err);
    throw err;
  }
}

async function authenticateTokenClient(ctx: TenantContext, req: FastifyRequest, params: FormParams): Promise<AuthenticatedClient> {
  if (hasAssertion(params)) return { client: await byAssertion(ctx, req, params), method: 'private_key_jwt' };
  const { id, secret, basic } = presentedCredentials(ctx, req, params);
  const { cache } = ctx.services;
  const client = cache.peekClient(ctx.tenant.id, id) ?? (await cache.client(ctx.tenant.id, id));

  if (client && client.tokenEndpointAuthMethod === 'none') {
    if (secret !== undefined) throw invalidClient(ctx, 'client authentication failed');
    return { client, method: 'none' };
  }
  if (client && client.tokenEndpointAuthMethod === 'private_key_jwt') throw invalidClient(ctx, PRIVATE_KEY_JWT_ONLY);
  if (secret === undefined) throw invalidClient(ctx, 'client authentication failed');
  // Compare even when the client is unknown, so timing does not tell which ids exist.
  const matches = secretMatchesDigest(secret, client?.secretDigest ?? DUMMY_DIGEST);
  if (!client || !matches) throw invalidClient(ctx, 'client authentication failed');
  return { client, method: basic ? 'client_secret_basic' : 'client_secret_post' };
}

/** Who may introspect (RFC 7662 §2.1): a confidential client, or an API with its resource-server credentials. */
export type Introspector = { kind: 'client'; client: Client } | { kind: 'api'; api: Api };

/**
 * Authenticates an introspection request (RFC 7662 §2.1, SECURITY-CHECKLIST 45): a client
 * by its secret or its client assertion, as at the token endpoint, or an API by the
 * credentials `tessera api create` printed (its id and secret). A public client has nothing
 * to prove who it is with, so it is refused like a wrong secret.
 */
export async function authenticateIntrospector(ctx: TenantContext, req: FastifyRequest, params: FormParams): Promise<Introspector> {
  try {
    return await throttledAuthentication(ctx, req, params, () => authenticateIntrospectorOnce(ctx, req, params));
  } catch (err) {
    auditClientAuthFailure(ctx, req, params, err, 'security.introspection_refused');
    throw err;
  }
}

async function authenticateIntrospectorOnce(ctx: TenantContext, req: FastifyRequest, params: FormParams): Promise<Introspector> {
  if (hasAssertion(params)) return { kind: 'client', client: await byAssertion(ctx, req, params) };
  const { id, secret } = presentedCredentials(ctx, req, params);
  const { cache } = ctx.services;
  const client = cache.peekClient(ctx.tenant.id, id) ?? (await cache.client(ctx.tenant.id, id));
  const api = client ? undefined : (cache.peekApiIndex(ctx.tenant.id) ?? (await cache.apiIndex(ctx.tenant.id))).list.find((a) => a.id === id);
  if (client?.tokenEndpointAuthMethod === 'private_key_jwt') throw invalidClient(ctx, PRIVATE_KEY_JWT_ONLY);
  const stored = client ? client.secretDigest : api?.secretDigest;
  if (secret === undefined) throw invalidClient(ctx, 'client authentication failed');
  // Compare even when there is nothing to compare with, so timing does not tell which ids exist.
  const matches = secretMatchesDigest(secret, stored ?? DUMMY_DIGEST);
  if (!matches || !stored) throw invalidClient(ctx, 'client authentication failed');
  return client ? { kind: 'client', client } : { kind: 'api', api: api! };
}
