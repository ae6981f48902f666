import { z } from 'zod';
import { recordAudit } from '../audit.js';
import type { Config } from '../config.js';
import { listKeys, revokeKey, rotateKeys, type KeyPolicy } from '../manage/keys.js';
import { pageOf, pageQuery, paginate } from './cursor.js';
import { route } from './route.js';
import { keySchema, tenantParams } from './schemas.js';

const policy = (c: Config): KeyPolicy => ({ jwksCacheSeconds: c.keys.jwksCacheSeconds, retentionSeconds: c.tokens.maxAccessTokenTtl });

const rotateBody = z.strictObject({
  immediately: z.boolean().optional().describe('sign with the new keys now instead of after the JWKS cache lifetime (emergencies)'),
  purpose: z.enum(['access', 'id', 'refresh']).optional(),
  alg: z.string().optional().describe('with purpose access or id: ES256, EdDSA or RS256'),
}).default({});

export const keyRoutes = [
  route({
    method: 'GET', path: '/tenants/{tenant}/keys', operationId: 'listKeys', tag: 'keys', summary: 'List a tenant’s signing keys',
    params: tenantParams, query: pageQuery, response: pageOf(keySchema),
    handler: async (call) => {
      const keys = await listKeys(call.deps, call.params.tenant, policy(call.services.config));
      // Keys are listed oldest first; kids sort as their thumbprints do, so the page key is the position.
      const ordered = keys.map((k, i) => ({ k, pos: String(i).padStart(8, '0') }));
      return paginate(call.services, `keys ${call.params.tenant}`, ordered, (o) => o.pos, call.query, (o) => o.k);
    },
  }),
  route({
    method: 'POST', path: '/tenants/{tenant}/keys/rotate', operationId: 'rotateKeys', tag: 'keys',
    summary: 'Add new signing keys: published now, signing after the JWKS cache lifetime',
    params: tenantParams, body: rotateBody, status: 201, response: z.object({ added: z.array(keySchema) }),
    handler: async (call) => {
      const b = call.body ?? {};
      const added = await rotateKeys(call.deps, call.params.tenant, policy(call.services.config), { immediately: b.immediately, purpose: b.purpose, alg: b.alg });
      call.services.cache.clear();
      await recordAudit(call.deps, call.params.tenant, { type: 'key.rotated', actor: call.deps.actor!, detail: { kids: added.map((k) => k.kid), immediately: b.immediately === true } });
      return { added };
    },
  }),
  route({
    method: 'POST', path: '/tenants/{tenant}/keys/{kid}/revoke', operationId: 'revokeKey', tag: 'keys',
    summary: 'Pull a compromised key at once (a replacement signs now if none is left)',
    params: tenantParams.extend({ kid: z.string() }), response: z.object({ revoked: z.string(), replacement: keySchema.optional() }),
    handler: async (call) => {
      const r = await revokeKey(call.deps, call.params.tenant, call.params.kid, policy(call.services.config));
      call.services.cache.clear();
      await recordAudit(call.deps, call.params.tenant, { type: 'key.revoked', actor: call.deps.actor!, detail: { kid: r.revoked, replacement: r.replacement?.kid } });
      return r;
    },
  }),
];
