import { InputError } from '../../errors.js';
import { checkOperatorScope, setOperatorScope } from '../../manage/operators.js';
import { grantView, listUserGrants, listUserSessions, revokeUserGrant, revokeUserSession, sessionView } from '../../manage/sessions.js';
import { ADMIN_TENANT, requireTenant, type ManageDeps } from '../../manage/tenants.js';
import { createUser, deleteUser, requireUser, updateUser, userView, type UserInput } from '../../manage/users.js';
import type { User } from '../../storage/types.js';
import { flag, positional, required, split, str, toggle, UsageError, type Values } from '../args.js';
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
    mustChangePassword: toggle(v, 'must-change-password'),
  };
}

/** `--operator-tenants a,b` (scoped) or `--global-operator`; undefined when neither is given. */
function operatorScope(v: Values): string[] | null | undefined {
  if (str(v, 'operator-tenants') !== undefined && flag(v, 'global-operator')) throw new UsageError('give --operator-tenants or --global-operator, not both');
  return flag(v, 'global-operator') ? null : split(str(v, 'operator-tenants'), /[\s,]+/);
}

/** The user as shown, with an operator's scope when the user is one. */
async function viewOf(deps: ManageDeps, u: User) {
  return u.tenantId === ADMIN_TENANT ? { ...userView(u), operator_tenants: await deps.storage.operators.scope(u.id) } : userView(u);
}

const FIELDS = {
  tenant: { type: 'string' },
  username: { type: 'string' },
  email: { type: 'string' },
  name: { type: 'string' },
  'password-stdin': { type: 'boolean' },
  'email-verified': { type: 'boolean' },
  verified: { type: 'boolean' },
  'must-change-password': { type: 'boolean' },
  'operator-tenants': { type: 'string' },
  'global-operator': { type: 'boolean' },
} as const;

export const userCommands: Command[] = [
  {
    name: 'user create',
    usage: 'user create --tenant T --username U --password-stdin [--email E] [--email-verified] [--name N] [--must-change-password] [--operator-tenants a,b]',
    arguments: 0,
    options: FIELDS,
    async run({ values, env }) {
      const tenant = required(values, 'tenant');
      required(values, 'username');
      if (!flag(values, 'password-stdin')) throw new UsageError('--password-stdin is required (the password is read from standard input, never from the command line)');
      const deps = await env.deps();
      const scope = operatorScope(values);
      if (scope !== undefined) await checkOperatorScope(deps, tenant, scope);
      const user = await createUser(deps, tenant, await input(values, env));
      if (scope !== undefined) await setOperatorScope(deps, tenant, user.id, scope);
      const v = await viewOf(deps, user);
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'user list',
    usage: 'user list --tenant T',
    arguments: 0,
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
    arguments: 1,
    options: { tenant: { type: 'string' } },
    positional: 'user id or username',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const deps = await env.deps();
      const v = await viewOf(deps, await requireUser(deps, tenant, positional(positionals, 0, 'user id or username')));
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'user update',
    usage: 'user update --tenant T ID|USERNAME [--username U] [--email E] [--email-verified | --verified | --no-email-verified] [--name N] [--password-stdin] [--disabled | --enabled] [--must-change-password | --no-must-change-password] [--operator-tenants a,b | --global-operator]',
    arguments: 1,
    options: {
      ...FIELDS, 'no-email-verified': { type: 'boolean' }, 'no-verified': { type: 'boolean' }, disabled: { type: 'boolean' }, enabled: { type: 'boolean' },
      'no-must-change-password': { type: 'boolean' },
    },
    positional: 'user id or username',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const id = positional(positionals, 0, 'user id or username');
      const deps = await env.deps();
      const scope = operatorScope(values);
      if (scope !== undefined) await checkOperatorScope(deps, tenant, scope);
      const user = await updateUser(deps, tenant, id, await input(values, env));
      if (scope !== undefined) await setOperatorScope(deps, tenant, user.id, scope);
      const v = await viewOf(deps, user);
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'user delete',
    usage: 'user delete --tenant T ID|USERNAME',
    arguments: 1,
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
  // The admin API's sessions and grants of a user (admin/sessions.ts), through the same functions.
  {
    name: 'user sessions',
    usage: 'user sessions --tenant T ID|USERNAME',
    arguments: 1,
    options: { tenant: { type: 'string' } },
    positional: 'user id or username',
    async run({ values, positionals, env }) {
      const { sessions } = await listUserSessions(await env.deps(), required(values, 'tenant'), positional(positionals, 0, 'user id or username'));
      const rows = sessions.map(sessionView);
      return { json: { sessions: rows }, text: table(rows, ['id', 'auth_time', 'expires_at']) };
    },
  },
  {
    name: 'user revoke-session',
    usage: 'user revoke-session --tenant T ID|USERNAME SESSION_ID',
    arguments: 2,
    options: { tenant: { type: 'string' } },
    positional: 'user id or username',
    async run({ values, positionals, env }) {
      const sid = positional(positionals, 1, 'session id');
      await revokeUserSession(await env.deps(), required(values, 'tenant'), positional(positionals, 0, 'user id or username'), sid);
      return { json: { revoked: { session: sid } }, text: `ended session ${sid} and its session-bound refresh tokens` };
    },
  },
  {
    name: 'user grants',
    usage: 'user grants --tenant T ID|USERNAME',
    arguments: 1,
    options: { tenant: { type: 'string' } },
    positional: 'user id or username',
    async run({ values, positionals, env }) {
      const { grants } = await listUserGrants(await env.deps(), required(values, 'tenant'), positional(positionals, 0, 'user id or username'));
      const rows = grants.map(grantView);
      return { json: { grants: rows }, text: table(rows, ['id', 'client_id', 'scope', 'expires_at']) };
    },
  },
  {
    name: 'user revoke-grant',
    usage: 'user revoke-grant --tenant T ID|USERNAME GRANT_ID',
    arguments: 2,
    options: { tenant: { type: 'string' } },
    positional: 'user id or username',
    async run({ values, positionals, env }) {
      const grant = positional(positionals, 1, 'grant id');
      await revokeUserGrant(await env.deps(), required(values, 'tenant'), positional(positionals, 0, 'user id or username'), grant);
      return { json: { revoked: { grant } }, text: `revoked grant ${grant} with every token and code issued under it` };
    },
  },
];
