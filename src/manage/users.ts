import { OPERATOR, recordAudit } from '../audit.js';
import { seconds } from '../clock.js';
import { checkPasswordPolicy, hashPassword } from '../crypto/password.js';
import { identifier } from '../crypto/random.js';
import { InputError } from '../errors.js';
import type { User } from '../storage/types.js';
import { changedFields } from './clients.js';
import { requireTenant, type ManageDeps } from './tenants.js';

/** Every field a user has that an operator sets; `update` takes any subset. */
export interface UserInput {
  username?: string;
  /** Plain text, hashed here; never stored or shown. */
  password?: string;
  /** '' clears it. */
  email?: string;
  emailVerified?: boolean;
  /** '' clears it. */
  name?: string;
  disabled?: boolean;
}

/**
 * Usernames are typed into the login form and given to the CLI as arguments: no
 * whitespace, no control or invisible formatting characters (which would make two names
 * look alike), and no leading "-" (a command line would take it for an option).
 */
const FORBIDDEN_IN_USERNAME = /[\p{White_Space}\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

function checkUsername(username: string): string {
  const length = [...username].length;
  if (length < 1 || length > 100) throw new InputError('username must be 1–100 characters');
  if (FORBIDDEN_IN_USERNAME.test(username)) throw new InputError('username must not contain spaces or control characters');
  if (username.startsWith('-')) throw new InputError('username must not start with "-"');
  return username;
}

/** A basic syntax check (local@domain.tld); whether the address works is what verification is for. */
const EMAIL = /^[^\s\p{Cc}@"<>()[\]\\,;:]+@[^\s\p{Cc}@"<>()[\]\\,;:]+\.[^\s\p{Cc}@"<>()[\]\\,;:.]+$/u;

function checkEmail(value: string): string | null {
  const email = value.trim();
  if (email === '') return null;
  // RFC 5321 §4.5.3.1.3: a path holds at most 256 octets, so an address at most 254.
  if (email.length > 254 || !EMAIL.test(email) || email.includes('..')) throw new InputError(`email ${JSON.stringify(value)} is not a valid email address`);
  return email;
}

function checkName(value: string): string | null {
  const name = value.trim();
  if ([...name].length > 200) throw new InputError('name must be at most 200 characters');
  return name || null;
}

async function passwordHashFor(password: string, username: string): Promise<string> {
  const problem = checkPasswordPolicy(password, username);
  if (problem) throw new InputError(problem);
  return hashPassword(password);
}

/** Turns the store's conflict into one that names the tenant. */
async function saving<T>(user: User, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (err) {
    if (err instanceof InputError && err.code === 'conflict') {
      throw new InputError(`tenant ${user.tenantId} already has a user named ${user.username} (usernames are case-insensitive)`, 'conflict');
    }
    throw err;
  }
}

export async function createUser(deps: ManageDeps, tenantId: string, input: UserInput): Promise<User> {
  await requireTenant(deps, tenantId);
  if (input.username === undefined) throw new InputError('username is required');
  const username = checkUsername(input.username);
  const email = input.email === undefined ? null : checkEmail(input.email);
  if (input.emailVerified && email === null) throw new InputError('email_verified needs an email');
  const now = seconds(deps.clock);
  const user: User = {
    tenantId, id: identifier(deps.random), username, email, emailVerified: input.emailVerified === true,
    name: input.name === undefined ? null : checkName(input.name),
    passwordHash: input.password === undefined ? null : await passwordHashFor(input.password, username),
    disabled: input.disabled === true, createdAt: now, updatedAt: now,
  };
  await saving(user, () => deps.storage.users.create(user));
  await recordAudit(deps, tenantId, { type: 'user.created', actor: deps.actor ?? OPERATOR, userId: user.id, detail: { username } });
  return user;
}

/** Finds a user by id or by username (case-insensitively). */
export async function requireUser(deps: ManageDeps, tenantId: string, idOrUsername: string): Promise<User> {
  await requireTenant(deps, tenantId);
  const user = (await deps.storage.users.get(tenantId, idOrUsername)) ?? (await deps.storage.users.findByUsername(tenantId, idOrUsername));
  if (!user) throw new InputError(`tenant ${tenantId} has no user ${idOrUsername}`, 'not_found');
  return user;
}

/**
 * Changes what `input` gives. A new email is unverified unless `emailVerified` says
 * otherwise. A new password or disabling the user signs them out everywhere: whoever
 * held a session may be the reason for the change.
 */
export async function updateUser(deps: ManageDeps, tenantId: string, idOrUsername: string, input: UserInput): Promise<User> {
  const current = await requireUser(deps, tenantId, idOrUsername);
  const next: User = { ...current, updatedAt: seconds(deps.clock) };
  if (input.username !== undefined) next.username = checkUsername(input.username);
  if (input.email !== undefined) {
    next.email = checkEmail(input.email);
    if (next.email !== current.email) next.emailVerified = false;
  }
  if (input.emailVerified !== undefined) next.emailVerified = input.emailVerified;
  if (next.emailVerified && next.email === null) throw new InputError('email_verified needs an email');
  if (input.name !== undefined) next.name = checkName(input.name);
  if (input.disabled !== undefined) next.disabled = input.disabled;
  if (input.password !== undefined) next.passwordHash = await passwordHashFor(input.password, next.username);
  if (!(await saving(next, () => deps.storage.users.update(next)))) throw new InputError(`tenant ${tenantId} has no user ${idOrUsername}`, 'not_found');
  if (input.password !== undefined || (next.disabled && !current.disabled)) {
    await deps.storage.sessions.revokeAllForUser(tenantId, current.id, seconds(deps.clock));
  }
  await recordAudit(deps, tenantId, { type: 'user.updated', actor: deps.actor ?? OPERATOR, userId: current.id, detail: { fields: changedFields(input) } });
  return next;
}

/** Deletes a user with their sessions, consents and grants; returns them, so the caller can say who went. */
export async function deleteUser(deps: ManageDeps, tenantId: string, idOrUsername: string): Promise<User> {
  const user = await requireUser(deps, tenantId, idOrUsername);
  if (!(await deps.storage.users.delete(tenantId, user.id))) throw new InputError(`tenant ${tenantId} has no user ${idOrUsername}`, 'not_found');
  await recordAudit(deps, tenantId, { type: 'user.deleted', actor: deps.actor ?? OPERATOR, userId: user.id, detail: { username: user.username } });
  return user;
}

/** The user as the CLI and admin API show them: never the password hash. */
export function userView(u: User): Record<string, unknown> {
  return {
    id: u.id, tenant: u.tenantId, username: u.username, email: u.email, email_verified: u.emailVerified,
    name: u.name, disabled: u.disabled, created_at: u.createdAt, updated_at: u.updatedAt,
  };
}
