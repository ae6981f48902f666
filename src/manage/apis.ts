import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { identifier, secretValue } from '../crypto/random.js';
import { InputError } from '../errors.js';
import type { Api, ApiScope } from '../storage/types.js';
import { requireTenant, type ManageDeps } from './tenants.js';
import { checkAudience, checkLifetime, SCOPE_TOKEN } from './validate.js';

/** OIDC scopes belong to the authorization server, never to an API. */
const RESERVED_SCOPES = new Set(['openid', 'profile', 'email', 'address', 'phone', 'offline_access']);

export interface ApiInput {
  audience?: string;
  name?: string;
  /** `NAME` or `NAME=DESCRIPTION`; replaces the whole list when given. */
  scopes?: string[];
  accessTokenTtl?: number;
}

export function parseScopes(specs: string[]): ApiScope[] {
  const scopes = specs.map((spec) => {
    const eq = spec.indexOf('=');
    const name = (eq < 0 ? spec : spec.slice(0, eq)).trim();
    const description = eq < 0 ? name : spec.slice(eq + 1).trim() || name;
    if (!SCOPE_TOKEN.test(name)) throw new InputError(`scope ${JSON.stringify(name)} is not a valid scope name (RFC 6749 §3.3)`);
    if (RESERVED_SCOPES.has(name)) throw new InputError(`scope ${name} is reserved for OpenID Connect`);
    return { name, description };
  });
  const seen = new Set<string>();
  for (const s of scopes) {
    if (seen.has(s.name)) throw new InputError(`scope ${s.name} is given twice`);
    seen.add(s.name);
  }
  return scopes;
}

/** Trimmed, and at most 200 characters, as a client's name. */
function nameOf(value: string | undefined): string | undefined {
  const name = value?.trim();
  if (name !== undefined && [...name].length > 200) throw new InputError('name must be at most 200 characters');
  return name;
}

/** Scopes in name order (code points), the order every view of an API shows them in. */
const byName = (scopes: ApiScope[]): ApiScope[] => [...scopes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

/**
 * Names what `api` would clash with in its tenant: its audience, or a scope name another
 * API defines (both unique per tenant). Checked before writing for a specific message;
 * the database's unique constraints still decide a race between two writers.
 */
async function checkUnique(deps: ManageDeps, api: Api): Promise<void> {
  const others = (await deps.storage.apis.list(api.tenantId)).filter((a) => a.id !== api.id);
  if (others.some((a) => a.audience === api.audience)) {
    throw new InputError(`tenant ${api.tenantId} already has an API with audience ${api.audience}`, 'conflict');
  }
  for (const scope of api.scopes) {
    const owner = others.find((a) => a.scopes.some((s) => s.name === scope.name));
    if (owner) throw new InputError(`scope ${scope.name} is already defined by API ${owner.audience} in tenant ${api.tenantId}`, 'conflict');
  }
}

/** Writes `api`; if a concurrent writer took its audience or a scope first, says which. */
async function save(deps: ManageDeps, api: Api, write: (api: Api) => Promise<unknown>): Promise<void> {
  await checkUnique(deps, api);
  try {
    await write(api);
  } catch (err) {
    if (err instanceof InputError && err.code === 'conflict') await checkUnique(deps, api);
    throw err;
  }
}

export async function createApi(deps: ManageDeps, tenantId: string, input: ApiInput, maxTtl: number): Promise<Api> {
  return (await createApiWithSecret(deps, tenantId, input, maxTtl)).api;
}

/**
 * Creates an API with its resource-server credentials (SECURITY-CHECKLIST 58): its id is the
 * client_id it introspects with, and the secret (256 bits) is returned once, stored only as
 * its digest, like a client's.
 */
export async function createApiWithSecret(deps: ManageDeps, tenantId: string, input: ApiInput, maxTtl: number): Promise<{ api: Api; secret: string }> {
  await requireTenant(deps, tenantId);
  const secret = secretValue(deps.random);
  if (input.audience === undefined) throw new InputError('audience is required');
  const now = seconds(deps.clock);
  const audience = checkAudience(input.audience);
  const api: Api = {
    tenantId, id: identifier(deps.random), audience, name: nameOf(input.name) || audience,
    accessTokenTtl: checkLifetime('access token lifetime', input.accessTokenTtl, maxTtl) ?? null, secretDigest: digest(secret),
    scopes: byName(parseScopes(input.scopes ?? [])), createdAt: now, updatedAt: now,
  };
  await save(deps, api, (a) => deps.storage.apis.create(a));
  return { api, secret };
}

/** Finds an API by its id or its audience. */
export async function requireApi(deps: ManageDeps, tenantId: string, idOrAudience: string): Promise<Api> {
  await requireTenant(deps, tenantId);
  const api = (await deps.storage.apis.get(tenantId, idOrAudience)) ?? (await deps.storage.apis.list(tenantId)).find((a) => a.audience === idOrAudience);
  if (!api) throw new InputError(`tenant ${tenantId} has no API ${idOrAudience}`, 'not_found');
  return { ...api, scopes: byName(api.scopes) };
}

export async function updateApi(deps: ManageDeps, tenantId: string, idOrAudience: string, input: ApiInput, maxTtl: number): Promise<Api> {
  const api = await requireApi(deps, tenantId, idOrAudience);
  const next: Api = {
    ...api,
    audience: input.audience === undefined ? api.audience : checkAudience(input.audience),
    name: input.name === undefined ? api.name : nameOf(input.name) || api.audience,
    accessTokenTtl: input.accessTokenTtl === undefined ? api.accessTokenTtl : checkLifetime('access token lifetime', input.accessTokenTtl, maxTtl) ?? null,
    scopes: input.scopes === undefined ? api.scopes : byName(parseScopes(input.scopes)),
    updatedAt: seconds(deps.clock),
  };
  await save(deps, next, (a) => deps.storage.apis.update(a));
  return next;
}

/** Deletes an API found by id or audience; returns it, so the caller can say which one went. */
export async function deleteApi(deps: ManageDeps, tenantId: string, idOrAudience: string): Promise<Api> {
  const api = await requireApi(deps, tenantId, idOrAudience);
  await deps.storage.apis.delete(tenantId, api.id);
  return api;
}

export function apiView(a: Api): Record<string, unknown> {
  return {
    id: a.id, tenant: a.tenantId, audience: a.audience, name: a.name, access_token_ttl: a.accessTokenTtl,
    scopes: byName(a.scopes), created_at: a.createdAt, updated_at: a.updatedAt,
  };
}
