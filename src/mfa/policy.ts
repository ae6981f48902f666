import type { AuthorizationRequest } from '../endpoints/authorize_request.js';
import type { TenantContext } from '../http/context.js';
import type { Client, Session, User } from '../storage/types.js';

/**
 * Authentication context classes (OIDC Core §2 `acr`), as Keycloak names its levels of
 * authentication: "1" = one factor (a password), "2" = two factors. The PAPE multi-factor
 * policy URI (OpenID Provider Authentication Policy Extension 1.0 §4), which Auth0 users
 * send as `acr_values`, is an alias of "2".
 */
export const ACR_SINGLE = '1';
export const ACR_MFA = '2';
export const PAPE_MULTI_FACTOR = 'http://schemas.openid.net/pape/policies/2007/06/multi-factor';
export const ACR_VALUES_SUPPORTED = [ACR_SINGLE, ACR_MFA, PAPE_MULTI_FACTOR];

const LEVELS: Record<string, number> = { [ACR_SINGLE]: 1, [ACR_MFA]: 2, [PAPE_MULTI_FACTOR]: 2 };

/** RFC 8176 §2 method reference: the session was authenticated with more than one factor. */
export const hasMfa = (amr: readonly string[]): boolean => amr.includes('mfa');

/**
 * Whether `acr_values` demands a second factor. OIDC Core §3.1.2.1 makes them voluntary, in
 * order of preference: a request that also accepts "1" does not force a second step; one whose
 * recognised values are all multi-factor does. Unknown values are ignored.
 */
export function acrDemandsMfa(acrValues: readonly string[] | undefined): boolean {
  const known = (acrValues ?? []).filter((v) => Object.hasOwn(LEVELS, v));
  return known.length > 0 && known.every((v) => LEVELS[v] >= 2);
}

/**
 * The `acr` claim of a session authenticated with `amr`: "2" with a second factor (or the PAPE
 * URI, if that is what the client asked for), else "1".
 */
export function acrOf(amr: readonly string[], acrValues: readonly string[] | undefined): string {
  if (!hasMfa(amr)) return ACR_SINGLE;
  return acrValues?.find((v) => LEVELS[v] === 2) ?? ACR_MFA;
}

/** Why this sign-in must use a second factor, or undefined when it need not. */
export async function mfaRequirement(ctx: TenantContext, client: Client, request: AuthorizationRequest): Promise<'tenant' | 'client' | 'acr_values' | undefined> {
  const { mfa } = ctx.services.storage;
  if ((await mfa.tenantPolicy(ctx.tenant.id)) === 'required') return 'tenant';
  if (await mfa.clientRequires(ctx.tenant.id, client.clientId)) return 'client';
  if (acrDemandsMfa(request.acrValues)) return 'acr_values';
  return undefined;
}

/**
 * Whether a signed-in session must go through the second step before this request proceeds
 * (step-up): it was authenticated without a second factor, and either the user has one (it
 * was added since) or the tenant, the client or the request's `acr_values` require one.
 */
export async function needsStepUp(ctx: TenantContext, client: Client, request: AuthorizationRequest, signedIn: { session: Session; user: User }): Promise<boolean> {
  if (hasMfa(signedIn.session.amr)) return false;
  if ((await ctx.services.storage.mfa.list(ctx.tenant.id, signedIn.user.id)).length > 0) return true;
  return (await mfaRequirement(ctx, client, request)) !== undefined;
}

/** The password grant cannot ask for a second factor: refused wherever one would be asked for. */
export async function passwordGrantRefusal(ctx: TenantContext, client: Client, user: User): Promise<string | undefined> {
  const { mfa } = ctx.services.storage;
  if ((await mfa.list(ctx.tenant.id, user.id)).length > 0) return 'this account uses a second factor; sign in with a browser (authorization code flow)';
  if ((await mfa.tenantPolicy(ctx.tenant.id)) === 'required' || (await mfa.clientRequires(ctx.tenant.id, client.clientId))) {
    return 'a second factor is required here; sign in with a browser (authorization code flow)';
  }
  return undefined;
}
