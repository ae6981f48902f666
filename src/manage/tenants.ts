import type { Clock, Random } from '../clock.js';
import { seconds } from '../clock.js';
import { InputError } from '../errors.js';
import type { Storage } from '../storage/index.js';
import type { Tenant } from '../storage/types.js';
import { applyDcrPatch, type DcrPolicyPatch } from './dcr_policy.js';
import { newKeyRecord } from './keys.js';
import { checkAudience, checkEmail, checkLifetime } from './validate.js';

/** Sessions last at most 30 days, however a tenant is configured. */
const MAX_SESSION_SECONDS = 30 * 24 * 3600;

export const DEFAULT_TENANT = 'default';
/** Built in like `default`: its users are the operators (src/admin/bootstrap.ts). */
export const ADMIN_TENANT = 'admin';

/** Tenant ids appear in URLs (`/realms/{id}`): keep them to unreserved URL characters. */
const TENANT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

function checkTenantId(id: string): string {
  if (!TENANT_ID.test(id)) throw new InputError('tenant id must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit');
  return id;
}

/** A DNS name of at least two labels (RFC 1123), lowercase: what a Host header is matched against. */
const HOSTNAME = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A tenant's own hostname: a bare lowercase DNS name (no scheme, port or path). */
export function checkHostname(tenantId: string, hostname: string, publicUrl?: string): string {
  // The console at {PUBLIC_URL}/admin signs in against the admin tenant's issuer there.
  if (tenantId === ADMIN_TENANT) throw new InputError('the admin tenant cannot have its own hostname: the console signs in under the public URL');
  if (!HOSTNAME.test(hostname)) throw new InputError('hostname must be a lowercase DNS name such as auth.example.com, without scheme, port or path');
  // Every request to the public URL's host would then belong to this one tenant.
  if (publicUrl !== undefined && new URL(publicUrl).hostname === hostname) throw new InputError(`hostname ${hostname} is the public URL's host, which serves every tenant`);
  return hostname;
}

export interface ManageDeps {
  storage: Storage;
  clock: Clock;
  random: Random;
  /** Whom audit events name as having made a change; `operator` (the CLI) when not given. */
  actor?: string;
  log?: { error(obj: object, msg: string): void };
  /** Told of sessions that a change ended (password, disabling), to send back-channel logout; returns at once. */
  sessionsEnded?: (tenantId: string, userId: string, sids: string[]) => void;
  /** The server's public URL, when known: a tenant's hostname may not be its host. */
  publicUrl?: string;
}

/** Trimmed, and at most 200 characters (as the admin API's schema says). */
function displayNameOf(value: string | undefined): string | undefined {
  const name = value?.trim();
  if (name !== undefined && [...name].length > 200) throw new InputError('display name must be at most 200 characters');
  return name;
}

export async function createTenant(deps: ManageDeps, input: { id: string; displayName?: string; defaultAudience?: string }): Promise<Tenant> {
  const id = checkTenantId(input.id);
  const now = seconds(deps.clock);
  const tenant: Tenant = {
    id,
    displayName: displayNameOf(input.displayName) || id,
    defaultAudience: input.defaultAudience === undefined ? null : checkAudience(input.defaultAudience),
    sessionIdleSeconds: null,
    sessionMaxSeconds: null,
    personalTokenMaxDays: null,
    notBefore: 0,
    registration: false,
    requireVerifiedEmail: false,
    emailFrom: null,
    hostname: null,
    dcr: null,
    createdAt: now,
    updatedAt: now,
  };
  // Each tenant starts with an ES256 key for access tokens and an RS256 key for ID tokens
  // (RS256 is the OIDC default every RP supports), both active at once.
  await deps.storage.tenants.create(tenant, [newKeyRecord(id, 'access', 'ES256', now, now), newKeyRecord(id, 'id', 'RS256', now, now)]);
  return tenant;
}

/** Creates the `default` tenant unless it exists (another node may be doing the same). */
export async function ensureDefaultTenant(deps: ManageDeps): Promise<boolean> {
  if (await deps.storage.tenants.get(DEFAULT_TENANT)) return false;
  try {
    await createTenant(deps, { id: DEFAULT_TENANT, displayName: 'Default' });
    return true;
  } catch (err) {
    if (err instanceof InputError && err.code === 'conflict') return false;
    throw err;
  }
}

export async function requireTenant(deps: ManageDeps, id: string): Promise<Tenant> {
  const t = await deps.storage.tenants.get(id);
  if (!t) throw new InputError(`tenant ${id} does not exist`, 'not_found');
  return t;
}

export async function updateTenant(
  deps: ManageDeps,
  id: string,
  patch: {
    displayName?: string; defaultAudience?: string | null; sessionIdleSeconds?: number; sessionMaxSeconds?: number; personalTokenMaxDays?: number;
    registration?: boolean; requireVerifiedEmail?: boolean; emailFrom?: string | null;
    /** Own hostname (issuer `https://{hostname}/realms/{id}`); '' or null clears it. */
    hostname?: string | null;
    /** Dynamic client registration settings (manage/dcr.ts); merged over the current policy. */
    dcr?: DcrPolicyPatch;
  },
): Promise<Tenant> {
  const current = await requireTenant(deps, id);
  const idle = checkLifetime('session idle lifetime', patch.sessionIdleSeconds, MAX_SESSION_SECONDS);
  const max = checkLifetime('session maximum lifetime', patch.sessionMaxSeconds, MAX_SESSION_SECONDS);
  if ((idle ?? current.sessionIdleSeconds ?? 0) > (max ?? current.sessionMaxSeconds ?? MAX_SESSION_SECONDS)) {
    throw new InputError('the session idle lifetime cannot be longer than its maximum lifetime');
  }
  const displayName = displayNameOf(patch.displayName);
  if (patch.displayName !== undefined && !displayName) throw new InputError('display name must not be empty');
  await deps.storage.tenants.update(
    id,
    {
      displayName,
      defaultAudience: patch.defaultAudience === undefined || patch.defaultAudience === null ? patch.defaultAudience : checkAudience(patch.defaultAudience),
      sessionIdleSeconds: idle,
      sessionMaxSeconds: max,
      personalTokenMaxDays: checkLifetime('personal token maximum lifetime (days)', patch.personalTokenMaxDays, 365),
      registration: patch.registration,
      requireVerifiedEmail: patch.requireVerifiedEmail,
      // '' or null: back to the server's MAIL_FROM.
      emailFrom: patch.emailFrom === undefined ? undefined : (patch.emailFrom && checkEmail(patch.emailFrom)) || null,
      hostname: patch.hostname === undefined ? undefined : (patch.hostname && checkHostname(id, patch.hostname, deps.publicUrl)) || null,
      dcr: patch.dcr === undefined ? undefined : applyDcrPatch(current.dcr, patch.dcr),
    },
    seconds(deps.clock),
  );
  return requireTenant(deps, id);
}

export async function deleteTenant(deps: ManageDeps, id: string): Promise<void> {
  if (id === DEFAULT_TENANT) throw new InputError('the default tenant cannot be deleted');
  if (id === ADMIN_TENANT) throw new InputError('the admin tenant cannot be deleted: it holds the operators');
  if (!(await deps.storage.tenants.delete(id))) throw new InputError(`tenant ${id} does not exist`, 'not_found');
}
