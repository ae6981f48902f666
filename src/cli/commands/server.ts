import { migrateToLatest, openDatabase } from '../../storage/database.js';
import type { Command } from '../command.js';

export const serverCommands: Command[] = [
  {
    name: 'start',
    usage: 'start [--port P] [--host H] [--public-url URL] [--database-url URL] [--log-level L] [--trusted-proxies CIDRS] [--redis-url URL] [--redis-key-prefix P] [--client-auth-failures-per-client N] [--client-auth-failures-per-ip N] [--client-auth-failure-window S] [--smtp-url URL] [--mail-from ADDRESS] [--outbox-dir DIR] [--audit-retention-days DAYS] [--shutdown-timeout SECONDS] [--tls-cert FILE --tls-key FILE]',
    arguments: 0,
    // Flags are read by main.ts into the configuration (the same keys as the environment).
    options: {},
    async run({ env }) {
      // Loaded here, not at the top: every other command needs only storage and manage code,
      // and the server (fastify, pino, endpoints, grants) costs each CLI run its load time.
      const { startServer } = await import('../../server.js');
      const server = await startServer(env.config());
      // A second signal while draining is not caught (process.once): it stops the process at once.
      const stop = (signal: string) => {
        server.close(signal).then(
          () => process.exit(0),
          (err) => {
            console.error(`error while stopping on ${signal}: ${(err as Error).message}`);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      return 'long-running';
    },
  },
  {
    name: 'migrate',
    usage: 'migrate',
    arguments: 0,
    options: {},
    async run({ env }) {
      const db = openDatabase(env.config().databaseUrl);
      try {
        const applied = await migrateToLatest(db.kysely);
        return { json: { applied }, text: applied.length ? `applied ${applied.join(', ')}` : 'the database is up to date' };
      } finally {
        await db.close();
      }
    },
  },
];
