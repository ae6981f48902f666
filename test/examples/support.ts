/**
 * The example APIs as a user runs them: `tessera start` (test/support/server.ts), then
 * `examples/setup.mjs` against its database, then `node examples/<api>/server.mjs` — each a
 * child process on a free port, importing the kit as `tessera/verify` from the built dist/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { basic } from '../helpers.js';
import { freePort, startServer, within, type TesseraServer } from '../support/server.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

/** What setup.mjs writes to its configuration file. */
export interface ExampleConfig {
  tessera: { issuer: string; tenant: string; token_endpoint: string };
  user: { username: string; password: string };
  avatars: ApiConfig<'service' | 'cli'>;
  heart_rate: ApiConfig<'recorder' | 'widget'>;
}
interface Credentials {
  client_id: string;
  client_secret?: string;
}
interface ApiConfig<C extends string> {
  url: string;
  audience: string;
  api_credentials: Credentials;
  clients: Record<C, Credentials>;
}

/** Runs a script to completion with only the given environment. */
function run(script: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(EXAMPLES, script), ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface ExampleWorld {
  server: TesseraServer;
  config: ExampleConfig;
  configPath: string;
  dir: string;
  ports: { avatars: number; heartRate: number };
  close(): Promise<void>;
}

/** Tessera, provisioned by setup.mjs, as the quickstart does it. */
export async function provisionedTessera(): Promise<ExampleWorld> {
  const server = await startServer({ publicUrl: (port) => `http://127.0.0.1:${port}` });
  const dir = mkdtempSync(join(tmpdir(), 'tessera-examples-'));
  const close = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const configPath = join(dir, 'examples.json');
    const ports = { avatars: await freePort(), heartRate: await freePort() };
    const env = {
      DATABASE_URL: server.database.url, TESSERA_PUBLIC_URL: server.baseUrl, EXAMPLES_CONFIG: configPath,
      AVATARS_PORT: String(ports.avatars), HEART_RATE_PORT: String(ports.heartRate),
    };
    const r = await run('setup.mjs', ['--json'], env);
    expect(r, 'examples/setup.mjs').toEqual({ code: 0, stdout: expect.stringMatching(/^\{.*\}\n$/), stderr: '' });
    return { server, config: JSON.parse(r.stdout), configPath, dir, ports, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface RunningExample {
  url: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts `examples/<script>` on `port` and waits until it says it listens. */
export async function startExample(script: string, world: ExampleWorld, port: number, env: Record<string, string> = {}): Promise<RunningExample> {
  const child: ChildProcess = spawn(process.execPath, [join(EXAMPLES, script)], {
    env: { PATH: process.env.PATH ?? '', EXAMPLES_CONFIG: world.configPath, PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const stop = async () => {
    process.off('exit', kill);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(kill, 5000);
    await exited;
    clearTimeout(timer);
  };
  const up = await within(20_000, async () => {
    if (child.exitCode !== null) throw new Error(`${script} exited with ${child.exitCode}: ${output}`);
    return /listening on http:\/\//.test(output) ? true : undefined;
  }).catch(async (err) => {
    await stop();
    throw err;
  });
  if (!up) {
    await stop();
    throw new Error(`${script} did not start within 20 s: ${output}`);
  }
  return { url: `http://127.0.0.1:${port}`, output: () => output, stop };
}

/** A token from the tenant's token endpoint, as the example clients get one. */
export async function tokenFor(world: ExampleWorld, client: Credentials, params: Record<string, string>): Promise<Record<string, any>> {
  const res = await fetch(world.config.tessera.token_endpoint, {
    method: 'POST',
    headers: { authorization: basic(client.client_id, client.client_secret ?? ''), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params),
  });
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body;
}

/** A response as the tests compare it: status, the challenge if any, and the JSON body. */
export async function seen(res: Response) {
  const text = await res.text();
  return { status: res.status, challenge: res.headers.get('www-authenticate'), body: text === '' ? undefined : JSON.parse(text) };
}
