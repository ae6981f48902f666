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
});

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
  };
}
