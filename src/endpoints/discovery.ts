import type { FastifyReply, FastifyRequest } from 'fastify';
import { DPOP_ALGS } from '../dpop/proof.js';
import { grants } from '../grants/index.js';
import { ID_TOKEN_ALGS } from '../manage/clients.js';
import { ASSERTION_ALGS } from '../http/client_assertion.js';
import { endpointUrl, type TenantContext } from '../http/context.js';
import { ACR_VALUES_SUPPORTED } from '../mfa/policy.js';
import { REGISTRATION_PATH } from './client_registration.js';

const OIDC_SCOPES = ['openid', 'profile', 'email', 'offline_access'];

/**
 * Authorization-server metadata (RFC 8414 §2) and OpenID Provider metadata (OIDC Discovery
 * §3): one document, listing only what is implemented. The issuer is the canonical URL;
 * alias paths redirect here (routes.ts), so a client always sees the issuer it fetched.
 */
export async function discoveryEndpoint(ctx: TenantContext, _req: FastifyRequest, reply: FastifyReply) {
  const apis = await ctx.services.cache.apiIndex(ctx.tenant.id);
  const scopes = [...new Set([...OIDC_SCOPES, ...apis.list.flatMap((a) => a.scopes.map((s) => s.name))])];
  return reply
    .header('cache-control', 'public, max-age=300')
    .header('access-control-allow-origin', '*')
    .send({
      issuer: ctx.issuer,
      authorization_endpoint: endpointUrl(ctx.issuer, 'auth'),
      token_endpoint: endpointUrl(ctx.issuer, 'token'),
      userinfo_endpoint: endpointUrl(ctx.issuer, 'userinfo'),
      revocation_endpoint: endpointUrl(ctx.issuer, 'revoke'),
      introspection_endpoint: endpointUrl(ctx.issuer, 'token/introspect'),
      end_session_endpoint: endpointUrl(ctx.issuer, 'logout'),
      // RFC 8628 §4.
      device_authorization_endpoint: endpointUrl(ctx.issuer, 'auth/device'),
      // OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens carry sid.
      backchannel_logout_supported: true,
      backchannel_logout_session_supported: true,
      jwks_uri: endpointUrl(ctx.issuer, 'certs'),
      grant_types_supported: [...grants.keys(), 'implicit'],
      response_types_supported: ['code', 'token', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token'],
      response_modes_supported: ['query', 'fragment', 'form_post', 'web_page'],
      code_challenge_methods_supported: ['S256'],
      // RFC 9449 §5.1: the algorithms a DPoP proof may use.
      dpop_signing_alg_values_supported: [...DPOP_ALGS],
      // RFC 7523 §2.2: private_key_jwt; client_secret_jwt is not offered, secrets are digests (DESIGN.md §2).
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
      token_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGS],
      // RFC 7009 §2.1: a public client revokes its tokens by its client_id; introspection needs a credential (RFC 7662 §2.1).
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
      revocation_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGS],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      introspection_endpoint_auth_signing_alg_values_supported: [...ASSERTION_ALGS],
      scopes_supported: scopes,
      subject_types_supported: ['public'],
      // Every client may choose one (--id-token-alg); the key is made on first use.
      id_token_signing_alg_values_supported: [...ID_TOKEN_ALGS],
      // OIDC Initiating User Registration §4.1: `create` only where sign-up is open.
      prompt_values_supported: ['none', 'login', 'consent', ...(ctx.tenant.registration ? ['create'] : [])],
      claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'azp', 'sid', 'at_hash', 'c_hash', 'amr', 'acr', 'preferred_username', 'name', 'email', 'email_verified', 'updated_at'],
      // OIDC Discovery §3: Keycloak-style levels ("1" password, "2" two factors) and the PAPE multi-factor URI (mfa/policy.ts).
      acr_values_supported: ACR_VALUES_SUPPORTED,
      claims_parameter_supported: false,
      request_parameter_supported: false,
      // OIDC Discovery §3: this names request objects the server fetches by reference, which it
      // does not do; the only request_uri accepted is one the PAR endpoint issued (RFC 9126 §4).
      request_uri_parameter_supported: false,
      // RFC 9126 §5: PAR is offered to every client and required only per client (§6, --require-par).
      pushed_authorization_request_endpoint: endpointUrl(ctx.issuer, 'ext/par/request'),
      require_pushed_authorization_requests: false,
      authorization_response_iss_parameter_supported: true,
      // RFC 8414 §2 / RFC 7591 §3: only where the tenant has dynamic registration on.
      ...(ctx.tenant.dcr?.enabled && { registration_endpoint: `${ctx.issuer}${REGISTRATION_PATH}` }),
    });
}
