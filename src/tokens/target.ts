import { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import type { Api, Client } from '../storage/types.js';

export interface TargetRequest {
  /** Scopes the request names; undefined when it names none. */
  requested: string[] | undefined;
  /** Auth0's `audience` parameter. */
  audience: string | undefined;
  /** RFC 8707 `resource` parameters. */
  resources: string[];
  /** What to grant when the request names no scope. */
  defaultScopes: string[];
  /** Set by grants whose own policy already decided which audiences the client may name (token exchange). */
  audiencesPolicyChecked?: boolean;
}

export interface Target {
  scopes: string[];
  audience: string[];
  ttl: number;
}

/** `aud` for tokens that name no API: distinct from the issuer, which refresh tokens carry. */
export const defaultAudience = (ctx: TenantContext): string => ctx.tenant.defaultAudience ?? `${ctx.issuer}/api`;

/**
 * Decides the scopes and audience of an access token. `audience`/`resource` select APIs
 * (RFC 8707 §2; unknown → invalid_target); without them the APIs are inferred from the
 * scopes, whose names are unique within a tenant; with no API at all, `aud` is the
 * tenant's default audience. A scope must be one the client may request (RFC 6749 §3.3)
 * and may not belong to an API other than the selected ones.
 */
export async function resolveTarget(ctx: TenantContext, client: Client, req: TargetRequest): Promise<Target> {
  if (req.audience !== undefined && req.resources.length > 0) {
    throw new OAuthError('invalid_request', 'give either audience or resource, not both');
  }
  const { cache } = ctx.services;
  const index = cache.peekApiIndex(ctx.tenant.id) ?? (await cache.apiIndex(ctx.tenant.id));
  const named = req.audience !== undefined ? [req.audience] : req.resources;
  let apis: Api[] = [...new Set(named)].map((aud) => {
    const api = index.byAudience.get(aud);
    if (!api) throw new OAuthError('invalid_target', `${JSON.stringify(aud)} is not an API of this tenant`);
    return api;
  });

  const allowed = new Set(client.scopes);
  // RFC 8707 §2: an API the client holds none of the scopes of is one the server is unwilling
  // to issue a token for; without this, `resource` alone would buy a scope-less token that an
  // API checking only `aud` accepts. An API that defines no scopes is open to any client.
  if (!req.audiencesPolicyChecked) {
    const refused = apis.find((api) => api.scopes.length > 0 && !api.scopes.some((s) => allowed.has(s.name)));
    if (refused) throw new OAuthError('invalid_target', `the client may not obtain tokens for ${JSON.stringify(refused.audience)}`);
  }
  let scopes: string[];
  if (req.requested) {
    for (const s of req.requested) {
      if (!allowed.has(s)) throw new OAuthError('invalid_scope', `the client may not request scope ${s}`);
      const owner = index.scopeOwner.get(s);
      if (owner && apis.length > 0 && !apis.includes(owner)) {
        throw new OAuthError('invalid_scope', `scope ${s} belongs to ${owner.audience}, not to the requested audience`);
      }
    }
    scopes = req.requested;
  } else {
    scopes = req.defaultScopes.filter((s) => {
      const owner = index.scopeOwner.get(s);
      return apis.length === 0 || !owner || apis.includes(owner);
    });
  }
  if (apis.length === 0) {
    apis = [...new Set(scopes.map((s) => index.scopeOwner.get(s)).filter((a): a is Api => a !== undefined))];
  }

  const config = ctx.services.config.tokens;
  const apiTtls = apis.map((a) => a.accessTokenTtl).filter((t): t is number => t !== null);
  const ttl = Math.min(client.accessTokenTtl ?? (apiTtls.length ? Math.min(...apiTtls) : config.defaultAccessTokenTtl), config.maxAccessTokenTtl);
  return { scopes, audience: apis.length ? apis.map((a) => a.audience) : [defaultAudience(ctx)], ttl };
}
