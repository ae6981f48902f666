import type { Kysely } from 'kysely';
import { InputError } from '../../errors.js';
import type { Database } from '../schema.js';
import type { AuditRows } from '../stores.js';
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

/** Rows per INSERT: 9 parameters each stays far below SQLite's and PostgreSQL's limits. */
const INSERT_ROWS = 500;

export function auditRows(db: Kysely<Database>): AuditRows {
  return {
    async insert(batch) {
      if (batch.length === 0) return;
      // A batch is written a moment after its events happened: a tenant deleted in between
      // would fail the whole INSERT (foreign key). Its events are dropped, as deleting the
      // tenant would have removed them (ON DELETE CASCADE); a deletion racing this SELECT
      // fails the INSERT, and the writer's retry selects again.
      const tenants = [...new Set(batch.map((e) => e.tenantId))];
      const live = new Set((await db.selectFrom('tenants').select('id').where('id', 'in', tenants).execute()).map((r) => r.id));
      const events = batch.filter((e) => live.has(e.tenantId));
      for (let i = 0; i < events.length; i += INSERT_ROWS) {
        const rows = events.slice(i, i + INSERT_ROWS).map((e) => ({
          id: e.id, tenant_id: e.tenantId, type: e.type, at: e.at, actor: e.actor,
          client_id: e.clientId, user_id: e.userId, ip: e.ip, detail: json(e.detail),
        }));
        await db.insertInto('audit_events').values(rows).execute();
      }
    },
    async list(tenantId, query) {
      let q = db.selectFrom('audit_events').selectAll().where('tenant_id', '=', tenantId);
      if (query.type !== undefined) {
        const family = AUDIT_EVENT_TYPES.filter((t) => t.startsWith(`${query.type}.`));
        if (!query.type.includes('.') && family.length === 0) return { events: [] };
        q = query.type.includes('.') ? q.where('type', '=', query.type) : q.where('type', 'in', family);
      }
      if (query.since !== undefined) q = q.where('at', '>=', query.since);
      if (query.until !== undefined) q = q.where('at', '<', query.until);
      if (query.actor !== undefined) q = q.where('actor', '=', query.actor);
      if (query.userId !== undefined) q = q.where('user_id', '=', query.userId);
      if (query.clientId !== undefined) q = q.where('client_id', '=', query.clientId);
      if (query.cursor !== undefined) {
        const c = readCursor(query.cursor);
        q = q.where((eb) => eb.or([eb('at', '<', c.at), eb.and([eb('at', '=', c.at), eb('id', '<', c.id)])]));
      }
      // One row more than asked says whether another page follows.
      const rows = await q.orderBy('at', 'desc').orderBy('id', 'desc').limit(query.limit + 1).execute();
      const events = rows.slice(0, query.limit).map(toEvent);
      return rows.length > query.limit ? { events, nextCursor: cursorOf(events[events.length - 1]) } : { events };
    },
    async deleteBefore(before) {
      const r = await db.deleteFrom('audit_events').where('at', '<', before).executeTakeFirst();
      return Number(r.numDeletedRows);
    },
  };
}
