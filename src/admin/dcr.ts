import { z } from 'zod';
import { createInitialToken, listInitialTokens, revokeInitialToken } from '../manage/dcr.js';
import { route } from './route.js';
import { epoch, tenantParams } from './schemas.js';

/** RFC 7591 §3 initial access tokens, as `tessera dcr token …` manages them. */
const tokenSchema = z.object({
  id: z.string(), tenant: z.string(), expires_at: epoch.nullable().describe('null = never'), max_uses: z.number().int().nullable().describe('null = unlimited'),
  uses: z.number().int(), revoked: z.boolean(), created_at: epoch,
});

const createBody = z.strictObject({
  expires_in: z.number().int().optional().describe('lifetime in seconds (at most 90 days); absent = until revoked'),
  max_uses: z.number().int().optional().describe('registrations it authorizes; absent = unlimited'),
}).default({});

export const dcrRoutes = [
  route({
    method: 'POST', path: '/tenants/{tenant}/dcr/initial-access-tokens', operationId: 'createInitialAccessToken', tag: 'dcr',
    summary: 'Make an initial access token for dynamic client registration (the token is in this answer only)',
    params: tenantParams, body: createBody, status: 201, response: tokenSchema.extend({ token: z.string() }),
    handler: async (call) => createInitialToken(call.deps, call.params.tenant, { expiresIn: call.body?.expires_in, maxUses: call.body?.max_uses }),
  }),
  route({
    method: 'GET', path: '/tenants/{tenant}/dcr/initial-access-tokens', operationId: 'listInitialAccessTokens', tag: 'dcr',
    summary: 'List a tenant’s initial access tokens (never the tokens themselves)',
    params: tenantParams, response: z.object({ tokens: z.array(tokenSchema) }),
    handler: async (call) => ({ tokens: await listInitialTokens(call.deps, call.params.tenant) }),
  }),
  route({
    method: 'POST', path: '/tenants/{tenant}/dcr/initial-access-tokens/{id}/revoke', operationId: 'revokeInitialAccessToken', tag: 'dcr',
    summary: 'Revoke an initial access token',
    params: tenantParams.extend({ id: z.string() }), response: z.object({ revoked: z.object({ id: z.string() }) }),
    handler: async (call) => {
      await revokeInitialToken(call.deps, call.params.tenant, call.params.id);
      return { revoked: { id: call.params.id } };
    },
  }),
];
