import { z } from 'zod';
import { clientMfa, resetUserMfa, setClientMfa, setTenantMfa, tenantMfa, userMfa } from '../manage/mfa.js';
import { route } from './route.js';
import { epoch, tenantParams } from './schemas.js';
import { userParams } from './users.js';

/** The admin API's side of `tessera tenant mfa`, `client mfa`, `user mfa` and `user reset-mfa` (docs/mfa.md). */

const policy = z.enum(['optional', 'required']).describe('optional: users choose; required: every sign-in needs a second factor (users without one enrol at sign-in)');
const tenantPolicy = z.object({ tenant: z.string(), mfa: policy });
const clientPolicy = z.object({ tenant: z.string(), client_id: z.string(), require_mfa: z.boolean() });
const clientParams = tenantParams.extend({ client: z.string().describe('client id') });
const factor = z.object({
  id: z.string(), type: z.enum(['totp', 'webauthn']), label: z.string(), created_at: epoch, last_used_at: epoch.nullable(),
});

export const mfaRoutes = [
  route({
    method: 'GET', path: '/tenants/{tenant}/mfa', operationId: 'getTenantMfa', tag: 'mfa', summary: 'The tenant’s second-factor policy',
    params: tenantParams, response: tenantPolicy,
    handler: (call) => tenantMfa(call.deps, call.params.tenant),
  }),
  route({
    method: 'PATCH', path: '/tenants/{tenant}/mfa', operationId: 'setTenantMfa', tag: 'mfa', summary: 'Set the tenant’s second-factor policy',
    params: tenantParams, body: z.strictObject({ mfa: policy }), response: tenantPolicy,
    handler: (call) => setTenantMfa(call.deps, call.params.tenant, call.body.mfa),
  }),
  route({
    method: 'GET', path: '/tenants/{tenant}/clients/{client}/mfa', operationId: 'getClientMfa', tag: 'mfa', summary: 'Whether sign-in for this client needs a second factor',
    params: clientParams, response: clientPolicy,
    handler: (call) => clientMfa(call.deps, call.params.tenant, call.params.client),
  }),
  route({
    method: 'PATCH', path: '/tenants/{tenant}/clients/{client}/mfa', operationId: 'setClientMfa', tag: 'mfa', summary: 'Require (or stop requiring) a second factor for this client',
    params: clientParams, body: z.strictObject({ require_mfa: z.boolean() }), response: clientPolicy,
    handler: (call) => setClientMfa(call.deps, call.params.tenant, call.params.client, call.body.require_mfa),
  }),
  route({
    method: 'GET', path: '/tenants/{tenant}/users/{user}/mfa', operationId: 'getUserMfa', tag: 'mfa', summary: 'A user’s second factors (never their secrets) and recovery codes left',
    params: userParams, response: z.object({ user_id: z.string(), username: z.string(), factors: z.array(factor), recovery_codes_left: z.number().int() }),
    handler: (call) => userMfa(call.deps, call.params.tenant, call.params.user),
  }),
  route({
    method: 'POST', path: '/tenants/{tenant}/users/{user}/mfa/reset', operationId: 'resetUserMfa', tag: 'mfa', summary: 'Remove every second factor and recovery code of a user (audited)',
    params: userParams, response: z.object({ user_id: z.string(), username: z.string(), factors_removed: z.number().int() }),
    handler: (call) => resetUserMfa(call.deps, call.params.tenant, call.params.user),
  }),
];
