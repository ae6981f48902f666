import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.js';
import { DEVICE_CODE_GRANT } from '../grants/device_code.js';
import { authenticateClient } from '../http/client_auth.js';
import type { TenantContext } from '../http/context.js';
import { formBody } from '../http/form.js';
import { deviceUrl } from '../manage/personal_tokens.js';
import { DEVICE_CODE_TTL, POLL_INTERVAL, startDeviceAuthorization } from '../tokens/device_authorization.js';
import { parseScope } from '../tokens/scope.js';
import { resolveTarget } from '../tokens/target.js';
import { OIDC_SCOPES } from './authorize_request.js';

/**
 * The device authorization endpoint (RFC 8628 §3.1): a client that may use the device code
 * grant, authenticated as at the token endpoint (a public client by its `client_id`), asks
 * for a device code and a user code. `scope`, `audience` and `resource` are checked as the
 * authorization endpoint checks them, so an approval can only grant what was valid here.
 */
export async function deviceAuthorizationEndpoint(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply) {
  const params = formBody(req);
  // RFC 6749 §3.2 (which §3.1 follows): parameters must not repeat; RFC 8707 §2 `resource` may.
  params.assertNoDuplicates(['resource']);
  const { client } = await authenticateClient(ctx, req, params);
  if (!client.grantTypes.includes(DEVICE_CODE_GRANT)) {
    throw new OAuthError('unauthorized_client', `the client is not allowed to use the ${DEVICE_CODE_GRANT} grant`);
  }
  const requested = parseScope(params.get('scope'), ctx.commaScopes) ?? [];
  const target = await resolveTarget(ctx, client, {
    requested: requested.filter((s) => !OIDC_SCOPES.has(s)),
    audience: params.get('audience'),
    resources: params.all('resource'),
    defaultScopes: [],
  });
  const scopes = [...requested.filter((s) => OIDC_SCOPES.has(s)), ...target.scopes];
  const { deviceCode, userCode } = await startDeviceAuthorization(ctx, client, scopes, target);
  const verificationUri = deviceUrl(ctx.issuer);
  // §3.2: the response; it carries a credential, so nothing may cache it (RFC 6749 §5.1).
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache').send({
    device_code: deviceCode,
    user_code: userCode,
    verification_uri: verificationUri,
    verification_uri_complete: `${verificationUri}?${new URLSearchParams({ user_code: userCode })}`,
    expires_in: DEVICE_CODE_TTL,
    interval: POLL_INTERVAL,
  });
}
