import { z } from 'zod';
import { recordAudit } from '../audit.js';
import { ADMIN_TENANT, checkHostname, createTenant, deleteTenant, requireTenant, updateTenant } from '../manage/tenants.js';
import { tenantView } from '../manage/tenant_view.js';
import { checkAudience, checkEmail } from '../manage/validate.js';
import { mayManage } from './auth.js';
import { pageOf, pageQuery, paginate } from './cursor.js';
import { route, type AdminCall } from './route.js';
import { checked, deleted, tenantParams, tenantSchema } from './schemas.js';

const fields = {
  display_name: z.string().max(200),
  default_audience: checked(checkAudience, 'audience of tokens whose request names no API').nullable(),
  session_idle_seconds: z.number().int(),
  session_max_seconds: z.number().int(),
  personal_token_max_days: z.number().int(),
  registration: z.boolean().describe('self-service sign-up'),
  require_verified_email: z.boolean(),
  email_from: checked((v) => v === '' || checkEmail(v)).nullable(),
  hostname: checked((v) => v === '' || checkHostname('', v), 'own hostname (issuer https://{hostname}/realms/{id}); "" or null clears it').nullable(),
};

const dcrBody = z.strictObject({
  enabled: z.boolean(), open: z.boolean(), grant_types: z.array(z.string()),
  allow_consent_skip: z.boolean(), allow_web_page: z.boolean(), allow_password: z.boolean(), allow_token_exchange: z.boolean(), scopes: z.array(z.string()),
}).partial().describe('dynamic client registration (RFC 7591): the fields given change, the others stay');

const createBody = z.strictObject({ id: z.string().describe('1–64 letters, digits, ".", "_" or "-"'), display_name: fields.display_name.optional(), default_audience: checked(checkAudience).optional() });
const updateBody = z.strictObject({ ...fields, dcr: dcrBody }).partial();

/** Tenant events are recorded in the admin tenant: a deleted tenant's own events go with it. */
const auditTenant = (call: AdminCall<unknown, unknown, unknown>, type: 'tenant.created' | 'tenant.updated' | 'tenant.deleted', id: string, detail: Record<string, unknown> = {}) =>
  recordAudit(call.deps, ADMIN_TENANT, { type, actor: call.deps.actor!, detail: { tenant: id, ...detail } });

export const tenantRoutes = [
  route({
    method: 'GET', path: '/tenants', operationId: 'listTenants', tag: 'tenants', summary: 'List the tenants the operator manages',
    query: pageQuery, response: pageOf(tenantSchema),
    handler: async (call) => {
      const all = (await call.services.storage.tenants.list()).filter((t) => mayManage(call.operator, t.id));
      return paginate(call.services, 'tenants', all, (t) => t.id, call.query, (t) => tenantView(t, call.services.config.publicUrl));
    },
  }),
  route({
    method: 'POST', path: '/tenants', operationId: 'createTenant', tag: 'tenants', summary: 'Create a tenant with its signing keys',
    body: createBody, status: 201, response: tenantSchema, globalOnly: true,
    handler: async (call) => {
      const t = await createTenant(call.deps, { id: call.body.id, displayName: call.body.display_name, defaultAudience: call.body.default_audience });
      await auditTenant(call, 'tenant.created', t.id);
      return tenantView(t, call.services.config.publicUrl);
    },
  }),
  route({
    method: 'GET', path: '/tenants/{tenant}', operationId: 'getTenant', tag: 'tenants', summary: 'Show a tenant',
    params: tenantParams, response: tenantSchema,
    handler: async (call) => tenantView(await requireTenant(call.deps, call.params.tenant), call.services.config.publicUrl),
  }),
  route({
    method: 'PATCH', path: '/tenants/{tenant}', operationId: 'updateTenant', tag: 'tenants', summary: 'Change some of a tenant’s settings',
    params: tenantParams, body: updateBody, response: tenantSchema,
    handler: async (call) => {
      const b = call.body;
      const t = await updateTenant(call.deps, call.params.tenant, {
        displayName: b.display_name, defaultAudience: b.default_audience, sessionIdleSeconds: b.session_idle_seconds, sessionMaxSeconds: b.session_max_seconds,
        personalTokenMaxDays: b.personal_token_max_days, registration: b.registration, requireVerifiedEmail: b.require_verified_email, emailFrom: b.email_from,
        hostname: b.hostname,
        dcr: b.dcr && {
          enabled: b.dcr.enabled, open: b.dcr.open, grantTypes: b.dcr.grant_types, allowConsentSkip: b.dcr.allow_consent_skip, allowWebPage: b.dcr.allow_web_page,
          allowPassword: b.dcr.allow_password, allowTokenExchange: b.dcr.allow_token_exchange, scopes: b.dcr.scopes,
        },
      });
      call.services.cache.clear();
      await auditTenant(call, 'tenant.updated', t.id, { fields: Object.keys(b).sort() });
      return tenantView(t, call.services.config.publicUrl);
    },
  }),
  route({
    method: 'DELETE', path: '/tenants/{tenant}', operationId: 'deleteTenant', tag: 'tenants', summary: 'Delete a tenant and everything in it',
    params: tenantParams, response: deleted, globalOnly: true,
    handler: async (call) => {
      await deleteTenant(call.deps, call.params.tenant);
      call.services.cache.clear();
      await auditTenant(call, 'tenant.deleted', call.params.tenant);
      return { deleted: { id: call.params.tenant } };
    },
  }),
];

