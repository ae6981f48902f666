import { InputError } from '../../errors.js';
import { requireTenant } from '../../manage/tenants.js';
import { createUser, deleteUser, requireUser, updateUser, userView, type UserInput } from '../../manage/users.js';
import { flag, positional, required, str, toggle, UsageError, type Values } from '../args.js';
import { describe, table, type CliEnv, type Command } from '../command.js';

/**
 * A password comes from standard input only, never from the command line, where the
 * process list and shell history would show it. One line; its line ending is dropped
 * (`printf 'pw\n' | …`, `echo pw | …`).
 */
async function readPassword(env: CliEnv): Promise<string> {
  const password = (await env.stdin()).replace(/\r?\n$/, '');
  if (password === '') throw new InputError('--password-stdin: standard input held no password');
  if (/[\r\n]/.test(password)) throw new InputError('--password-stdin: the password must be a single line');
  return password;
}

async function input(v: Values, env: CliEnv): Promise<UserInput> {
  if (flag(v, 'disabled') && flag(v, 'enabled')) throw new UsageError('give --disabled or --enabled, not both');
  return {
    username: str(v, 'username'),
    email: str(v, 'email'),
    name: str(v, 'name'),
    // `--verified` is the short form of `--email-verified`.
    emailVerified: toggle(v, 'email-verified') ?? toggle(v, 'verified'),
    disabled: flag(v, 'disabled') ? true : flag(v, 'enabled') ? false : undefined,
    password: flag(v, 'password-stdin') ? await readPassword(env) : undefined,
  };
}

const FIELDS = {
  tenant: { type: 'string' },
  username: { type: 'string' },
  email: { type: 'string' },
  name: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  'email-verified': { type: 'boolean' },
  verified: { type: 'boolean' },
} as const;

export const userCommands: Command[] = [
  {
    name: 'user create',
    usage: 'user create --tenant T --username U --password-stdin [--email E] [--email-verified] [--name N]',
    options: FIELDS,
    async run({ values, env }) {
      const tenant = required(values, 'tenant');
      required(values, 'username');
      if (!flag(values, 'password-stdin')) throw new UsageError('--password-stdin is required (the password is read from standard input, never from the command line)');
      const v = userView(await createUser(await env.deps(), tenant, await input(values, env)));
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'user list',
    usage: 'user list --tenant T',
    options: { tenant: { type: 'string' } },
    async run({ values, env }) {
      const deps = await env.deps();
      const tenant = (await requireTenant(deps, required(values, 'tenant'))).id;
      const rows = (await deps.storage.users.list(tenant)).map(userView);
      return { json: { users: rows }, text: table(rows, ['id', 'username', 'email', 'name', 'disabled']) };
    },
  },
  {
    name: 'user show',
    usage: 'user show --tenant T ID|USERNAME',
    options: { tenant: { type: 'string' } },
    positional: 'user id or username',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const v = userView(await requireUser(await env.deps(), tenant, positional(positionals, 0, 'user id or username')));
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'user update',
    usage: 'user update --tenant T ID|USERNAME [--username U] [--email E] [--email-verified | --verified | --no-email-verified] [--name N] [--password-stdin] [--disabled | --enabled]',
    options: { ...FIELDS, 'no-email-verified': { type: 'boolean' }, 'no-verified': { type: 'boolean' }, disabled: { type: 'boolean' }, enabled: { type: 'boolean' } },
    positional: 'user id or username',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const id = positional(positionals, 0, 'user id or username');
      const v = userView(await updateUser(await env.deps(), tenant, id, await input(values, env)));
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'user delete',
    usage: 'user delete --tenant T ID|USERNAME',
    options: { tenant: { type: 'string' } },
    positional: 'user id or username',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const user = await deleteUser(await env.deps(), tenant, positional(positionals, 0, 'user id or username'));
      return {
        json: { deleted: { id: user.id, username: user.username } },
        text: `deleted user ${user.username} (${user.id}) with their sessions, consents and grants`,
      };
    },
  },
];
