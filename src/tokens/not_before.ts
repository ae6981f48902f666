import type { TenantContext } from '../http/context.js';
import type { Client } from '../storage/types.js';

/**
 * Keycloak's not-before policy: the later of the tenant's and the client's; tokens with an
 * earlier `iat` are inactive. 0 = none. Both come from the config cache, so the hot path
 * reads no row, and a change made on any node holds here within the cache's check interval.
 */
export const notBeforeOf = (ctx: TenantContext, client: Pick<Client, 'notBefore'> | undefined): number =>
  Math.max(ctx.tenant.notBefore, client?.notBefore ?? 0);

/** Whether a token of this client issued at `iat` predates the not-before policy. */
export async function issuedBeforePolicy(ctx: TenantContext, clientId: string, iat: number): Promise<boolean> {
  if (iat < ctx.tenant.notBefore) return true;
  const { cache } = ctx.services;
  const client = cache.peekClient(ctx.tenant.id, clientId) ?? (await cache.client(ctx.tenant.id, clientId));
  return iat < notBeforeOf(ctx, client);
}
