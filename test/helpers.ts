import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { buildApp } from '../src/app.js';
import type { Clock } from '../src/clock.js';
import { loadConfig, type Config } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { MemoryMailer } from '../src/mail/memory.js';
import { ensureDefaultTenant } from '../src/manage/tenants.js';
import { openStorage, type Storage } from '../src/storage/index.js';

/** A database for one test file: a fresh SQLite file, or a fresh PostgreSQL database. */
export interface TestDatabase {
  name: 'sqlite' | 'postgres';
  url: string;
  drop(): Promise<void>;
}

/** The backends to run on: SQLite always, PostgreSQL when TEST_DATABASE_URL is set. */
export const BACKENDS: ('sqlite' | 'postgres')[] = process.env.TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];

export async function createTestDatabase(kind: 'sqlite' | 'postgres'): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-test-'));
    return { name: 'sqlite', url: `sqlite:${join(dir, 'tessera.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const admin = process.env.TEST_DATABASE_URL!;
  const dbName = `tessera_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`create database ${dbName}`);
  await client.end();
  const url = new URL(admin);
  url.pathname = `/${dbName}`;
  return {
    name: 'postgres',
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`drop database if exists ${dbName} with (force)`);
      await c.end();
    },
  };
}

/** A clock tests move by hand. */
export class FakeClock implements Clock {
  constructor(public ms = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export const PUBLIC_URL = 'http://tessera.test';

export function testConfig(databaseUrl: string, overrides: Partial<Config> = {}): Config {
  return {
    ...loadConfig({ DATABASE_URL: databaseUrl, TESSERA_PUBLIC_URL: PUBLIC_URL, LOG_LEVEL: 'silent' }),
    cacheCheckMs: 0,
    // Test files fail client authentication on purpose, all from one address; the throttle's
    // own tests (test/security/h_throttling.test.ts) set the limits they exercise.
    clientAuthThrottle: { perClient: 1_000_000, perIp: 1_000_000, windowSeconds: 300 },
    ...overrides,
  };
}

/** An in-process server on its own database, with the default tenant in place. */
/** In-process apps send mail to memory (`mailer.messages`), never to ./data/outbox. */
export async function startTestApp(kind: 'sqlite' | 'postgres', options: { clock?: Clock; config?: Partial<Config> } = {}) {
  const mailer = new MemoryMailer();
  const database = await createTestDatabase(kind);
  const config = testConfig(database.url, options.config);
  const storage: Storage = await openStorage(database.url);
  const clock = options.clock ?? { now: () => Date.now() };
  const deps = { storage, clock, random: (n: number) => randomBytes(n) };
  await ensureDefaultTenant(deps);
  const { app, services } = await buildApp({ config, storage, logger: createLogger('silent'), clock, mailer });
  await app.ready();
  return {
    app,
    services,
    storage,
    deps,
    config,
    database,
    mailer,
    async close() {
      await app.close();
      await storage.close();
      await database.drop();
    },
  };
}

export type TestApp = Awaited<ReturnType<typeof startTestApp>>;

export const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

export const form = (fields: Record<string, string | string[]>): string => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) p.append(k, x);
  return p.toString();
};

export const FORM_HEADERS = { 'content-type': 'application/x-www-form-urlencoded' };
