import { createInitialToken, listInitialTokens, revokeInitialToken } from '../../manage/dcr.js';
import type { DcrPolicyPatch } from '../../manage/dcr_policy.js';
import { int, onOff, positional, required, split, str, type Values } from '../args.js';
import { describe, table, type Command } from '../command.js';

/** `tenant update`'s `--dcr*` options as a policy patch; undefined when none is given. */
export function dcrPatch(values: Values): DcrPolicyPatch | undefined {
  const patch: DcrPolicyPatch = {
    enabled: onOff(values, 'dcr'),
    open: onOff(values, 'dcr-open'),
    grantTypes: split(str(values, 'dcr-allowed-grant-types'), /,/),
    allow: split(str(values, 'dcr-allow'), /,/),
    scopes: split(str(values, 'dcr-scopes'), /\s+/),
  };
  return Object.values(patch).some((v) => v !== undefined) ? patch : undefined;
}

/** RFC 7591 §3 initial access tokens: made and revoked by operators, shown once. */
export const dcrCommands: Command[] = [
  {
    name: 'dcr token create',
    usage: 'dcr token create --tenant T [--expires-in SECONDS] [--max-uses N]',
    arguments: 0,
    options: { tenant: { type: 'string' }, 'expires-in': { type: 'string' }, 'max-uses': { type: 'string' } },
    async run({ values, env }) {
      const t = await createInitialToken(await env.deps(), required(values, 'tenant'), { expiresIn: int(values, 'expires-in'), maxUses: int(values, 'max-uses') });
      return { json: t, text: `${describe(t)}\n(the token is shown only this once)` };
    },
  },
  {
    name: 'dcr token list',
    usage: 'dcr token list --tenant T',
    arguments: 0,
    options: { tenant: { type: 'string' } },
    async run({ values, env }) {
      const rows = await listInitialTokens(await env.deps(), required(values, 'tenant'));
      return { json: { tokens: rows }, text: table(rows, ['id', 'expires_at', 'max_uses', 'uses', 'revoked']) };
    },
  },
  {
    name: 'dcr token revoke',
    usage: 'dcr token revoke --tenant T TOKEN_ID',
    arguments: 1,
    options: { tenant: { type: 'string' } },
    positional: 'TOKEN_ID',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const id = positional(positionals, 0, 'TOKEN_ID');
      await revokeInitialToken(await env.deps(), tenant, id);
      return { json: { revoked: { id } }, text: `revoked initial access token ${id}` };
    },
  },
];
