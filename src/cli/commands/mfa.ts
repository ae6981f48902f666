import { checkPolicy, clientMfa, resetUserMfa, setClientMfa, setTenantMfa, tenantMfa, userMfa } from '../../manage/mfa.js';
import { onOff, positional, required, str } from '../args.js';
import { describe, table, type Command } from '../command.js';

/** Second factors (docs/mfa.md): the tenant's and a client's policy, a user's factors, and their reset. */
export const mfaCommands: Command[] = [
  {
    name: 'tenant mfa',
    usage: 'tenant mfa ID [--mfa optional|required]',
    arguments: 1,
    options: { mfa: { type: 'string' } },
    positional: 'tenant ID',
    async run({ values, positionals, env }) {
      const id = positional(positionals, 0, 'tenant ID');
      const deps = await env.deps();
      const policy = str(values, 'mfa');
      const v = policy === undefined ? await tenantMfa(deps, id) : await setTenantMfa(deps, id, checkPolicy(policy));
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'client mfa',
    usage: 'client mfa --tenant T CLIENT_ID [--require-mfa on|off]',
    arguments: 1,
    options: { tenant: { type: 'string' }, 'require-mfa': { type: 'string' } },
    positional: 'CLIENT_ID',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const clientId = positional(positionals, 0, 'CLIENT_ID');
      const deps = await env.deps();
      const want = onOff(values, 'require-mfa');
      const v = want === undefined ? await clientMfa(deps, tenant, clientId) : await setClientMfa(deps, tenant, clientId, want);
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'user mfa',
    usage: 'user mfa --tenant T USER',
    arguments: 1,
    options: { tenant: { type: 'string' } },
    positional: 'USER',
    async run({ values, positionals, env }) {
      const v = await userMfa(await env.deps(), required(values, 'tenant'), positional(positionals, 0, 'USER'));
      return { json: v, text: `${describe({ user_id: v.user_id, username: v.username, recovery_codes_left: v.recovery_codes_left })}\n${table(v.factors, ['id', 'type', 'label', 'created_at', 'last_used_at'])}` };
    },
  },
  {
    name: 'user reset-mfa',
    usage: 'user reset-mfa --tenant T USER',
    arguments: 1,
    options: { tenant: { type: 'string' } },
    positional: 'USER',
    async run({ values, positionals, env }) {
      const v = await resetUserMfa(await env.deps(), required(values, 'tenant'), positional(positionals, 0, 'USER'));
      return { json: v, text: `removed ${v.factors_removed} factor(s) and the recovery codes of ${v.username}` };
    },
  },
];
