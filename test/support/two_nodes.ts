/**
 * Two `tessera start` processes on one database, as a scale-out deployment runs them
 * (docs/deployment.md "Several nodes"): PostgreSQL, or one SQLite file shared by two processes
 * on one machine. One public URL in front (so one issuer), the same TESSERA_MASTER_KEY, and
 * each node reached at its own loopback address, as a load balancer without sticky sessions
 * would forward. A user agent over fetch follows the pages through whichever node a test
 * names. Needs the compiled dist/.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers.js';
import { formOf } from './inject_browser.js';
import { freePort, runTessera, startServer, type TesseraServer } from './server.js';
import { createUser, type CreatedUser } from './users.js';

export const PASSWORD = 'correct horse battery';

/** One node: its process and the address a load balancer would forward to. */
export interface Node {
  name: 'A' | 'B';
  server: TesseraServer;
  /** `http://127.0.0.1:PORT`: this node, not the public URL. */
  origin: string;
  /** A public URL (or a path) as this node serves it. */
  url(publicOrPath: string): string;
}

export interface TwoNodes {
  a: Node;
  b: Node;
  /** The public URL both nodes are configured with (nothing listens there: it stands for the proxy). */
  publicUrl: string;
  /** The `default` tenant's one issuer, the same on both nodes. */
  issuer: string;
  database: TestDatabase;
  /** `tessera ARGS --json` against the shared database, expecting success; the parsed output. */
  cli(...args: string[]): Promise<any>;
  user(username: string): Promise<CreatedUser>;
  stop(): Promise<void>;
}

/**
 * Starts the pair: `tessera migrate` once (docs/deployment.md: before several processes start
 * together), then both nodes at the same time, so their first-start work (the default tenant
 * and its keys) races as it would in a real rollout.
 */
export async function startTwoNodes(backend: 'sqlite' | 'postgres', env: Record<string, string> = {}): Promise<TwoNodes> {
  const database = await createTestDatabase(backend);
  const publicUrl = `http://localhost:${await freePort()}`;
  const masterKey = randomBytes(32).toString('base64');
  const cliEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, DATABASE_URL: database.url, TESSERA_PUBLIC_URL: publicUrl, TESSERA_MASTER_KEY: masterKey };
  const servers: TesseraServer[] = [];
  try {
    const migrated = await runTessera(cliEnv, ['migrate']);
    expect(migrated.code, migrated.stderr).toBe(0);
    const started = await Promise.allSettled(
      [0, 1].map(() => startServer({ database, publicUrl: () => publicUrl, startTimeoutMs: 40_000, env: { TESSERA_MASTER_KEY: masterKey, ...env } })),
    );
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    await database.drop();
    throw err;
  }
  const node = (name: 'A' | 'B', server: TesseraServer): Node => {
    const origin = `http://127.0.0.1:${server.port}`;
    return { name, server, origin, url: (u) => (u.startsWith(publicUrl) ? origin + u.slice(publicUrl.length) : u.startsWith('/') ? origin + u : u) };
  };
  async function cli(...args: string[]): Promise<any> {
    const r = await runTessera(cliEnv, [...args, '--json']);
    expect(r, `tessera ${args.join(' ')}`).toEqual({ code: 0, stdout: expect.stringMatching(/^\{.*\}\n$/), stderr: '' });
    return JSON.parse(r.stdout);
  }
  return {
    a: node('A', servers[0]), b: node('B', servers[1]), publicUrl, issuer: `${publicUrl}/realms/default`, database, cli,
    user: (username) => createUser({ ...servers[0], cliEnv }, { username, password: PASSWORD }),
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      await database.drop();
    },
  };
}

/** A browser over fetch: keeps cookies by name, never follows redirects, sends each request to the node it is told. */
export class UserAgent {
  readonly cookies = new Map<string, string>();

  cookieHeader(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
  }

  async request(node: Node, url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    for (const [k, v] of Object.entries(this.cookieHeader())) headers.set(k, v);
    const res = await fetch(node.url(url), { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(30_000) });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  }

  get(node: Node, url: string): Promise<Response> {
    return this.request(node, url);
  }

  post(node: Node, url: string, fields: Record<string, string>): Promise<Response> {
    return this.request(node, url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
  }

  /** Submits the first form of `page` (its hidden fields plus `fields`) to `node`. */
  async submit(node: Node, page: Response, fields: Record<string, string>): Promise<Response> {
    const html = await page.text();
    expect(page.status, html).toBe(200);
    const f = formOf(html);
    return this.post(node, f.action, { ...f.fields, ...fields });
  }
}

/** A client's form POST to a node (HTTP Basic when it has a secret, RFC 6749 §2.3.1). */
export function clientPost(node: Node, path: string, client: { client_id: string; client_secret?: string }, fields: Record<string, string>, headers: Record<string, string> = {}) {
  const auth: Record<string, string> = client.client_secret === undefined ? {} : { authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}` };
  const body = client.client_secret === undefined ? { client_id: client.client_id, ...fields } : fields;
  return fetch(node.url(path), {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...auth, ...headers }, body: new URLSearchParams(body), signal: AbortSignal.timeout(30_000),
  });
}

/** Status, Cache-Control and JSON body, to compare whole. */
export async function jsonView(res: Response) {
  return { status: res.status, cacheControl: res.headers.get('cache-control'), body: await res.json() };
}

export const TOKEN = '/realms/default/protocol/openid-connect/token';
export const AUTH = '/realms/default/protocol/openid-connect/auth';
export const INTROSPECT = '/realms/default/protocol/openid-connect/token/introspect';
export const REVOKE = '/realms/default/protocol/openid-connect/revoke';
export const VALIDATE = '/realms/default/protocol/openid-connect/validate';
export const PAR = '/realms/default/protocol/openid-connect/ext/par/request';
export const DEVICE_AUTH = '/realms/default/protocol/openid-connect/auth/device';
export const DEVICE_PAGE = '/realms/default/device';
export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
