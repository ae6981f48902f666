import type { FastifyReply, FastifyRequest } from 'fastify';
import { digest, secretMatchesDigest } from '../crypto/digest.js';
import { secretValue } from '../crypto/random.js';
import { OAuthError } from '../errors.js';
import { bearerError, headerBearerToken } from '../http/bearer.js';
import type { TenantContext } from '../http/context.js';
import { createClient, deleteClient, updateClient } from '../manage/clients.js';
import { DCR_ACTOR } from '../manage/dcr.js';
import { clientInputFromMetadata, metadataChecked, registrationView } from '../manage/dcr_metadata.js';
import { dcrPolicyOf } from '../manage/dcr_policy.js';
import type { ManageDeps } from '../manage/tenants.js';
import type { DcrPolicy } from '../storage/types.js';

/** Keycloak's path for OIDC dynamic registration, under the issuer. */
export const REGISTRATION_PATH = '/clients-registrations/openid-connect';

/** Off (the default) the endpoint does not exist for the tenant: 404, as for any unknown path. */
function enabledPolicy(ctx: TenantContext): DcrPolicy {
  const policy = dcrPolicyOf(ctx.tenant.dcr);
  if (!policy.enabled) throw new OAuthError('not_found', 'dynamic client registration is not enabled for this tenant');
  return policy;
}

const deps = (ctx: TenantContext): ManageDeps => ({ storage: ctx.services.storage, clock: ctx.services.clock, random: ctx.services.random, actor: DCR_ACTOR });
const limits = (ctx: TenantContext) => [ctx.services.config.tokens.maxAccessTokenTtl, { publicUrl: ctx.services.config.publicUrl }] as const;
const clientUri = (ctx: TenantContext, clientId: string) => `${ctx.issuer}${REGISTRATION_PATH}/${encodeURIComponent(clientId)}`;

/**
 * RFC 7591 §3: registers a client. Unless the tenant allows open registration, the request
 * carries an initial access token (RFC 6750 bearer); a use counts only once the metadata passed
 * every check, so a refused request does not use up a single-use token.
 */
export async function clientRegistrationEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const policy = enabledPolicy(ctx);
  const { storage, clock } = ctx.services;
  const now = Math.floor(clock.now() / 1000);
  const presented = headerBearerToken(req);
  let initialTokenId: string | undefined;
  if (!policy.open || presented !== undefined) {
    if (presented === undefined) throw bearerError(ctx, 'invalid_token', 'an initial access token is required', false);
    const found = await storage.dcr.findInitialToken(ctx.tenant.id, digest(presented), now);
    if (!found) throw bearerError(ctx, 'invalid_token', 'the initial access token is invalid, expired, revoked or used up', true);
    initialTokenId = found.id;
  }
  const input = clientInputFromMetadata(req.body, policy);
  const { client, secret } = await metadataChecked(() => createClient(deps(ctx), ctx.tenant.id, input, ...limits(ctx)));
  // RFC 7591 §3: consume the token atomically; a concurrent request that used the last use wins.
  if (initialTokenId !== undefined && !(await storage.dcr.useInitialToken(ctx.tenant.id, initialTokenId, now))) {
    await deleteClient(deps(ctx), ctx.tenant.id, client.clientId);
    throw bearerError(ctx, 'invalid_token', 'the initial access token is invalid, expired, revoked or used up', true);
  }
  const registrationToken = secretValue(ctx.services.random);
  await storage.dcr.setRegistration(ctx.tenant.id, client.clientId, digest(registrationToken));
  return reply.code(201).header('cache-control', 'no-store').send(registrationView(client, clientUri(ctx, client.clientId), registrationToken, secret));
}

/**
 * RFC 7592 §2: read, replace or delete a registered client with its registration access token.
 * An unknown client, one an operator made, and a wrong token all answer the same 401 (§2.1),
 * so the endpoint tells nothing about which clients exist.
 */
export async function clientConfigurationEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const policy = enabledPolicy(ctx);
  const clientId = (req.params as { clientId: string }).clientId;
  const presented = headerBearerToken(req);
  if (presented === undefined) throw bearerError(ctx, 'invalid_token', 'a registration access token is required', false);
  const stored = await ctx.services.storage.dcr.registrationDigest(ctx.tenant.id, clientId);
  const client = stored && secretMatchesDigest(presented, stored) ? await ctx.services.storage.clients.get(ctx.tenant.id, clientId) : undefined;
  if (!client) throw bearerError(ctx, 'invalid_token', 'the registration access token is invalid', true);
  reply.header('cache-control', 'no-store');
  if (req.method === 'DELETE') {
    await deleteClient(deps(ctx), ctx.tenant.id, clientId);
    return reply.code(204).send();
  }
  if (req.method === 'GET') return reply.send(registrationView(client, clientUri(ctx, clientId), presented));
  // RFC 7592 §2.2: the body carries client_id, equal to the client's; a client_secret, if any, must be the current one.
  const body = (req.body ?? {}) as Record<string, unknown>;
  if (body.client_id !== clientId) throw new OAuthError('invalid_request', 'client_id in the body must be the client_id of the client being updated');
  if (body.client_secret !== undefined && (typeof body.client_secret !== 'string' || !client.secretDigest || !secretMatchesDigest(body.client_secret, client.secretDigest))) {
    throw new OAuthError('invalid_request', 'client_secret in the body must be the client\'s current secret; it cannot be changed here');
  }
  const { public: _public, ...input } = clientInputFromMetadata(body, policy);
  const updated = await metadataChecked(() => updateClient(deps(ctx), ctx.tenant.id, clientId, input, ...limits(ctx)));
  // RFC 7592 §3: the server may issue a new registration access token; it does on every update, and the old one stops working.
  // Conditional, so of concurrent updates with one token exactly one caller learns the new token; the others get 401.
  const registrationToken = secretValue(ctx.services.random);
  if (!(await ctx.services.storage.dcr.rotateRegistration(ctx.tenant.id, clientId, stored!, digest(registrationToken)))) {
    throw bearerError(ctx, 'invalid_token', 'the registration access token is invalid', true);
  }
  return reply.send(registrationView(updated, clientUri(ctx, clientId), registrationToken));
}
