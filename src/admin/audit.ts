import { z } from 'zod';
import { requireTenant } from '../manage/tenants.js';
import { AUDIT_EVENT_TYPES, type AuditEvent } from '../storage/types.js';
import { decodeCursor, encodeCursor, pageOf, pageQuery } from './cursor.js';
import { route } from './route.js';
import { auditEventSchema, tenantParams } from './schemas.js';

const FAMILIES = [...new Set(AUDIT_EVENT_TYPES.map((t) => t.split('.')[0]))];

const query = pageQuery.extend({
  type: z.enum([...AUDIT_EVENT_TYPES, ...FAMILIES] as [string, ...string[]]).optional().describe('an event type, or a family such as token'),
  since: z.coerce.number().int().min(0).optional().describe('only events at or after this time (seconds since the epoch)'),
  until: z.coerce.number().int().min(0).optional().describe('only events before this time (seconds since the epoch)'),
  actor: z.string().min(1).max(200).optional().describe('only events of this actor: a user id, a client id, operator:ID, operator, dcr or anonymous'),
  user_id: z.string().min(1).max(200).optional().describe('only events naming this user'),
  client_id: z.string().min(1).max(200).optional().describe('only events naming this client'),
});

const view = (e: AuditEvent) => ({ id: e.id, type: e.type, at: e.at, actor: e.actor, client_id: e.clientId, user_id: e.userId, ip: e.ip, detail: e.detail });

export const auditRoutes = [
  route({
    method: 'GET', path: '/tenants/{tenant}/audit-events', operationId: 'listAuditEvents', tag: 'audit', summary: 'List a tenant’s audit events, newest first',
    params: tenantParams, query, response: pageOf(auditEventSchema),
    handler: async (call) => {
      await requireTenant(call.deps, call.params.tenant);
      const { type, since, until, actor, user_id: userId, client_id: clientId, limit } = call.query;
      // The store's own position, wrapped in a signed cursor bound to this tenant and these filters.
      const list = `audit ${call.params.tenant} ${JSON.stringify([type, since, until, actor, userId, clientId])}`;
      const position = call.query.cursor === undefined ? undefined : await decodeCursor(call.services, list, call.query.cursor);
      // Reading flushes this process's queued events first (storage/audit_writer.ts).
      const page = await call.services.storage.audit.list(call.params.tenant, { type, since, until, actor, userId, clientId, limit, cursor: position as string | undefined });
      return { items: page.events.map(view), next_cursor: page.nextCursor ? await encodeCursor(call.services, list, page.nextCursor) : null };
    },
  }),
];
