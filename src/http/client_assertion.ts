import { compactVerify, decodeJwt, decodeProtectedHeader, errors, type JWSHeaderParameters, type JWTPayload } from 'jose';
import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { InputError, type OAuthError } from '../errors.js';
import type { Client } from '../storage/types.js';
import { assertionKeys } from './client_jwks.js';
import { endpointUrl, type TenantContext } from './context.js';
import type { FormParams } from './form.js';
import { isLoopbackDevelopment, OutboundError } from './outbound.js';

/**
 * `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OIDC Core §9): the client
 * proves who it is with a JWT signed by one of its registered keys. `client_secret_jwt` is
 * not offered: secrets are stored as digests (DESIGN.md §2).
 */

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Asymmetric algorithms only: never `none`, never HS* (an HMAC keyed with a public key proves nothing). */
export const ASSERTION_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
const ALGS: ReadonlySet<string> = new Set(ASSERTION_ALGS);

/** How far ahead `exp` may be: an assertion is a one-time proof, not a credential to keep. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
/** Tolerated clock difference between the client and the server. */
export const ASSERTION_LEEWAY_SECONDS = 30;

/** Makes the 401 invalid_client error (client_auth.ts) for a description, with what is logged only. */
export type InvalidClient = (description: string, detail?: unknown) => OAuthError;

/** A header or claim value as it may be shown: short, quoted. */
const shown = (value: unknown): string => JSON.stringify(String(value)).slice(0, 80);

const loopbackDev = new Map<string, boolean>();
function allowLoopback(publicUrl: string): boolean {
  let dev = loopbackDev.get(publicUrl);
  if (dev === undefined) loopbackDev.set(publicUrl, (dev = isLoopbackDevelopment(publicUrl)));
  return dev;
}

/** The registered client the assertion names, with its header and claims, before any signature check. */
async function claimedClient(ctx: TenantContext, params: FormParams, invalid: InvalidClient) {
  const type = params.get('client_assertion_type');
  const assertion = params.get('client_assertion');
  // RFC 7521 §4.2: both parameters, and this server supports the JWT bearer type only.
  if (type === undefined) throw invalid('client_assertion_type is required with client_assertion');
  if (type !== CLIENT_ASSERTION_TYPE) throw invalid(`client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`);
  if (assertion === undefined) throw invalid('client_assertion is required with client_assertion_type');
  let header: JWSHeaderParameters;
  let claims: JWTPayload;
  try {
    header = decodeProtectedHeader(assertion) as JWSHeaderParameters;
    claims = decodeJwt(assertion);
  } catch {
    throw invalid('client_assertion is not a well-formed signed JWT');
  }
  if (typeof header.alg !== 'string' || !ALGS.has(header.alg)) {
    throw invalid(`client assertion alg ${shown(header.alg)} is not accepted; use one of ${ASSERTION_ALGS.join(', ')}`);
  }
  // RFC 7523 §3 items 1–2: iss and sub are both the client_id.
  if (typeof claims.sub !== 'string' || claims.sub === '') throw invalid('client assertion has no sub claim');
  // RFC 6749 Appendix A: a client_id is VSCHARs; a NUL cannot even be looked up in PostgreSQL (found by the fuzzer).
  if (claims.sub.includes('\u0000')) throw invalid('client assertion sub is not a valid client_id');
  if (claims.iss !== claims.sub) throw invalid('client assertion iss and sub must both be the client_id');
  const clientId = params.get('client_id');
  if (clientId !== undefined && clientId !== claims.sub) throw invalid('client_id does not match the client assertion sub');
  const { cache } = ctx.services;
  const client = cache.peekClient(ctx.tenant.id, claims.sub) ?? (await cache.client(ctx.tenant.id, claims.sub));
  if (!client) throw invalid('client authentication failed');
  // The method must be the registered one: a secret client cannot switch to assertions, nor back.
  if (client.tokenEndpointAuthMethod !== 'private_key_jwt') throw invalid('the client is not registered for private_key_jwt authentication');
  return { client, assertion, header, claims };
}

/** RFC 7515 §5.2: the signature, by a key of the client that fits the header (alg, kid). */
async function checkSignature(ctx: TenantContext, client: Client, assertion: string, header: JWSHeaderParameters, invalid: InvalidClient): Promise<void> {
  let keys;
  try {
    keys = await assertionKeys(client, header, { nowMs: ctx.services.clock.now(), allowLoopback: allowLoopback(ctx.services.config.publicUrl) });
  } catch (err) {
    if (err instanceof OutboundError) throw invalid(`the client's jwks_uri could not be fetched: ${err.message}`, err);
    if (err instanceof errors.JWKSNoMatchingKey) {
      throw invalid(header.kid === undefined ? `no key of the client fits alg ${header.alg}` : `no key of the client has kid ${shown(header.kid)} and fits alg ${header.alg}`);
    }
    throw invalid('the keys of the client cannot be used', err);
  }
  for (const key of keys) {
    try {
      await compactVerify(assertion, key, { algorithms: [...ASSERTION_ALGS] });
      return;
    } catch {
      // The next candidate key, if any.
    }
  }
  throw invalid('client assertion signature is invalid');
}

/** RFC 7523 §3 items 3–7 and OIDC Core §9: aud, exp, nbf, iat and jti. */
function checkClaims(ctx: TenantContext, client: Client, claims: JWTPayload, now: number, invalid: InvalidClient): { jti: string; exp: number } {
  const issuer = ctx.issuer;
  const tokenEndpoint = endpointUrl(issuer, 'token');
  const compat = client.assertionAudienceTokenEndpoint;
  const accepted = (a: unknown) => a === issuer || (compat && a === tokenEndpoint);
  // §3 item 3: aud identifies this server. Only its issuer, as a single string, unless the
  // client is switched to accept the canonical token endpoint too (never an alias path).
  const { aud } = claims;
  const audOk = typeof aud === 'string' ? accepted(aud) : compat && Array.isArray(aud) && aud.length > 0 && aud.every(accepted);
  if (!audOk) {
    if (compat) throw invalid(`client assertion aud must be the issuer ${issuer} or the token endpoint ${tokenEndpoint}`);
    throw invalid(Array.isArray(aud) ? `client assertion aud must be a single string, the issuer ${issuer}` : `client assertion aud must be the issuer ${issuer}`);
  }
  const { exp, nbf, iat, jti } = claims;
  // §3 item 4: exp is required and has not passed; it must also be near, so a leaked assertion is soon useless.
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw invalid('client assertion has no exp claim');
  if (exp + ASSERTION_LEEWAY_SECONDS <= now) throw invalid('client assertion has expired');
  if (exp > now + MAX_ASSERTION_LIFETIME_SECONDS + ASSERTION_LEEWAY_SECONDS) throw invalid(`client assertion exp is more than ${MAX_ASSERTION_LIFETIME_SECONDS} seconds ahead`);
  // §3 items 5–6: nbf and iat, when present, are not in the future.
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + ASSERTION_LEEWAY_SECONDS)) throw invalid('client assertion is not valid yet (nbf)');
  if (iat !== undefined && (typeof iat !== 'number' || iat > now + ASSERTION_LEEWAY_SECONDS)) throw invalid('client assertion iat is in the future');
  // §3 item 7 and OIDC Core §9: jti is required here, so that each assertion is used once.
  if (typeof jti !== 'string' || jti === '') throw invalid('client assertion has no jti claim');
  return { jti, exp };
}

/**
 * Authenticates the client that sent `client_assertion`: the JWT must be signed by one of the
 * client's keys, name it in iss and sub, be meant for this issuer, be short-lived, and not
 * have been used before — on any node: its jti is recorded as an artifact until it expires,
 * and of concurrent uses exactly one can create that row.
 */
export async function authenticateByAssertion(ctx: TenantContext, params: FormParams, invalid: InvalidClient): Promise<Client> {
  const { client, assertion, header, claims } = await claimedClient(ctx, params, invalid);
  await checkSignature(ctx, client, assertion, header, invalid);
  const now = seconds(ctx.services.clock);
  const { jti, exp } = checkClaims(ctx, client, claims, now, invalid);
  try {
    await ctx.services.storage.artifacts.create({
      digest: digest(`client_assertion\u0000${ctx.tenant.id}\u0000${client.clientId}\u0000${jti}`),
      tenantId: ctx.tenant.id, kind: 'client_assertion_jti', grantId: null, clientId: client.clientId,
      data: {}, createdAt: now, expiresAt: exp + ASSERTION_LEEWAY_SECONDS, usedAt: now,
    });
  } catch (err) {
    if (err instanceof InputError && err.code === 'conflict') throw invalid('client assertion was already used (its jti was seen before)');
    throw err;
  }
  return client;
}
