import { ensureAdminTenant } from '../admin/bootstrap.js';
import { systemClock, systemRandom } from '../clock.js';
import { loadConfig, type Config, type ConfigInput } from '../config.js';
import { InputError } from '../errors.js';
import { ensureDefaultTenant, type ManageDeps } from '../manage/tenants.js';
import { createLogger } from '../log.js';
import { operatorLogout } from '../logout/operator.js';
import { openStorage, type Storage } from '../storage/index.js';
import { parse, UsageError } from './args.js';
import type { CliEnv, Command } from './command.js';
import { apiCommands } from './commands/api.js';
import { auditCommands } from './commands/audit.js';
import { clientCommands } from './commands/client.js';
import { dcrCommands } from './commands/dcr.js';
import { keyCommands } from './commands/keys.js';
import { mfaCommands } from './commands/mfa.js';
import { serverCommands } from './commands/server.js';
import { tenantCommands } from './commands/tenant.js';
import { tokenCommands } from './commands/token.js';
import { userCommands } from './commands/user.js';

/** Every command, by the words that name it. */
export const COMMANDS: Command[] = [...serverCommands, ...tenantCommands, ...clientCommands, ...apiCommands, ...userCommands, ...keyCommands, ...tokenCommands, ...auditCommands, ...dcrCommands, ...mfaCommands];

/** `tessera start` flags: the environment's keys in kebab case (DESIGN.md §1 Configuration). */
const CONFIG_FLAGS: Record<string, keyof ConfigInput> = {
  port: 'PORT',
  host: 'HOST',
  'public-url': 'TESSERA_PUBLIC_URL',
  'database-url': 'DATABASE_URL',
  'log-level': 'LOG_LEVEL',
  'trusted-proxies': 'TESSERA_TRUSTED_PROXIES',
  'redis-url': 'REDIS_URL',
  'redis-key-prefix': 'REDIS_KEY_PREFIX',
  'client-auth-failures-per-client': 'TESSERA_CLIENT_AUTH_FAILURES_PER_CLIENT',
  'client-auth-failures-per-ip': 'TESSERA_CLIENT_AUTH_FAILURES_PER_IP',
  'client-auth-failure-window': 'TESSERA_CLIENT_AUTH_FAILURE_WINDOW',
  'smtp-url': 'SMTP_URL',
  'mail-from': 'MAIL_FROM',
  'outbox-dir': 'TESSERA_OUTBOX_DIR',
  'audit-retention-days': 'TESSERA_AUDIT_RETENTION_DAYS',
  'shutdown-timeout': 'TESSERA_SHUTDOWN_TIMEOUT',
  'tls-cert': 'TLS_CERT',
  'tls-key': 'TLS_KEY',
  // TESSERA_MASTER_KEY has no flag: a command line is visible to every user of the machine.
};

function help(): string {
  return ['usage: tessera <command> [options] [--json]', '', ...COMMANDS.map((c) => `  tessera ${c.usage}`)].join('\n');
}

/** Runs one CLI invocation; returns the exit code. Errors go to stderr, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const command = COMMANDS.find((c) => {
    const words = c.name.split(' ');
    return words.every((w, i) => argv[i] === w);
  });
  if (!command) {
    if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
      console.log(help());
      return 0;
    }
    console.error(`tessera: unknown command "${argv.slice(0, 2).join(' ')}"\n\n${help()}`);
    return 2;
  }
  let storage: Storage | undefined;
  let logout: ReturnType<typeof operatorLogout> | undefined;
  try {
    const rest = argv.slice(command.name.split(' ').length);
    const flagOptions = command.name === 'start' ? Object.fromEntries(Object.keys(CONFIG_FLAGS).map((f) => [f, { type: 'string' as const }])) : {};
    const parsed = parse(rest, { ...command.options, ...flagOptions }, command.positional);
    const { values } = parsed;
    // --json counts wherever it stands (`json` above), also after `--`: there it is not an argument.
    const positionals = parsed.positionals.filter((p) => p !== '--json');
    if (values.help) {
      console.log(`usage: tessera ${command.usage}`);
      return 0;
    }
    // A word the command does not take is a mistake (a misspelt option, a quoted list split in two), not something to ignore.
    if (positionals.length > command.arguments) throw new UsageError(`Unexpected argument '${positionals[command.arguments]}'.`);
    const env: ConfigInput = { ...(process.env as ConfigInput) };
    for (const [flag, key] of Object.entries(CONFIG_FLAGS)) if (typeof values[flag] === 'string') env[key] = values[flag] as string;
    let config: Config | undefined;
    const cliEnv: CliEnv = {
      config: () => (config ??= loadConfig(env)),
      async deps(): Promise<ManageDeps> {
        if (!storage) {
          storage = await openStorage(cliEnv.config().databaseUrl, { masterKey: cliEnv.config().masterKey });
          // The CLI may run before the server ever started: `default` exists for it too.
          await ensureDefaultTenant({ storage, clock: systemClock, random: systemRandom });
          // And `admin`, so operators can be managed before the first start (which adds the first one).
          await ensureAdminTenant({ storage, clock: systemClock, random: systemRandom }, cliEnv.config().publicUrl, { correct: false });
        }
        // Changes that end sessions tell the clients by back-channel logout, as the server would.
        logout ??= operatorLogout(cliEnv.config(), storage, createLogger('error', process.stderr));
        return { storage, clock: systemClock, random: systemRandom, sessionsEnded: logout.sessionsEnded, publicUrl: cliEnv.config().publicUrl };
      },
      async stdin() {
        const chunks: Buffer[] = [];
        for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks).toString('utf8');
      },
    };
    const result = await command.run({ values, positionals, env: cliEnv });
    if (result === 'long-running') return 0;
    await logout?.flush();
    console.log(json ? JSON.stringify(result.json) : result.text);
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof UsageError) {
      console.error(`tessera ${command.name}: ${message}\nusage: tessera ${command.usage}`);
      return 2;
    }
    if (err instanceof InputError || (err instanceof Error && message.startsWith('invalid configuration'))) {
      console.error(`tessera ${command.name}: ${message}`);
      return 1;
    }
    console.error(`tessera ${command.name}: failed: ${message}`);
    return 1;
  } finally {
    if (storage && command.name !== 'start') await storage.close();
  }
}
