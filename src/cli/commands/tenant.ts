import { createTenant, deleteTenant, requireTenant, updateTenant } from '../../manage/tenants.js';
import { tenantView as view } from '../../manage/tenant_view.js';
import { int, onOff, positional, str } from '../args.js';
import { describe, table, type Command } from '../command.js';
import { dcrPatch } from './dcr.js';
import { auditTenantChange, changedOptions } from '../../audit_changes.js';

export const tenantCommands: Command[] = [
  {
    name: 'tenant create',
    usage: 'tenant create ID [--display-name N] [--default-audience URI]',
    arguments: 1,
    options: { 'display-name': { type: 'string' }, 'default-audience': { type: 'string' } },
    async run({ values, positionals, env }) {
      const deps = await env.deps();
      const t = await createTenant(deps, {
        id: positional(positionals, 0, 'tenant ID'),
        displayName: str(values, 'display-name'),
        defaultAudience: str(values, 'default-audience'),
      });
      await auditTenantChange(deps, 'tenant.created', t.id);
      const v = view(t, env.config().publicUrl);
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'tenant list',
    usage: 'tenant list',
    arguments: 0,
    options: {},
    async run({ env }) {
      const rows = (await (await env.deps()).storage.tenants.list()).map((t) => view(t, env.config().publicUrl));
      return { json: { tenants: rows }, text: table(rows, ['id', 'display_name', 'issuer']) };
    },
  },
  {
    name: 'tenant show',
    usage: 'tenant show ID',
    arguments: 1,
    options: {},
    async run({ positionals, env }) {
      const v = view(await requireTenant(await env.deps(), positional(positionals, 0, 'tenant ID')), env.config().publicUrl);
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'tenant update',
    usage: 'tenant update ID [--display-name N] [--default-audience URI] [--session-idle SECONDS] [--session-max SECONDS] [--personal-token-max-days DAYS] [--registration on|off] [--require-verified-email on|off] [--email-from ADDRESS] [--hostname HOST (\'\' clears)] [--dcr on|off] [--dcr-open on|off] [--dcr-allowed-grant-types a,b] [--dcr-allow consent-skip,web-page,password,token-exchange (\'\' allows none)] [--dcr-scopes "s1 s2"]',
    arguments: 1,
    options: {
      'display-name': { type: 'string' }, 'default-audience': { type: 'string' }, 'session-idle': { type: 'string' }, 'session-max': { type: 'string' },
      'personal-token-max-days': { type: 'string' }, registration: { type: 'string' }, 'require-verified-email': { type: 'string' }, 'email-from': { type: 'string' },
      hostname: { type: 'string' },
      dcr: { type: 'string' }, 'dcr-open': { type: 'string' }, 'dcr-allowed-grant-types': { type: 'string' }, 'dcr-allow': { type: 'string' }, 'dcr-scopes': { type: 'string' },
    },
    async run({ values, positionals, env }) {
      const deps = await env.deps();
      const t = await updateTenant(deps, positional(positionals, 0, 'tenant ID'), {
        displayName: str(values, 'display-name'),
        defaultAudience: str(values, 'default-audience'),
        sessionIdleSeconds: int(values, 'session-idle'),
        sessionMaxSeconds: int(values, 'session-max'),
        personalTokenMaxDays: int(values, 'personal-token-max-days'),
        registration: onOff(values, 'registration'),
        requireVerifiedEmail: onOff(values, 'require-verified-email'),
        emailFrom: str(values, 'email-from'),
        hostname: str(values, 'hostname'),
        dcr: dcrPatch(values),
      });
      await auditTenantChange(deps, 'tenant.updated', t.id, { fields: changedOptions(values, (n) => (n.startsWith('dcr') ? 'dcr' : n)) });
      const v = view(t, env.config().publicUrl);
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'tenant delete',
    usage: 'tenant delete ID',
    arguments: 1,
    options: {},
    async run({ positionals, env }) {
      const id = positional(positionals, 0, 'tenant ID');
      const deps = await env.deps();
      await deleteTenant(deps, id);
      await auditTenantChange(deps, 'tenant.deleted', id);
      return { json: { deleted: { id } }, text: `deleted tenant ${id} and everything in it` };
    },
  },
];
