import { z } from 'zod';
import { AUTH_METHODS, clientView, createClient, deleteClient, GRANT_TYPES, ID_TOKEN_ALGS, requireClient, rotateClientSecret, updateClient, type ClientInput } from '../manage/clients.js';
import { requireTenant } from '../manage/tenants.js';
import { checkOrigin, checkRedirectUri } from '../manage/validate.js';
import { pageOf, pageQuery, paginate } from './cursor.js';
import { route, type AdminCall } from './route.js';
import { checked, deleted, epoch, tenantParams } from './schemas.js';

/** RFC 7591 §2 metadata names, as `clientView` shows them. */
const fields = {
  client_name: z.string(),
  redirect_uris: z.array(checked(checkRedirectUri)),
  grant_types: z.array(z.enum(GRANT_TYPES)),
  scope: z.string().describe('space-separated scopes the client may request'),
  access_token_format: z.enum(['jwt', 'opaque']),
  access_token_ttl: z.number().int(),
  post_logout_redirect_uris: z.array(checked(checkRedirectUri)),
  cors_origins: z.array(checked(checkOrigin)),
  token_endpoint_auth_method: z.enum(AUTH_METHODS),
  jwks_uri: z.string(),
  jwks: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }),
  consent: z.enum(['required', 'skip']),
  web_page: z.boolean(),
  session_refresh_tokens: z.boolean(),
  refresh_token_grace_seconds: z.number().int(),
  id_token_signed_response_alg: z.enum(ID_TOKEN_ALGS),
  backchannel_logout_uri: z.string().nullable(),
  backchannel_logout_session_required: z.boolean(),
  require_pushed_authorization_requests: z.boolean(),
  dpop_bound_access_tokens: z.boolean(),
  token_exchange: z.strictObject({ subject_clients: z.array(z.string()).optional(), audiences: z.array(z.string()).optional() }),
  client_assertion_audience_token_endpoint: z.boolean(),
  rate_limit: z.string().nullable().describe('successful requests per window at the token, introspection, revocation, PAR and device endpoints: N/WINDOW (100/60, 600/1m, 5000/hour); null or "off" removes it (the default: none)'),
};

const updateBody = z.strictObject(fields).partial();
const createBody = updateBody.extend({ client_name: fields.client_name, public: z.boolean().optional().describe('no secret; token_endpoint_auth_method none, PKCE required') });

const clientSchema = z.object({
  client_id: z.string(), client_secret: z.string().optional().describe('only in the answer that made it: shown once'),
  tenant: z.string(), client_name: z.string(), token_endpoint_auth_method: z.string(), grant_types: z.array(z.string()), response_types: z.array(z.string()),
  redirect_uris: z.array(z.string()), post_logout_redirect_uris: z.array(z.string()), cors_origins: z.array(z.string()), scope: z.string(),
  access_token_format: z.enum(['jwt', 'opaque']), access_token_ttl: z.number().int().nullable(), consent: z.enum(['required', 'skip']), web_page: z.boolean(),
  session_refresh_tokens: z.boolean(), refresh_token_grace_seconds: z.number().int(), id_token_signed_response_alg: z.string(),
  jwks_uri: z.string().optional(), jwks: z.record(z.string(), z.unknown()).optional(),
  backchannel_logout_uri: z.string().nullable(), backchannel_logout_session_required: z.boolean(), require_pushed_authorization_requests: z.boolean(),
  dpop_bound_access_tokens: z.boolean(), token_exchange: z.object({ subject_clients: z.array(z.string()), audiences: z.array(z.string()) }),
  client_assertion_audience_token_endpoint: z.boolean(), rate_limit: z.string().optional().describe('N/WINDOW_SECONDS; absent: no limit'), created_at: epoch, updated_at: epoch,
});

const clientParams = tenantParams.extend({ client_id: z.string() });

type Body = z.infer<typeof createBody>;

function input(b: Body): ClientInput {
  return {
    name: b.client_name, redirectUris: b.redirect_uris, grantTypes: b.grant_types, scopes: b.scope?.split(' ').filter(Boolean), public: b.public,
    accessTokenFormat: b.access_token_format, accessTokenTtl: b.access_token_ttl, postLogoutRedirectUris: b.post_logout_redirect_uris,
    corsOrigins: b.cors_origins, tokenEndpointAuthMethod: b.token_endpoint_auth_method, jwksUri: b.jwks_uri, jwks: b.jwks, consent: b.consent,
    webPage: b.web_page, sessionRefreshTokens: b.session_refresh_tokens, refreshGraceSeconds: b.refresh_token_grace_seconds,
    idTokenAlg: b.id_token_signed_response_alg, backchannelLogoutUri: b.backchannel_logout_uri, backchannelLogoutSessionRequired: b.backchannel_logout_session_required,
    requirePar: b.require_pushed_authorization_requests, dpopBoundAccessTokens: b.dpop_bound_access_tokens,
    tokenExchangeSubjectClients: b.token_exchange?.subject_clients, tokenExchangeAudiences: b.token_exchange?.audiences,
    assertionAudienceTokenEndpoint: b.client_assertion_audience_token_endpoint,
    rateLimit: b.rate_limit,
  };
}

const limits = (call: AdminCall<unknown, unknown, unknown>) => [call.services.config.tokens.maxAccessTokenTtl, { publicUrl: call.services.config.publicUrl }] as const;

export const clientRoutes = [
  route({
    method: 'GET', path: '/tenants/{tenant}/clients', operationId: 'listClients', tag: 'clients', summary: 'List a tenant’s clients',
    params: tenantParams, query: pageQuery, response: pageOf(clientSchema),
    handler: async (call) => {
      await requireTenant(call.deps, call.params.tenant);
      const all = await call.services.storage.clients.list(call.params.tenant);
      return paginate(call.services, `clients ${call.params.tenant}`, all, (c) => c.clientId, call.query, (c) => clientView(c));
    },
  }),
  route({
    method: 'POST', path: '/tenants/{tenant}/clients', operationId: 'createClient', tag: 'clients', summary: 'Register a client (the secret is in this answer only)',
    params: tenantParams, body: createBody, status: 201, response: clientSchema,
    handler: async (call) => {
      const { client, secret } = await createClient(call.deps, call.params.tenant, input(call.body), ...limits(call));
      return clientView(client, secret);
    },
  }),
  route({
    method: 'GET', path: '/tenants/{tenant}/clients/{client_id}', operationId: 'getClient', tag: 'clients', summary: 'Show a client',
    params: clientParams, response: clientSchema,
    handler: async (call) => clientView(await requireClient(call.deps, call.params.tenant, call.params.client_id)),
  }),
  route({
    method: 'PATCH', path: '/tenants/{tenant}/clients/{client_id}', operationId: 'updateClient', tag: 'clients', summary: 'Change some of a client’s metadata',
    params: clientParams, body: updateBody, response: clientSchema,
    handler: async (call) => clientView(await updateClient(call.deps, call.params.tenant, call.params.client_id, input(call.body as Body), ...limits(call))),
  }),
  route({
    method: 'DELETE', path: '/tenants/{tenant}/clients/{client_id}', operationId: 'deleteClient', tag: 'clients', summary: 'Delete a client and every token issued to it',
    params: clientParams, response: deleted,
    handler: async (call) => {
      await deleteClient(call.deps, call.params.tenant, call.params.client_id);
      return { deleted: { client_id: call.params.client_id } };
    },
  }),
  route({
    method: 'POST', path: '/tenants/{tenant}/clients/{client_id}/secret', operationId: 'rotateClientSecret', tag: 'clients',
    summary: 'Give a client a new secret (shown once); the old one stops working at once',
    params: clientParams, response: clientSchema,
    handler: async (call) => {
      const { client, secret } = await rotateClientSecret(call.deps, call.params.tenant, call.params.client_id);
      return clientView(client, secret);
    },
  }),
];
