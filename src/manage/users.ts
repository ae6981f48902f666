import { OPERATOR, recordAudit } from '../audit.js';
import { seconds } from '../clock.js';
import { checkPasswordPolicy, hashPassword } from '../crypto/password.js';
import { identifier } from '../crypto/random.js';
import { InputError } from '../errors.js';
import type { User } from '../storage/types.js';
import { changedFields } from './clients.js';
import { checkEmail } from './validate.js';
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
  /** Sign-in asks for a new password first. A new password clears it unless this is given too. */
  mustChangePassword?: boolean;
}

/**
 * Usernames are typed into the login form and given to the CLI as arguments: no
 * whitespace, no control or invisible formatting characters (which would make two names
 * look alike), and no leading "-" (a command line would take it for an option).
 */
const FORBIDDEN_IN_USERNAME = /[\p{White_Space}\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

export function checkUsername(username: string): string {
  const length = [...username].length;
  if (length < 1 || length > 100) throw new InputError('username must be 1–100 characters');
  if (FORBIDDEN_IN_USERNAME.test(username)) throw new InputError('username must not contain spaces or control characters');
  if (username.startsWith('-')) throw new InputError('username must not start with "-"');
  return username;
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
    if (err instanceof InputError && err.code === 'email_conflict') {
      throw new InputError(`tenant ${user.tenantId} already has a user with the email ${user.email} (emails are case-insensitive)`, 'email_conflict');
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
    disabled: input.disabled === true, mustChangePassword: input.mustChangePassword === true, createdAt: now, updatedAt: now,
  };
  await saving(user, () => deps.storage.users.create(user));
  await recordAudit(deps, tenantId, { type: 'user.created', actor: deps.actor ?? OPERATOR, userId: user.id, detail: { username } });
  return user;
}

/**
 * The user a sign-in form names: by username, or else by email when it looks like one. A
 * username equal to another user's email wins (usernames may contain "@").
 */
export async function findUserByLogin(storage: ManageDeps['storage'], tenantId: string, login: string): Promise<User | undefined> {
  if (!login) return undefined;
  return (await storage.users.findByUsername(tenantId, login)) ?? (login.includes('@') ? await storage.users.findByEmail(tenantId, login) : undefined);
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
  if (input.password !== undefined) next.mustChangePassword = false;
  if (input.mustChangePassword !== undefined) next.mustChangePassword = input.mustChangePassword;
  if (!(await saving(next, () => deps.storage.users.update(next)))) throw new InputError(`tenant ${tenantId} has no user ${idOrUsername}`, 'not_found');
  if (input.password !== undefined || (next.disabled && !current.disabled)) {
    await endSessions(deps, tenantId, current.id);
  }
  await recordAudit(deps, tenantId, { type: 'user.updated', actor: deps.actor ?? OPERATOR, userId: current.id, detail: { fields: changedFields(input) } });
  return next;
}

/**
 * Signs the user out everywhere but in `exceptKey`'s session: their sessions end, and with them
 * their session-bound refresh tokens (refresh_token_state.ts checks the session); the clients
 * hear of it by back-channel logout when the caller wired `sessionsEnded`.
 */
export async function endSessions(deps: ManageDeps, tenantId: string, userId: string, exceptKey?: string): Promise<void> {
  const sids = await deps.storage.sessions.revokeAllForUser(tenantId, userId, seconds(deps.clock), exceptKey);
  if (sids.length) deps.sessionsEnded?.(tenantId, userId, sids);
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
    name: u.name, disabled: u.disabled, must_change_password: u.mustChangePassword, created_at: u.createdAt, updated_at: u.updatedAt,
  };
}
