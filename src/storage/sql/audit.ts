import type { Kysely } from 'kysely';
import { InputError } from '../../errors.js';
import type { Database } from '../schema.js';
import type { AuditStore } from '../stores.js';
import { AUDIT_EVENT_TYPES, type AuditEvent } from '../types.js';
import { json, parse } from './common.js';

type Row = Database['audit_events'];

const toEvent = (r: Row): AuditEvent => ({
  id: r.id,
  tenantId: r.tenant_id,
  type: r.type as AuditEvent['type'],
  at: Number(r.at),
  actor: r.actor,
  clientId: r.client_id,
  userId: r.user_id,
  ip: r.ip,
  detail: parse(r.detail),
});

/** A page boundary: the last event's time and id; ids hold no "." (base64url/base36). */
const cursorOf = (e: AuditEvent): string => `${e.at}.${e.id}`;

function readCursor(cursor: string): { at: number; id: string } {
  const m = /^(\d{1,15})\.([A-Za-z0-9_-]{1,64})$/.exec(cursor);
  if (!m) throw new InputError('the cursor is not one this server gave out');
  return { at: Number(m[1]), id: m[2] };
}

export function auditStore(db: Kysely<Database>): AuditStore {
  return {
    async record(e) {
      await db
        .insertInto('audit_events')
        .values({
          id: e.id, tenant_id: e.tenantId, type: e.type, at: e.at, actor: e.actor,
          client_id: e.clientId, user_id: e.userId, ip: e.ip, detail: json(e.detail),
        })
        .execute();
    },
    async list(tenantId, query) {
      let q = db.selectFrom('audit_events').selectAll().where('tenant_id', '=', tenantId);
      if (query.type !== undefined) {
        const family = AUDIT_EVENT_TYPES.filter((t) => t.startsWith(`${query.type}.`));
        if (!query.type.includes('.') && family.length === 0) return { events: [] };
        q = query.type.includes('.') ? q.where('type', '=', query.type) : q.where('type', 'in', family);
      }
      if (query.since !== undefined) q = q.where('at', '>=', query.since);
      if (query.cursor !== undefined) {
        const c = readCursor(query.cursor);
        q = q.where((eb) => eb.or([eb('at', '<', c.at), eb.and([eb('at', '=', c.at), eb('id', '<', c.id)])]));
      }
      // One row more than asked says whether another page follows.
      const rows = await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(query.limit + 1).execute();
      const events = rows.slice(0, query.limit).map(toEvent);
      return rows.length > query.limit ? { events, nextCursor: cursorOf(events[events.length - 1]) } : { events };
    },
  };
}
