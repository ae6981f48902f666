import { seconds } from '../clock.js';
import { identifier } from '../crypto/random.js';
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

export async function createApi(deps: ManageDeps, tenantId: string, input: ApiInput, maxTtl: number): Promise<Api> {
  await requireTenant(deps, tenantId);
  if (input.audience === undefined) throw new InputError('audience is required');
  const now = seconds(deps.clock);
  const audience = checkAudience(input.audience);
  const api: Api = {
    tenantId, id: identifier(deps.random), audience, name: input.name?.trim() || audience,
    accessTokenTtl: checkLifetime('access token lifetime', input.accessTokenTtl, maxTtl) ?? null,
    scopes: parseScopes(input.scopes ?? []), createdAt: now, updatedAt: now,
  };
  await deps.storage.apis.create(api);
  return api;
}

/** Finds an API by its id or its audience. */
export async function requireApi(deps: ManageDeps, tenantId: string, idOrAudience: string): Promise<Api> {
  await requireTenant(deps, tenantId);
  const api = (await deps.storage.apis.get(tenantId, idOrAudience)) ?? (await deps.storage.apis.list(tenantId)).find((a) => a.audience === idOrAudience);
  if (!api) throw new InputError(`tenant ${tenantId} has no API ${idOrAudience}`, 'not_found');
  return api;
}

export async function updateApi(deps: ManageDeps, tenantId: string, idOrAudience: string, input: ApiInput, maxTtl: number): Promise<Api> {
  const api = await requireApi(deps, tenantId, idOrAudience);
  const next: Api = {
    ...api,
    audience: input.audience === undefined ? api.audience : checkAudience(input.audience),
    name: input.name === undefined ? api.name : input.name.trim() || api.audience,
    accessTokenTtl: input.accessTokenTtl === undefined ? api.accessTokenTtl : checkLifetime('access token lifetime', input.accessTokenTtl, maxTtl) ?? null,
    scopes: input.scopes === undefined ? api.scopes : parseScopes(input.scopes),
    updatedAt: seconds(deps.clock),
  };
  await deps.storage.apis.update(next);
  return next;
}

export async function deleteApi(deps: ManageDeps, tenantId: string, idOrAudience: string): Promise<void> {
  const api = await requireApi(deps, tenantId, idOrAudience);
  await deps.storage.apis.delete(tenantId, api.id);
}

export function apiView(a: Api): Record<string, unknown> {
  return {
    id: a.id, tenant: a.tenantId, audience: a.audience, name: a.name, access_token_ttl: a.accessTokenTtl,
    scopes: a.scopes, created_at: a.createdAt, updated_at: a.updatedAt,
  };
}
