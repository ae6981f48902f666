import type { TenantContext } from '../http/context.js';
import { queueBackchannelLogout } from '../logout/backchannel.js';
import type { ManageDeps } from '../manage/tenants.js';

/**
 * What the management functions need when a request changes a user: the request's services,
 * the user as the actor, and back-channel logout for the sessions a change ends.
 */
export const requestDeps = (ctx: TenantContext, actor: string): ManageDeps => ({
  storage: ctx.services.storage,
  clock: ctx.services.clock,
  random: ctx.services.random,
  log: ctx.services.log,
  actor,
  sessionsEnded: (_tenantId, userId, sids) => {
    for (const sid of sids) queueBackchannelLogout(ctx, { userId, sid });
  },
});
