import type { FastifyBaseLogger } from 'fastify';
import type { Logger } from 'pino';
import { createServices } from '../app.js';
import type { Config } from '../config.js';
import { issuerOf, type Services } from '../http/context.js';
import type { Storage } from '../storage/index.js';
import { backchannelIdle, queueBackchannelLogout } from './backchannel.js';

/**
 * Back-channel logout for sessions that an operator's change ended outside the server (the
 * CLI disabling a user or setting a password): the clients hear of it as they would from the
 * server. The CLI calls `flush` before it exits, so the deliveries (and their bounded retries)
 * are not cut off.
 */
export function operatorLogout(config: Config, storage: Storage, logger: Logger) {
  let services: Services | undefined;
  const lookups = new Set<Promise<void>>();
  return {
    sessionsEnded(tenantId: string, userId: string, sids: string[]): void {
      services ??= createServices({ config, storage, logger }, logger as FastifyBaseLogger);
      const s = services;
      const lookup: Promise<void> = s.cache
        .tenant(tenantId)
        .then((tenant) => {
          if (!tenant) return;
          const ctx = { tenant, issuer: issuerOf(config.publicUrl, tenant), commaScopes: false, services: s };
          for (const sid of sids) queueBackchannelLogout(ctx, { userId, sid });
        })
        .catch((err) => logger.error({ err, tenant: tenantId }, 'back-channel logout could not be sent'))
        .finally(() => lookups.delete(lookup));
      lookups.add(lookup);
    },
    async flush(): Promise<void> {
      while (lookups.size) await Promise.allSettled([...lookups]);
      await backchannelIdle();
      await services?.mail.close();
    },
  };
}
