import { InputError } from '../../errors.js';
import { revokeBefore } from '../../manage/not_before.js';
import { requireTenant } from '../../manage/tenants.js';
import { AUDIT_EVENT_TYPES, type AuditEvent } from '../../storage/types.js';
import { int, required, str } from '../args.js';
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

/** `now`, or whole seconds since the epoch. */
function time(value: string | undefined): number | 'now' {
  if (value === undefined || value === 'now') return 'now';
  if (!/^\d{1,12}$/.test(value)) throw new InputError(`--time must be now or whole seconds since the epoch, not ${JSON.stringify(value)}`);
  return Number(value);
}

export const auditCommands: Command[] = [
  {
    name: 'audit list',
    usage: 'audit list --tenant T [--type TYPE|FAMILY] [--since EPOCH] [--limit N] [--cursor C]',
    options: { tenant: { type: 'string' }, type: { type: 'string' }, since: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' } },
    async run({ values, env }) {
      const deps = await env.deps();
      const tenant = (await requireTenant(deps, required(values, 'tenant'))).id;
      const limit = int(values, 'limit') ?? 50;
      if (limit < 1 || limit > MAX_LIMIT) throw new InputError(`--limit must be from 1 to ${MAX_LIMIT}`);
      const page = await deps.storage.audit.list(tenant, { type: eventType(str(values, 'type')), since: int(values, 'since'), limit, cursor: str(values, 'cursor') });
      const events = page.events.map(view);
      const rows = events.map((e) => ({ ...e, at: new Date(e.at * 1000).toISOString(), detail: JSON.stringify(e.detail) }));
      const more = page.nextCursor ? `\n\nmore: tessera audit list --tenant ${tenant} --cursor ${page.nextCursor}` : '';
      return {
        json: { events, ...(page.nextCursor && { next_cursor: page.nextCursor }) },
        text: table(rows, ['at', 'type', 'actor', 'client_id', 'user_id', 'ip', 'detail']) + more,
      };
    },
  },
  {
    name: 'revoke-before',
    usage: 'revoke-before --tenant T [--client C] [--time now|EPOCH]',
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
