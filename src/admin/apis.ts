import { z } from 'zod';
import { recordAudit } from '../audit.js';
import { apiView, createApiWithSecret, deleteApi, requireApi, updateApi, type ApiInput } from '../manage/apis.js';
import { requireTenant } from '../manage/tenants.js';
import { checkAudience } from '../manage/validate.js';
import type { Api } from '../storage/types.js';
import { pageOf, pageQuery, paginate } from './cursor.js';
import { route, type AdminCall } from './route.js';
import { apiSchema, checked, deleted, tenantParams } from './schemas.js';

const scope = z.strictObject({ name: z.string(), description: z.string().optional().describe('what the consent page shows; the name when absent') });

const updateBody = z.strictObject({
  audience: checked(checkAudience, 'the API identifier (RFC 8707 resource), an absolute URI'),
  name: z.string(),
  scopes: z.array(scope).describe('replaces the whole list'),
  access_token_ttl: z.number().int(),
}).partial();
const createBody = updateBody.extend({ audience: updateBody.shape.audience.unwrap() });

/** `NAME=DESCRIPTION`, the form the management functions parse. */
const input = (b: z.infer<typeof updateBody>): ApiInput => ({
  audience: b.audience, name: b.name, accessTokenTtl: b.access_token_ttl,
  scopes: b.scopes?.map((s) => (s.description === undefined ? s.name : `${s.name}=${s.description}`)),
});

const apiParams = tenantParams.extend({ api: z.string().describe('API id or audience') });
const createdSchema = apiSchema.extend({ client_id: z.string(), client_secret: z.string().describe('its introspection credentials; shown once') });

const auditApi = (call: AdminCall<{ tenant: string }, unknown, unknown>, type: 'api.created' | 'api.updated' | 'api.deleted', api: Api, detail: Record<string, unknown> = {}) =>
  recordAudit(call.deps, call.params.tenant, { type, actor: call.deps.actor!, detail: { api: api.id, audience: api.audience, ...detail } });

export const apiRoutes = [
  route({
    method: 'GET', path: '/tenants/{tenant}/apis', operationId: 'listApis', tag: 'apis', summary: 'List a tenant’s APIs with their scopes',
    params: tenantParams, query: pageQuery, response: pageOf(apiSchema),
    handler: async (call) => {
      await requireTenant(call.deps, call.params.tenant);
      const all = await call.services.storage.apis.list(call.params.tenant);
      return paginate(call.services, `apis ${call.params.tenant}`, all, (a) => a.id, call.query, apiView);
    },
  }),
  route({
    method: 'POST', path: '/tenants/{tenant}/apis', operationId: 'createApi', tag: 'apis', summary: 'Create an API (its introspection secret is in this answer only)',
    params: tenantParams, body: createBody, status: 201, response: createdSchema,
    handler: async (call) => {
      const { api, secret } = await createApiWithSecret(call.deps, call.params.tenant, input(call.body), call.services.config.tokens.maxAccessTokenTtl);
      await auditApi(call, 'api.created', api);
      return { client_id: api.id, client_secret: secret, ...apiView(api) };
    },
  }),
  route({
    method: 'GET', path: '/tenants/{tenant}/apis/{api}', operationId: 'getApi', tag: 'apis', summary: 'Show an API',
    params: apiParams, response: apiSchema,
    handler: async (call) => apiView(await requireApi(call.deps, call.params.tenant, call.params.api)),
  }),
  route({
    method: 'PATCH', path: '/tenants/{tenant}/apis/{api}', operationId: 'updateApi', tag: 'apis', summary: 'Change an API or replace its scopes',
    params: apiParams, body: updateBody, response: apiSchema,
    handler: async (call) => {
      const api = await updateApi(call.deps, call.params.tenant, call.params.api, input(call.body), call.services.config.tokens.maxAccessTokenTtl);
      await auditApi(call, 'api.updated', api, { fields: Object.keys(call.body).sort() });
      return apiView(api);
    },
  }),
  route({
    method: 'DELETE', path: '/tenants/{tenant}/apis/{api}', operationId: 'deleteApi', tag: 'apis', summary: 'Delete an API',
    params: apiParams, response: deleted,
    handler: async (call) => {
      const api = await deleteApi(call.deps, call.params.tenant, call.params.api);
      await auditApi(call, 'api.deleted', api);
      return { deleted: { id: api.id, audience: api.audience } };
    },
  }),
];
