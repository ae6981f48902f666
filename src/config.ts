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
  // The message never quotes the value: the URL carries the SMTP password.
  SMTP_URL: z.string().refine(isSmtpUrl, 'must be smtp://[user:password@]host[:port] or smtps://…').optional(),
  MAIL_FROM: z.string().regex(/^[^\s@<>"(),;:]+@[^\s@<>"(),;:]+$/, 'must be a bare email address, such as no-reply@example.com').optional(),
  TESSERA_OUTBOX_DIR: z.string().default('data/outbox'),
  TESSERA_ADMIN_PASSWORD: z.string().optional(),
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
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl: (e.TESSERA_PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ''),
    databaseUrl: e.DATABASE_URL,
    logLevel: e.LOG_LEVEL,
    trustedProxies: (e.TESSERA_TRUSTED_PROXIES ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    redisUrl: e.REDIS_URL,
    tokens: { defaultAccessTokenTtl: 3600, maxAccessTokenTtl: 86400 },
    keys: { jwksCacheSeconds: 300 },
    cacheCheckMs: 1000,
    cleanupIntervalMs: 10 * 60 * 1000,
    adminPassword: e.TESSERA_ADMIN_PASSWORD,
    mail: {
      smtpUrl: e.SMTP_URL,
      defaultFrom: e.MAIL_FROM ?? `no-reply@${new URL(e.TESSERA_PUBLIC_URL ?? 'http://localhost').hostname}`,
      outboxDir: e.TESSERA_OUTBOX_DIR,
    },
  };
}
