import { z } from 'zod';

/**
 * The server's configuration: one typed object, resolved and validated once at startup
 * (DESIGN.md §3.4). Environment variables, overridden by the same keys given as CLI flags.
 */
export interface Config {
  port: number;
  host: string;
  /** External base URL; every issuer is `${publicUrl}/realms/${tenant}`. No trailing slash. */
  publicUrl: string;
  databaseUrl: string;
  logLevel: string;
  trustedProxies: string[];
  redisUrl: string | undefined;
  /** REDIS_KEY_PREFIX (default `tessera:`): lets deployments (or test runs) share one Redis. */
  redisKeyPrefix: string;
  tokens: {
    /** Access-token lifetime when neither the client nor the API sets one. */
    defaultAccessTokenTtl: number;
    /** Upper bound for any configured access-token lifetime. */
    maxAccessTokenTtl: number;
  };
  keys: {
    /**
     * JWKS `Cache-Control: max-age`. A rotated-in key is published this long before it
     * signs anything, so relying parties that cached the JWKS have already seen it.
     */
    jwksCacheSeconds: number;
  };
  /** How long per-node caches (tenants, clients, APIs, keys) may serve a value unchecked. */
  cacheCheckMs: number;
  /** How often expired rows are removed. */
  cleanupIntervalMs: number;
  /**
   * Failed client authentications allowed per window before 429 (http/client_auth_throttle.ts):
   * TESSERA_CLIENT_AUTH_FAILURES_PER_CLIENT (50), …_PER_IP (20), TESSERA_CLIENT_AUTH_FAILURE_WINDOW (300 s).
   */
  clientAuthThrottle: { perClient: number; perIp: number; windowSeconds: number };
  /** Audit events older than this many days are removed by the cleanup job (src/audit_retention.ts). */
  auditRetentionDays: number;
  /**
   * On SIGTERM/SIGINT, how long in-flight requests may take to finish before their connections
   * are cut (TESSERA_SHUTDOWN_TIMEOUT, seconds; src/server.ts).
   */
  shutdownTimeoutMs: number;
  /**
   * Password of the first operator, created on first start (src/admin/bootstrap.ts); unset,
   * one is generated into `admin-password.txt` beside the SQLite file (or under ./data).
   */
  adminPassword: string | undefined;
  mail: {
    /** `smtp://user:pass@host:port` or `smtps://…`; unset means the development outbox. */
    smtpUrl: string | undefined;
    /** The From address until tenants have their own. */
    defaultFrom: string;
    /** Where the development outbox writes `.eml` files. */
    outboxDir: string;
  };
  /**
   * Requests that arrived over plain HTTP are refused (http/transport.ts). Set by loadConfig when
   * the public URL is https (DESIGN.md §1); in-process tests that only borrow an https URL leave it off.
   */
  httpsOnly: boolean;
  /** Direct TLS: PEM files for fastify's `https` option; unset, TLS ends at a proxy (or nowhere, on loopback). */
  tls: { certFile: string; keyFile: string } | undefined;
  /**
   * TESSERA_MASTER_KEY (and TESSERA_MASTER_KEY_PREVIOUS while rotating): stored private key
   * material is sealed with it (crypto/sealed_keys.ts). Never logged.
   */
  masterKey: { current: string; previous?: string } | undefined;
  /**
   * TESSERA_METRICS_TOKEN: `/metrics` answers anyone presenting it as a bearer token; unset, it
   * answers only loopback clients (endpoints/metrics.ts). Never logged.
   */
  metricsToken?: string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(9000),
  HOST: z.string().min(1).default('127.0.0.1'),
  TESSERA_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  DATABASE_URL: z
    .string()
    .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'must be sqlite:PATH or postgres://…')
    .default('sqlite:./data/tessera.db'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  TESSERA_TRUSTED_PROXIES: z.string().optional(),
  REDIS_URL: z.string().optional(),
  REDIS_KEY_PREFIX: z.string().default('tessera:'),
  // The message never quotes the value: the URL carries the SMTP password.
  SMTP_URL: z.string().refine(isSmtpUrl, 'must be smtp://[user:password@]host[:port] or smtps://…').optional(),
  MAIL_FROM: z.string().regex(/^[^\s@<>"(),;:]+@[^\s@<>"(),;:]+$/, 'must be a bare email address, such as no-reply@example.com').optional(),
  TESSERA_OUTBOX_DIR: z.string().default('data/outbox'),
  TESSERA_ADMIN_PASSWORD: z.string().optional(),
  TESSERA_CLIENT_AUTH_FAILURES_PER_CLIENT: z.coerce.number().int().min(1).default(50),
  TESSERA_CLIENT_AUTH_FAILURES_PER_IP: z.coerce.number().int().min(1).default(20),
  TESSERA_CLIENT_AUTH_FAILURE_WINDOW: z.coerce.number().int().min(1).max(86400).default(300),
  TESSERA_AUDIT_RETENTION_DAYS: z.coerce.number().int().min(1).max(36500).default(90),
  TESSERA_SHUTDOWN_TIMEOUT: z.coerce.number().int().min(0).max(3600).default(10),
  TLS_CERT: z.string().optional(),
  TLS_KEY: z.string().optional(),
  // The messages never quote the value.
  TESSERA_MASTER_KEY: z.string().min(32, 'must be at least 32 characters (e.g. openssl rand -base64 32)').optional(),
  TESSERA_MASTER_KEY_PREVIOUS: z.string().min(32, 'must be at least 32 characters').optional(),
  // A scrape credential: long enough not to be guessed; the message never quotes it.
  TESSERA_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
});

function isSmtpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'smtp:' || url.protocol === 'smtps:') && url.hostname !== '';
  } catch {
    return false;
  }
}

export type ConfigInput = Partial<Record<keyof z.infer<typeof schema>, string | undefined>>;

/** Resolves the configuration from `env` (and flags, which the caller merges over it). */
export function loadConfig(env: ConfigInput = process.env as ConfigInput): Config {
  const parsed = schema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid configuration: ${issue.path.join('.')}: ${issue.message}`);
  }
  const e = parsed.data;
  if ((e.TLS_CERT === undefined) !== (e.TLS_KEY === undefined)) throw new Error('invalid configuration: TLS_CERT and TLS_KEY go together: set both files or neither');
  if (e.TESSERA_MASTER_KEY_PREVIOUS !== undefined && e.TESSERA_MASTER_KEY === undefined) throw new Error('invalid configuration: TESSERA_MASTER_KEY_PREVIOUS needs TESSERA_MASTER_KEY (the key to rotate to)');
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: (e.TESSERA_PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    databaseUrl: e.DATABASE_URL,
    logLevel: e.LOG_LEVEL,
    trustedProxies: (e.TESSERA_TRUSTED_PROXIES ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    redisUrl: e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    tokens: { defaultAccessTokenTtl: 3600, maxAccessTokenTtl: 86400 },
    keys: { jwksCacheSeconds: 300 },
    cacheCheckMs: 1000,
    cleanupIntervalMs: 10 * 60 * 1000,
    clientAuthThrottle: {
      perClient: e.TESSERA_CLIENT_AUTH_FAILURES_PER_CLIENT,
      perIp: e.TESSERA_CLIENT_AUTH_FAILURES_PER_IP,
      windowSeconds: e.TESSERA_CLIENT_AUTH_FAILURE_WINDOW,
    },
    auditRetentionDays: e.TESSERA_AUDIT_RETENTION_DAYS,
    shutdownTimeoutMs: e.TESSERA_SHUTDOWN_TIMEOUT * 1000,
    adminPassword: e.TESSERA_ADMIN_PASSWORD,
    mail: {
      smtpUrl: e.SMTP_URL,
      defaultFrom: e.MAIL_FROM ?? `no-reply@${new URL(e.TESSERA_PUBLIC_URL ?? 'http://localhost').hostname}`,
      outboxDir: e.TESSERA_OUTBOX_DIR,
    },
    httpsOnly: e.TESSERA_PUBLIC_URL !== undefined && new URL(e.TESSERA_PUBLIC_URL).protocol === 'https:',
    tls: e.TLS_CERT && e.TLS_KEY ? { certFile: e.TLS_CERT, keyFile: e.TLS_KEY } : undefined,
    masterKey: e.TESSERA_MASTER_KEY ? { current: e.TESSERA_MASTER_KEY, previous: e.TESSERA_MASTER_KEY_PREVIOUS } : undefined,
    metricsToken: e.TESSERA_METRICS_TOKEN,
  };
}
