/**
 * `tessera start` as a child process on its own database and a free loopback port, for
 * black-box and browser tests: the server as users run it, driven over real HTTP and the CLI.
 * Needs the compiled dist/ (`npm test` builds it first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers.js';

const BIN = fileURLToPath(new URL('../../bin/tessera.js', import.meta.url));
const DIST_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tessera ARGS` to completion; standard input holds `stdin` (nothing if not given), then ends. */
export function runTessera(env: NodeJS.ProcessEnv, args: string[], stdin = ''): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    // A command that never reads its input may exit first; the write then fails harmlessly.
    child.stdin.on('error', () => {});
    child.stdin.end(stdin);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Repeats `attempt` until it returns a value or `ms` have passed. */
export async function within<T>(ms: number, attempt: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await attempt();
    if (value !== undefined || Date.now() > deadline) return value;
    await sleep(100);
  }
}

export interface StartServerOptions {
  /** Storage backend of the fresh database (default sqlite). Ignored when `database` is given. */
  backend?: 'sqlite' | 'postgres';
  /** A database to run on; the caller drops it. Without it, a fresh one is made and `stop()` drops it. */
  database?: TestDatabase;
  /** The public base URL for a port (default `http://localhost:PORT`). */
  publicUrl?: (port: number) => string;
  /** More environment for the server (the CLI gets none of it). */
  env?: Record<string, string>;
  /** How long to wait for discovery to answer (default 20 s). */
  startTimeoutMs?: number;
  /** Whether the server answers yet (default: discovery answers 200 over plain http at the listen address); direct TLS needs its own. */
  ready?: (port: number) => Promise<boolean>;
}

export interface TesseraServer {
  port: number;
  /** TESSERA_PUBLIC_URL, without a trailing slash. */
  baseUrl: string;
  /** The issuer of the `default` tenant. */
  issuer: string;
  database: TestDatabase;
  /** Environment for CLI runs against this server's database. */
  cliEnv: NodeJS.ProcessEnv;
  /** Runs `tessera ARGS --json`, expects exit 0 and one JSON object on stdout, and returns it. */
  cli(...args: string[]): Promise<any>;
  /** Everything the server wrote to stdout and stderr so far. */
  output(): string;
  /** SIGTERM (SIGKILL after 5 s), then drops the database if startServer made it; returns the exit code. Idempotent. */
  stop(): Promise<number | null>;
  /**
   * Sends `signal` to the server process (e.g. SIGKILL for a crash) and resolves once it has
   * exited, with how it ended. The database stays: `stop()` still drops one startServer made.
   */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Generated ids may begin with "-": they go after "--", so --json goes before it. */
const withJson = (args: string[]) =>
  args.includes('--') ? [...args.slice(0, args.indexOf('--')), '--json', ...args.slice(args.indexOf('--'))] : [...args, '--json'];

export async function startServer(options: StartServerOptions = {}): Promise<TesseraServer> {
  if (!existsSync(DIST_MAIN)) {
    throw new Error('dist/ is missing: run `npm run build` (npm test builds before it runs vitest)');
  }
  const ownsDatabase = !options.database;
  const database = options.database ?? (await createTestDatabase(options.backend ?? 'sqlite'));
  const port = await freePort();
  const baseUrl = (options.publicUrl ?? ((p) => `http://localhost:${p}`))(port).replace(/\/$/, '');
  const issuer = `${baseUrl}/realms/default`;
  const cliEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, DATABASE_URL: database.url, TESSERA_PUBLIC_URL: baseUrl };

  // Only what the server needs: a developer's TESSERA_* or DATABASE_URL must not leak in.
  const child: ChildProcess = spawn(process.execPath, [BIN, 'start'], {
    env: {
      PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', TESSERA_PUBLIC_URL: baseUrl, DATABASE_URL: database.url, LOG_LEVEL: 'warn',
      // Development mail goes to a directory of this run, never to the repo's data/outbox.
      TESSERA_OUTBOX_DIR: join(tmpdir(), `tessera-outbox-${port}-${process.pid}`),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);

  let stopped: Promise<number | null> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      process.off('exit', kill);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const timer = setTimeout(kill, 5000);
        await exited;
        clearTimeout(timer);
      }
      if (ownsDatabase) await database.drop();
      return child.exitCode;
    })());

  async function cli(...args: string[]): Promise<any> {
    const r = await runTessera(cliEnv, withJson(args));
    expect(r, `tessera ${args.join(' ')}`).toEqual({ code: 0, stdout: expect.stringMatching(/^\{.*\}\n$/), stderr: '' });
    return JSON.parse(r.stdout);
  }

  // Polled at the listen address: how "localhost" resolves is the client's business, not the server's.
  const discovery = `http://127.0.0.1:${port}/realms/default/.well-known/openid-configuration`;
  const timeout = options.startTimeoutMs ?? 20_000;
  try {
    const up = await within(timeout, async () => {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${output}`);
      if (options.ready) return (await options.ready(port)) || undefined;
      const r = await fetch(discovery).catch(() => undefined);
      return r?.status === 200 ? true : undefined;
    });
    if (!up) throw new Error(`the server did not answer within ${timeout / 1000} s: ${output}`);
  } catch (err) {
    await stop();
    throw err;
  }
  async function killWith(signal: NodeJS.Signals) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill(signal);
      await exited;
    }
    return { code: child.exitCode, signal: child.signalCode };
  }

  return { port, baseUrl, issuer, database, cliEnv, cli, output: () => output, stop, kill: killWith };
}

/**
 * Waits until the running server's discovery lists `scope`: the server sees CLI changes
 * within a second (its config cache checks a version counter), and a test acting at once
 * could still meet the cached, older configuration.
 */
export async function waitForScope(issuer: string, scope: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const meta = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { scopes_supported: string[] };
    if (meta.scopes_supported.includes(scope)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the server did not list scope ${scope} within 5 s`);
}
