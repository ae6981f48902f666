import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.js';
import { authenticateClient } from '../http/client_auth.js';
import type { TenantContext } from '../http/context.js';
import { formBody } from '../http/form.js';
import { authorizationTarget } from '../tokens/authorization_response.js';
import { PUSHED_REQUEST_SECONDS, storePushedRequest, type PushedParameters } from '../tokens/request_uri.js';
import { resolveClientAndRedirect, validateRequest } from './authorize_request.js';

/**
 * RFC 9126 §2.1: parameters that only authenticate the client. They are not part of the
 * authorization request, and a secret is never stored.
 */
const CLIENT_AUTHENTICATION = new Set(['client_secret', 'client_assertion', 'client_assertion_type']);

/**
 * The pushed authorization request endpoint (RFC 9126 §2): the client authenticates as at
 * the token endpoint and posts the parameters of an authorization request, which are
 * validated by the authorization endpoint's own code and stored; the answer is a
 * short-lived request_uri for the authorization endpoint (authorize_pushed.ts).
 */
export async function pushedAuthorizationEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const params = formBody(req);
  // RFC 9126 §2.1: client authentication follows the token endpoint's rules.
  const { client } = await authenticateClient(ctx, req, params);
  // RFC 9126 §2.1: request_uri is the one authorization parameter that MUST NOT be pushed.
  if (params.get('request_uri') !== undefined) throw new OAuthError('invalid_request', 'request_uri must not be sent to the pushed authorization request endpoint');

  // RFC 9126 §2.1: client_id is required, and it is the authenticated client (client_auth.ts
  // refuses a body client_id that differs from the Basic credentials).
  const resolved = await resolveClientAndRedirect(ctx, params);
  if (resolved.client.clientId !== client.clientId) throw new OAuthError('invalid_request', 'client_id does not match the authenticated client');
  // RFC 9126 §2.1: the AS MUST validate the request as the authorization endpoint does. An
  // unregistered redirect_uri (§2.4 leaves that to policy) is refused, as there.
  const request = validateRequest(ctx, client, { redirectUri: resolved.redirectUri, given: resolved.given }, params);
  await authorizationTarget(ctx, client, request);

  const pushed: PushedParameters = {};
  for (const [name, value] of Object.entries(req.body as Record<string, string | string[]>)) {
    if (!CLIENT_AUTHENTICATION.has(name)) pushed[name] = value;
  }
  const requestUri = await storePushedRequest(ctx, client.clientId, pushed);
  // RFC 9126 §2.2: 201 Created with request_uri and expires_in.
  return reply.code(201).header('cache-control', 'no-store').send({ request_uri: requestUri, expires_in: PUSHED_REQUEST_SECONDS });
}
