import { ensureAdminTenant, ensureFirstOperator, firstOperatorMessage } from './admin/bootstrap.js';
import { buildApp } from './app.js';
import { removeOldAuditEvents } from './audit_retention.js';
import { systemClock, systemRandom } from './clock.js';
import type { Config } from './config.js';
import { checkPublicUrl } from './http/transport.js';
import { createLogger } from './log.js';
import { removeExpiredKeys } from './manage/keys.js';
import { ensureDefaultTenant } from './manage/tenants.js';
import { openStorage } from './storage/index.js';

/** `tessera start`: migrate, make sure `default` exists, serve, clean up, stop gracefully. */
export async function startServer(config: Config): Promise<{ close(): Promise<void>; url: string }> {
  checkPublicUrl(config);
  const logger = createLogger(config.logLevel);
  const storage = await openStorage(config.databaseUrl, { masterKey: config.masterKey });
  // A wrong (or missing) TESSERA_MASTER_KEY stops the start here, not at the first token request.
  try {
    for (const t of await storage.tenants.list()) await storage.keys.list(t.id);
  } catch (err) {
    await storage.close();
    throw new Error(`invalid configuration: ${(err as Error).message}`);
  }
  const deps = { storage, clock: systemClock, random: systemRandom };
  if (await ensureDefaultTenant(deps)) logger.info('created the default tenant with its signing keys');
  if (await ensureAdminTenant(deps, config.publicUrl)) logger.info('created the admin tenant and the admin console client');
  const operator = await ensureFirstOperator(deps, config);
  if (operator) logger.info(firstOperatorMessage(operator, config.publicUrl));
  const { app, services } = await buildApp({ config, storage, logger });

  const cleanup = async () => {
    try {
      const now = Math.floor(services.clock.now() / 1000);
      const rows = await storage.cleanup.expired(now);
      const policy = { jwksCacheSeconds: config.keys.jwksCacheSeconds, retentionSeconds: config.tokens.maxAccessTokenTtl };
      let keys = 0;
      for (const t of await storage.tenants.list()) keys += await removeExpiredKeys(deps, t.id, policy);
      const auditEvents = await removeOldAuditEvents(services, config.auditRetentionDays);
      if (rows + keys + auditEvents > 0) logger.info({ rows, keys, auditEvents }, 'removed expired rows');
    } catch (err) {
      logger.warn({ err }, 'cleanup failed; will retry');
    }
  };
  await cleanup();
  const timer = setInterval(cleanup, config.cleanupIntervalMs);
  timer.unref();

  await app.listen({ port: config.port, host: config.host });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `${config.tls ? 'https' : 'http'}://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  logger.info(`Tessera listening on ${url}; issuer of the default tenant: ${config.publicUrl}/realms/default (storage: ${storage.backend})`);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      clearInterval(timer);
      await app.close();
      await storage.close();
    })());
  return { close, url };
}
