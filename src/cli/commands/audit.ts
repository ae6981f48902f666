import { InputError } from '../../errors.js';
import { revokeBefore } from '../../manage/not_before.js';
import { requireTenant, type ManageDeps } from '../../manage/tenants.js';
import { findUserByLogin } from '../../manage/users.js';
import { AUDIT_EVENT_TYPES, type AuditEvent } from '../../storage/types.js';
import { int, required, str, type Values } from '../args.js';
import { table, type Command } from '../command.js';

const MAX_LIMIT = 1000;

const view = (e: AuditEvent) => ({
  id: e.id, type: e.type, at: e.at, actor: e.actor, client_id: e.clientId, user_id: e.userId, ip: e.ip, detail: e.detail,
});

function eventType(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const families = [...new Set(AUDIT_EVENT_TYPES.map((t) => t.split('.')[0]))];
  if (!(AUDIT_EVENT_TYPES as readonly string[]).includes(value) && !families.includes(value)) {
    throw new InputError(`--type must be one of ${AUDIT_EVENT_TYPES.join(', ')}, or a family (${families.join(', ')})`);
  }
  return value;
}

/** Whole seconds since the epoch, or an ISO 8601 date/time (`2026-01-31`, `2026-01-31T12:00:00Z`). */
function instant(values: Values, name: 'since' | 'until'): number | undefined {
  const value = str(values, name);
  if (value === undefined) return undefined;
  if (/^\d{1,12}$/.test(value)) return Number(value);
  const ms = /^\d{4}-\d\d-\d\d([T ][\d:.]+(Z|[+-]\d\d:?\d\d)?)?$/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new InputError(`--${name} must be seconds since the epoch or an ISO 8601 time such as 2026-01-31T12:00:00Z, not ${JSON.stringify(value)}`);
  return Math.floor(ms / 1000);
}

/** A user's id, or the id of the user with that username; an unknown one is taken as an id (its events outlive it). */
async function userId(deps: ManageDeps, tenant: string, value: string | undefined): Promise<string | undefined> {
  if (value === undefined) return undefined;
  return (await findUserByLogin(deps.storage, tenant, value))?.id ?? value;
}

/** A filter naming an actor, user or client: 1–200 characters, as in the admin API. */
function filter(values: Values, name: 'actor' | 'user' | 'client'): string | undefined {
  const value = str(values, name);
  if (value !== undefined && (value === '' || value.length > 200)) throw new InputError(`--${name} must be 1–200 characters`);
  return value;
}

/** `now`, or whole seconds since the epoch. */
function time(value: string | undefined): number | 'now' {
  if (value === undefined || value === 'now') return 'now';
  if (!/^\d{1,12}$/.test(value)) throw new InputError(`--time must be now or whole seconds since the epoch, not ${JSON.stringify(value)}`);
  return Number(value);
}

export const auditCommands: Command[] = [
  {
    name: 'audit list',
    usage: 'audit list --tenant T [--type TYPE|FAMILY] [--actor A] [--user ID|USERNAME] [--client CLIENT_ID] [--since EPOCH|ISO] [--until EPOCH|ISO] [--limit N] [--cursor C] [--json]',
    arguments: 0,
    options: {
      tenant: { type: 'string' }, type: { type: 'string' }, actor: { type: 'string' }, user: { type: 'string' }, client: { type: 'string' },
      since: { type: 'string' }, until: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' },
    },
    async run({ values, env }) {
      const deps = await env.deps();
      const tenant = (await requireTenant(deps, required(values, 'tenant'))).id;
      const limit = int(values, 'limit') ?? 50;
      if (limit < 1 || limit > MAX_LIMIT) throw new InputError(`--limit must be from 1 to ${MAX_LIMIT}`);
      // Reading flushes this process's queued events first (storage/audit_writer.ts).
      const page = await deps.storage.audit.list(tenant, {
        type: eventType(str(values, 'type')), since: instant(values, 'since'), until: instant(values, 'until'),
        actor: filter(values, 'actor'), userId: await userId(deps, tenant, filter(values, 'user')), clientId: filter(values, 'client'),
        limit, cursor: str(values, 'cursor'),
      });
      const events = page.events.map(view);
      const rows = events.map((e) => ({ ...e, at: new Date(e.at * 1000).toISOString(), detail: JSON.stringify(e.detail) }));
      // The cursor is a position in the filtered list: the same filters go with it.
      const filters = ['type', 'actor', 'user', 'client', 'since', 'until', 'limit'].flatMap((f) => (str(values, f) === undefined ? [] : [`--${f} ${JSON.stringify(str(values, f))}`]));
      const more = page.nextCursor ? `\n\nmore: tessera audit list --tenant ${tenant} ${[...filters, `--cursor ${page.nextCursor}`].join(' ')}` : '';
      return {
        json: { events, ...(page.nextCursor && { next_cursor: page.nextCursor }) },
        text: table(rows, ['at', 'type', 'actor', 'client_id', 'user_id', 'ip', 'detail']) + more,
      };
    },
  },
  {
    name: 'revoke-before',
    usage: 'revoke-before --tenant T [--client C] [--time now|EPOCH]',
    arguments: 0,
    options: { tenant: { type: 'string' }, client: { type: 'string' }, time: { type: 'string' } },
    async run({ values, env }) {
      const r = await revokeBefore(await env.deps(), required(values, 'tenant'), { clientId: str(values, 'client'), time: time(str(values, 'time')) });
      const whose = r.clientId !== undefined ? `client ${r.clientId} of tenant ${r.tenant}` : `tenant ${r.tenant}`;
      return {
        json: { tenant: r.tenant, ...(r.clientId !== undefined && { client_id: r.clientId }), not_before: r.notBefore },
        text: r.notBefore === 0
          ? `not-before policy of ${whose} lifted`
          : `tokens of ${whose} issued before ${new Date(r.notBefore * 1000).toISOString()} (${r.notBefore}) are no longer accepted`,
      };
    },
  },
];
