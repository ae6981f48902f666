import { seconds } from '../clock.js';
import { identifier } from '../crypto/random.js';
import type { SenderBinding } from '../dpop/binding.js';
import { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import type { Client } from '../storage/types.js';
import { newOpaqueValue, storageKey } from './opaque.js';

export interface AccessTokenRequest {
  client: Client;
  /** The user's id, or the client's for client_credentials (RFC 9068 §2.2). */
  subject: string;
  grantId: string;
  scopes: string[];
  audience: string[];
  ttl: number;
  /** RFC 8693 §4.1: the actor of a token obtained by token exchange (JWT format only). */
  act?: Record<string, unknown>;
}

/**
 * The `jti` of a JWT access token. One issued under a user's grant is `{grantId}.{random}`,
 * so revoking the grant (code reuse, refresh-family reuse, revocation of its refresh token,
 * the user or client deleted) kills it with no write at issuance: `readAccessToken` looks
 * the grant up by the id in the jti, as it does for an opaque token's row. That is cheaper
 * than recording every jti (an insert per token) and needs no private claim; the jti stays
 * unique (grant ids and the random part are ≥128-bit identifiers, neither contains ".").
 * A client_credentials token (grant `cc.{client}`, never stored for JWTs) keeps a plain
 * random jti: its issuance stays free of any lookup, and it is revoked by jti alone.
 */
export function accessTokenJti(grantId: string, random: () => string): string {
  return grantId.startsWith(CLIENT_GRANT_PREFIX) ? random() : `${grantId}.${random()}`;
}

/** The user grant a JWT access token's jti names, if any (see `accessTokenJti`). */
export function grantOfJti(jti: string): string | undefined {
  const dot = jti.indexOf('.');
  return dot > 0 ? jti.slice(0, dot) : undefined;
}

/** Grant ids of client_credentials grants: `cc.{client_id}` (grants/client_credentials.ts). */
const CLIENT_GRANT_PREFIX = 'cc.';

/**
 * Client grants known to exist per store, so the opaque path inserts each once per process.
 * Only `cc.` grants are remembered: there is one per client, while user grants come and go
 * (remembering those would grow without bound; their flows create them anyway).
 */
const ensuredGrants = new WeakMap<object, Set<string>>();

/**
 * Mints an access token in the client's format: a JWT per RFC 9068 signed with the
 * tenant's active access key (verifiable by any API without a call back), or an opaque
 * value (256 random bits) whose digest is stored with its grant before the response is sent.
 */
export async function issueAccessToken(ctx: TenantContext & { sender?: SenderBinding }, req: AccessTokenRequest): Promise<{ value: string; expiresIn: number }> {
  const { services } = ctx;
  const iat = seconds(services.clock);
  const exp = iat + req.ttl;
  if (req.client.accessTokenFormat === 'jwt') {
    const ring = services.cache.peekKeyRing(ctx.tenant.id) ?? (await services.cache.keyRing(ctx.tenant.id));
    const signer = ring.signer('access');
    if (!signer) throw new OAuthError('server_error', 'the tenant has no active signing key', { detail: ctx.tenant.id });
    // RFC 9068 §2.2: iss, exp, aud, sub, client_id, iat, jti; scope when any (§2.2.3).
    const value = signer.sign({
      iss: ctx.issuer,
      sub: req.subject,
      aud: req.audience.length === 1 ? req.audience[0] : req.audience,
      client_id: req.client.clientId,
      ...(req.scopes.length > 0 && { scope: req.scopes.join(' ') }),
      ...(req.act !== undefined && { act: req.act }),
      iat,
      exp,
      jti: accessTokenJti(req.grantId, () => identifier(services.random)),
      // RFC 9449 §6.1: bound to the key of the token request's DPoP proof.
      ...(ctx.sender && { cnf: { jkt: ctx.sender.jkt } }),
    });
    return { value, expiresIn: req.ttl };
  }
  const value = newOpaqueValue(services.clock, services.random);
  let ensured = ensuredGrants.get(services.storage);
  if (!ensured) ensuredGrants.set(services.storage, (ensured = new Set()));
  if (!ensured.has(req.grantId)) {
    await services.storage.grants.ensure({
      id: req.grantId, tenantId: ctx.tenant.id, clientId: req.client.clientId, subject: null,
      scope: req.client.scopes.join(' '), createdAt: iat, expiresAt: null, revokedAt: null,
    });
    if (req.grantId.startsWith(CLIENT_GRANT_PREFIX)) ensured.add(req.grantId);
  }
  await services.storage.accessTokens.insert({
    digest: storageKey(value), tenantId: ctx.tenant.id, grantId: req.grantId, clientId: req.client.clientId,
    subject: req.subject, scope: req.scopes.join(' '), audience: req.audience, issuedAt: iat, expiresAt: exp, revokedAt: null,
    ...(ctx.sender && { jkt: ctx.sender.jkt }),
  });
  return { value, expiresIn: req.ttl };
}
