import { openDatabase, migrateToLatest, type Backend } from './database.js';
import type { Storage } from './stores.js';
import { tenantStore } from './sql/tenants.js';
import { clientStore } from './sql/clients.js';
import { apiStore } from './sql/apis.js';
import { keyStore } from './sql/keys.js';
import { grantStore } from './sql/grants.js';
import { artifactStore } from './sql/artifacts.js';
import { accessTokenStore } from './sql/access_tokens.js';
import { revocationStore } from './sql/revocations.js';
import { userStore } from './sql/users.js';
import { sessionStore } from './sql/sessions.js';
import { consentStore } from './sql/consents.js';
import { personalTokenStore } from './sql/personal_tokens.js';
import { auditRows } from './sql/audit.js';
import { AuditWriter } from './audit_writer.js';
import { operatorStore } from './sql/operators.js';
import { dcrStore } from './sql/dcr.js';
import { mfaStore } from './sql/mfa.js';
import { sqlThrottleStore } from './sql/throttle.js';

import { createKeySealer } from '../crypto/sealed_keys.js';
import type { Config } from '../config.js';

export type { Storage } from './stores.js';

/** Opens the database named by `url`, applies pending migrations, and returns the stores. */
export async function openStorage(
  url: string,
  options: { migrate?: boolean; /** TESSERA_MASTER_KEY: private keys are sealed at rest (crypto/sealed_keys.ts). */ masterKey?: Config['masterKey'] } = {},
): Promise<Storage & { backend: Backend }> {
  const db = openDatabase(url);
  const k = db.kysely;
  const sealer = createKeySealer(options.masterKey);
  const audit = new AuditWriter(auditRows(k));
  try {
    if (options.migrate !== false) await migrateToLatest(k);
  } catch (err) {
    await db.close();
    throw err;
  }
  return {
    backend: db.backend,
    poolStats: db.poolStats,
    tenants: tenantStore(k, sealer),
    clients: clientStore(k),
    apis: apiStore(k),
    keys: keyStore(k, sealer),
    grants: grantStore(k),
    artifacts: artifactStore(k),
    accessTokens: accessTokenStore(k),
    revocations: revocationStore(k),
    users: userStore(k),
    sessions: sessionStore(k),
    consents: consentStore(k),
    personalTokens: personalTokenStore(k),
    operators: operatorStore(k),
    dcr: dcrStore(k),
    mfa: mfaStore(k, sealer),
    audit,
    throttle: sqlThrottleStore(k),
    configVersion: {
      async current() {
        const r = await k.selectFrom('meta').select('value').where('key', '=', 'config_version').executeTakeFirstOrThrow();
        return Number(r.value);
      },
    },
    cleanup: {
      async expired(now) {
        return k.transaction().execute(async (trx) => {
          const counts = await Promise.all([
            // A used artifact outlives its own expiry while its grant lives, so a late
            // replay is still recognised as reuse (DESIGN.md §2). NOT EXISTS looks up each
            // expired artifact's grant by its key; NOT IN listed every live grant each run.
            trx
              .deleteFrom('artifacts')
              .where('expires_at', '<=', now)
              .where((eb) =>
                eb.or([
                  eb('grant_id', 'is', null),
                  eb.not(
                    eb.exists(
                      eb.selectFrom('grants as g').select('g.id').whereRef('g.id', '=', 'artifacts.grant_id')
                        .where((g) => g.or([g('g.expires_at', 'is', null), g('g.expires_at', '>', now)])),
                    ),
                  ),
                ]),
              )
              .executeTakeFirst(),
            trx.deleteFrom('access_tokens').where('expires_at', '<=', now).executeTakeFirst(),
            trx.deleteFrom('revoked_jtis').where('expires_at', '<=', now).executeTakeFirst(),
            trx.deleteFrom('grants').where('expires_at', '<=', now).executeTakeFirst(),
            // Past its absolute expiry a session can never be used again, revoked or not.
            trx.deleteFrom('sessions').where('expires_at', '<=', now).executeTakeFirst(),
            trx.deleteFrom('throttle_entries').where('expires', '<=', now).executeTakeFirst(),
          ]);
          return counts.reduce((n, r) => n + Number(r.numDeletedRows), 0);
        });
      },
    },
    // Queued audit events are written before the connection goes.
    close: async () => {
      await audit.flush();
      await db.close();
    },
  };
}
