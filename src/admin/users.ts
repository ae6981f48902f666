import { z } from 'zod';
import { InputError, OAuthError } from '../errors.js';
import { checkOperatorScope, setOperatorScope } from '../manage/operators.js';
import { ADMIN_TENANT, requireTenant } from '../manage/tenants.js';
import { checkUsername, createUser, deleteUser, requireUser, updateUser, userView, type UserInput } from '../manage/users.js';
import { checkEmail } from '../manage/validate.js';
import type { User } from '../storage/types.js';
import { pageOf, pageQuery, paginate } from './cursor.js';
import { route, type AdminCall } from './route.js';
import { checked, deleted, tenantParams, userSchema } from './schemas.js';

const updateBody = z.strictObject({
  username: checked(checkUsername),
  password: z.string().describe('set a new password (the password policy applies); ends the user’s sessions'),
  email: checked((v) => checkEmail(v)).describe('"" removes it'),
  email_verified: z.boolean(),
  name: z.string(),
  disabled: z.boolean().describe('a disabled user cannot sign in, and their sessions end'),
  must_change_password: z.boolean().describe('sign-in asks for a new password first; a new password clears it unless given'),
  operator_tenants: z.array(z.string()).nullable().describe('admin tenant only: the tenants this operator manages; null = every tenant'),
}).partial();
const createBody = updateBody.extend({ username: updateBody.shape.username.unwrap() });

export const userParams = tenantParams.extend({ user: z.string().describe('user id or username') });

const input = (b: z.infer<typeof updateBody>): UserInput => ({
  username: b.username, password: b.password, email: b.email, emailVerified: b.email_verified, name: b.name, disabled: b.disabled, mustChangePassword: b.must_change_password,
});

/** A scope's problems are the operator_tenants field's (manage/operators.ts decides them). */
async function checkScope(call: AdminCall<{ tenant: string }, unknown, { operator_tenants?: string[] | null }>): Promise<void> {
  if (call.body.operator_tenants === undefined) return;
  try {
    await checkOperatorScope(call.deps, call.params.tenant, call.body.operator_tenants);
  } catch (err) {
    if (err instanceof InputError) throw new OAuthError('invalid_request', err.message, { field: 'operator_tenants' });
    throw err;
  }
}

async function view(call: AdminCall<{ tenant: string }, unknown, unknown>, u: User) {
  return u.tenantId === ADMIN_TENANT ? { ...userView(u), operator_tenants: await call.services.storage.operators.scope(u.id) } : userView(u);
}

export const userRoutes = [
  route({
    method: 'GET', path: '/tenants/{tenant}/users', operationId: 'listUsers', tag: 'users', summary: 'List a tenant’s users',
    params: tenantParams, query: pageQuery, response: pageOf(userSchema),
    handler: async (call) => {
      await requireTenant(call.deps, call.params.tenant);
      const all = await call.services.storage.users.list(call.params.tenant);
      const page = await paginate(call.services, `users ${call.params.tenant}`, all, (u) => u.id, call.query, (u) => u);
      return { ...page, items: await Promise.all(page.items.map((u) => view(call, u))) };
    },
  }),
  route({
    method: 'POST', path: '/tenants/{tenant}/users', operationId: 'createUser', tag: 'users', summary: 'Create a user (in the admin tenant: an operator)',
    params: tenantParams, body: createBody, status: 201, response: userSchema,
    handler: async (call) => {
      await checkScope(call);
      const user = await createUser(call.deps, call.params.tenant, input(call.body));
      if (call.body.operator_tenants) await setOperatorScope(call.deps, call.params.tenant, user.id, call.body.operator_tenants);
      return view(call, user);
    },
  }),
  route({
    method: 'GET', path: '/tenants/{tenant}/users/{user}', operationId: 'getUser', tag: 'users', summary: 'Show a user',
    params: userParams, response: userSchema,
    handler: async (call) => view(call, await requireUser(call.deps, call.params.tenant, call.params.user)),
  }),
  route({
    method: 'PATCH', path: '/tenants/{tenant}/users/{user}', operationId: 'updateUser', tag: 'users', summary: 'Change a user: profile, password, disable, scope',
    params: userParams, body: updateBody, response: userSchema,
    handler: async (call) => {
      await checkScope(call);
      const current = await requireUser(call.deps, call.params.tenant, call.params.user);
      if (current.id === call.operator.user.id && (call.body.disabled === true || call.body.operator_tenants !== undefined)) {
        // An operator who disables or narrows themselves could leave no one able to undo it.
        throw new InputError('an operator cannot disable themselves or change their own scope');
      }
      const user = await updateUser(call.deps, call.params.tenant, current.id, input(call.body));
      if (call.body.operator_tenants !== undefined) await setOperatorScope(call.deps, call.params.tenant, user.id, call.body.operator_tenants);
      return view(call, user);
    },
  }),
  route({
    method: 'DELETE', path: '/tenants/{tenant}/users/{user}', operationId: 'deleteUser', tag: 'users', summary: 'Delete a user with their sessions, consents and grants',
    params: userParams, response: deleted,
    handler: async (call) => {
      const current = await requireUser(call.deps, call.params.tenant, call.params.user);
      if (current.id === call.operator.user.id) throw new InputError('an operator cannot delete themselves');
      const user = await deleteUser(call.deps, call.params.tenant, current.id);
      return { deleted: { id: user.id, username: user.username } };
    },
  }),
];
