import { apiView, createApiWithSecret, deleteApi, requireApi, updateApi, type ApiInput } from '../../manage/apis.js';
import { requireTenant } from '../../manage/tenants.js';
import { auditApiChange, changedOptions } from '../../audit_changes.js';
import { int, list, positional, required, split, str, type Values } from '../args.js';
import { describe, table, type Command } from '../command.js';

const API_OPTIONS = {
  tenant: { type: 'string' },
  audience: { type: 'string' },
  name: { type: 'string' },
  scope: { type: 'string', multiple: true },
  scopes: { type: 'string' },
  'access-token-ttl': { type: 'string' },
} as const;

/** `--scope NAME[=DESCRIPTION]` (repeatable) and `--scopes "a b"` together; undefined if neither. */
function scopes(v: Values): string[] | undefined {
  const one = list(v, 'scope');
  const many = split(str(v, 'scopes'), /\s+/);
  return one === undefined && many === undefined ? undefined : [...(one ?? []), ...(many ?? [])];
}

const input = (v: Values): ApiInput => ({
  audience: str(v, 'audience'),
  name: str(v, 'name'),
  scopes: scopes(v),
  accessTokenTtl: int(v, 'access-token-ttl'),
});

const textOf = (v: ReturnType<typeof apiView>) =>
  describe({ ...v, scopes: undefined }) +
  ((v.scopes as { name: string; description: string }[]).length
    ? `\nscopes:\n${(v.scopes as { name: string; description: string }[]).map((s) => `  ${s.name}  ${s.description}`).join('\n')}`
    : '');

export const apiCommands: Command[] = [
  {
    name: 'api create',
    usage: 'api create --tenant T --audience URI [--name N] [--scope NAME[=DESCRIPTION]]... [--scopes "a b"] [--access-token-ttl S]',
    arguments: 0,
    options: API_OPTIONS,
    async run({ values, env }) {
      const tenant = required(values, 'tenant');
      required(values, 'audience');
      const fields = input(values);
      const deps = await env.deps();
      const { api, secret } = await createApiWithSecret(deps, tenant, fields, env.config().tokens.maxAccessTokenTtl);
      await auditApiChange(deps, tenant, 'api.created', api);
      // The API's resource-server credentials for introspection, shown once (like a client secret).
      const v = { client_id: api.id, client_secret: secret, ...apiView(api) };
      return { json: v, text: textOf(v) };
    },
  },
  {
    name: 'api list',
    usage: 'api list --tenant T',
    arguments: 0,
    options: { tenant: { type: 'string' } },
    async run({ values, env }) {
      const deps = await env.deps();
      const tenant = (await requireTenant(deps, required(values, 'tenant'))).id;
      const rows = (await deps.storage.apis.list(tenant)).map(apiView);
      const text = table(
        rows.map((r) => ({ ...r, scopes: (r.scopes as { name: string }[]).map((s) => s.name) })),
        ['id', 'audience', 'name', 'scopes'],
      );
      return { json: { apis: rows }, text };
    },
  },
  {
    name: 'api show',
    usage: 'api show --tenant T ID|AUDIENCE',
    arguments: 1,
    options: { tenant: { type: 'string' } },
    positional: 'API id',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const id = positional(positionals, 0, 'API id or audience');
      const v = apiView(await requireApi(await env.deps(), tenant, id));
      return { json: v, text: textOf(v) };
    },
  },
  {
    name: 'api update',
    usage: 'api update --tenant T ID|AUDIENCE [--audience URI] [--name N] [--scope NAME[=DESCRIPTION]]... [--scopes "a b"] [--access-token-ttl S]',
    arguments: 1,
    options: API_OPTIONS,
    positional: 'API id',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const id = positional(positionals, 0, 'API id or audience');
      const fields = input(values);
      const deps = await env.deps();
      const api = await updateApi(deps, tenant, id, fields, env.config().tokens.maxAccessTokenTtl);
      // `--scope` and `--scopes` both replace the scope list: one field, as in the admin API.
      await auditApiChange(deps, tenant, 'api.updated', api, { fields: changedOptions(values, (n) => (n === 'scope' ? 'scopes' : n)) });
      const v = apiView(api);
      return { json: v, text: textOf(v) };
    },
  },
  {
    name: 'api delete',
    usage: 'api delete --tenant T ID|AUDIENCE',
    arguments: 1,
    options: { tenant: { type: 'string' } },
    positional: 'API id',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const deps = await env.deps();
      const api = await deleteApi(deps, tenant, positional(positionals, 0, 'API id or audience'));
      await auditApiChange(deps, tenant, 'api.deleted', api);
      return { json: { deleted: { id: api.id, audience: api.audience } }, text: `deleted API ${api.id} (${api.audience})` };
    },
  },
];
