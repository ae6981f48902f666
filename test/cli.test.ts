/**
 * Black-box tests of the `tessera` command (DESIGN.md §1 CLI): each case spawns
 * `node bin/tessera.js …` (the compiled dist/, built by `npm test` before vitest runs)
 * against a fresh database, and checks the exit code, the one JSON object on stdout
 * and the message on stderr. Spawns cost ~0.3 s each, so independent cases run in
 * parallel and each step asserts as much as it can.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPassword } from '../src/crypto/password.js';
import { openStorage } from '../src/storage/index.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './helpers.js';
import { freePort, runTessera, type RunResult } from './support/server.js';
import { DCR_OFF } from './support/dcr_policy.js';

const BIN = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
const PUBLIC_URL = 'http://tessera.test';

// ≥128-bit identifiers, base64url, never starting with "-" or "_" (a command line would take "-…" for an option).
const ID = expect.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{21}$/);
const SECRET = expect.stringMatching(/^[A-Za-z0-9_-]{43}$/); // 256-bit secrets, base64url
const nowSeconds = () => Math.floor(Date.now() / 1000);
const recent = () => expect.toSatisfy((v: unknown) => Number.isInteger(v) && Math.abs((v as number) - nowSeconds()) < 120, 'a time in seconds close to now');

type Run = RunResult;
const spawnCli = runTessera;

/** The CLI bound to one database; with `stdin`, every run gets it on standard input. */
function cliFor(databaseUrl: string, stdin?: string) {
  const env = { PATH: process.env.PATH, DATABASE_URL: databaseUrl, TESSERA_PUBLIC_URL: PUBLIC_URL };
  const raw = (...args: string[]) => spawnCli(env, args, stdin);
  // Generated ids are base64url and may begin with "-": they go after "--", and --json before it.
  const withJson = (args: string[]) => (args.includes('--') ? [...args.slice(0, args.indexOf('--')), '--json', ...args.slice(args.indexOf('--'))] : [...args, '--json']);
  return {
    raw,
    /** Runs with --json, expects success: exit 0, nothing on stderr, exactly one JSON object on one line of stdout. */
    async ok(...args: string[]): Promise<any> {
      const r = await raw(...withJson(args));
      expect(r, `tessera ${args.join(' ')}`).toEqual({ code: 0, stdout: expect.stringMatching(/^\{.*\}\n$/), stderr: '' });
      const value = JSON.parse(r.stdout);
      expect(value).toBeTypeOf('object');
      expect(Array.isArray(value)).toBe(false);
      return value;
    },
    /** Runs with --json, expects failure: non-zero exit, nothing on stdout, a message on stderr and no stack trace. */
    async fails(...args: string[]): Promise<{ code: number | null; stderr: string }> {
      const r = await raw(...withJson(args));
      expect(r.code, `tessera ${args.join(' ')} should fail; stdout: ${r.stdout}`).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(/^\s+at /m);
      return { code: r.code, stderr: r.stderr };
    },
  };
}

/** stderr of an input error: one line naming the command. */
const inputError = (command: string, message: RegExp | string) =>
  expect.objectContaining({
    code: 1,
    stderr: expect.stringMatching(new RegExp(`^tessera ${command}: ${typeof message === 'string' ? escape(message) : message.source}\\n$`)),
  });
/** stderr of a usage error: the problem, then the command's usage line. */
const usageError = (command: string, message: RegExp) =>
  expect.objectContaining({ code: 2, stderr: expect.stringMatching(new RegExp(`^tessera ${command}: ${message.source}\\nusage: tessera ${command} .*\\n$`)) });
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A signing key as `keys list` shows it; kids are `{alg}-{RFC 7638 thumbprint}`, so they start with a letter. */
const key = (alg: string, purpose: string, status: string) => ({
  kid: expect.stringMatching(new RegExp(`^${alg.toLowerCase()}-[A-Za-z0-9_-]{43}$`)), alg, purpose, status, created_at: recent(),
  // A pending key waits out the JWKS cache lifetime (300 s by default); the others sign now.
  activates_at: status === 'pending' ? expect.toSatisfy((t: number) => t - nowSeconds() > 200 && t - nowSeconds() <= 300) : recent(),
});
const nextSecond = () => new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));

/** `tessera start` as a child process on a free port; resolves once discovery answers. */
async function startServer(databaseUrl: string): Promise<{ base: string; stop(): Promise<void> }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [BIN, 'start'], {
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', TESSERA_PUBLIC_URL: base, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const stop = async () => {
    process.off('exit', kill);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(kill, 5000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${output}`);
      const r = await fetch(`${base}/realms/default/.well-known/openid-configuration`).catch(() => undefined);
      if (r?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`the server did not answer within 20 s: ${output}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { base, stop };
}

/** Repeats `attempt` until it returns a value or `ms` have passed; returns the value and how long it took. */
async function within<T>(ms: number, attempt: () => Promise<T | undefined>): Promise<{ value: T | undefined; elapsed: number }> {
  const started = Date.now();
  for (;;) {
    const value = await attempt();
    if (value !== undefined || Date.now() - started > ms) return { value, elapsed: Date.now() - started };
    await new Promise((r) => setTimeout(r, 100));
  }
}

const JWK = { kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', use: 'sig', kid: 'app-key-1' };

beforeAll(() => {
  if (!existsSync(fileURLToPath(new URL('../dist/cli/main.js', import.meta.url)))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test builds before it runs vitest)');
  }
});

describe.each(BACKENDS)('tessera CLI on %s', (backend) => {
  let database: TestDatabase;
  let cli: ReturnType<typeof cliFor>;
  let dir: string;
  const defaultTenant = {
    id: 'default', display_name: 'Default', hostname: null, issuer: `${PUBLIC_URL}/realms/default`, default_audience: null,
    session_idle_seconds: 1800, session_max_seconds: 36000, personal_token_max_days: 90, registration: false, require_verified_email: false, email_from: null, dcr: DCR_OFF, created_at: recent(), updated_at: recent(),
  };
  // Built in like default: its users are the operators (src/admin/bootstrap.ts).
  const adminTenant = { ...defaultTenant, id: 'admin', display_name: 'Tessera administration', issuer: `${PUBLIC_URL}/realms/admin` };

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    cli = cliFor(database.url);
    dir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
  });
  afterAll(async () => {
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('migrate applies the schema to a fresh database once, then finds nothing to apply', async () => {
    const first = await cli.ok('migrate');
    expect(first).toEqual({ applied: expect.arrayContaining(['0001_foundation']) });
    expect(first.applied.every((m: unknown) => typeof m === 'string')).toBe(true);
    expect(await cli.ok('migrate')).toEqual({ applied: [] });
  });

  it('manages tenants: create, list, update, delete; refuses duplicates, bad ids and deleting default', async () => {
    expect(await cli.ok('tenant', 'list')).toEqual({ tenants: [adminTenant, defaultTenant] });

    const acme = await cli.ok('tenant', 'create', 'acme', '--display-name', 'Acme Corp', '--default-audience', 'https://api.acme.example/');
    expect(acme).toEqual({
      id: 'acme', display_name: 'Acme Corp', hostname: null, issuer: `${PUBLIC_URL}/realms/acme`, default_audience: 'https://api.acme.example/',
      session_idle_seconds: 1800, session_max_seconds: 36000, personal_token_max_days: 90, registration: false, require_verified_email: false, email_from: null, dcr: DCR_OFF, created_at: recent(), updated_at: acme.created_at,
    });

    const [duplicate, badId, deleteDefault, badAudience] = await Promise.all([
      cli.fails('tenant', 'create', 'default', '--display-name', 'Again'),
      cli.fails('tenant', 'create', 'bad id!'),
      cli.fails('tenant', 'delete', 'default'),
      cli.fails('tenant', 'update', 'acme', '--display-name', 'Never', '--default-audience', 'not-a-uri'),
    ]);
    expect(duplicate).toEqual(inputError('tenant create', 'tenant default already exists'));
    expect(badId).toEqual(inputError('tenant create', 'tenant id must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit'));
    expect(deleteDefault).toEqual(inputError('tenant delete', 'the default tenant cannot be deleted'));
    expect(badAudience).toEqual(inputError('tenant update', /audience "not-a-uri" must be an absolute URI.*/));

    const updated = await cli.ok('tenant', 'update', 'acme', '--display-name', 'Acme Inc', '--session-idle', '900', '--session-max', '7200', '--personal-token-max-days', '30');
    expect(updated).toEqual({ ...acme, display_name: 'Acme Inc', session_idle_seconds: 900, session_max_seconds: 7200, personal_token_max_days: 30, updated_at: expect.toSatisfy((t: number) => t >= acme.created_at) });
    expect(await cli.fails('tenant', 'update', 'acme', '--session-idle', '9000')).toEqual(inputError('tenant update', 'the session idle lifetime cannot be longer than its maximum lifetime'));
    expect(await cli.fails('tenant', 'update', 'acme', '--registration', 'maybe')).toEqual(inputError('tenant update', '--registration must be on or off, not "maybe"'));
    expect(await cli.fails('tenant', 'update', 'acme', '--email-from', 'Acme <no-reply@acme.test>')).toEqual(inputError('tenant update', 'email "Acme <no-reply@acme.test>" is not a valid email address'));
    // The refused commands changed nothing: no tenant "bad id!", default's name and acme's audience intact.
    expect(await cli.ok('tenant', 'list')).toEqual({ tenants: [updated, adminTenant, defaultTenant] });
    const open = await cli.ok('tenant', 'update', 'acme', '--registration', 'on', '--require-verified-email', 'on', '--email-from', 'no-reply@acme.test');
    expect(open).toEqual({ ...updated, registration: true, require_verified_email: true, email_from: 'no-reply@acme.test', updated_at: expect.any(Number) });
    const closed = await cli.ok('tenant', 'update', 'acme', '--registration', 'off', '--email-from', '');
    expect(closed).toEqual({ ...open, registration: false, email_from: null, updated_at: expect.any(Number) });
  });

  it('gives a tenant its own hostname, which its issuer follows; refuses bad, taken and public-URL hosts; clears it with ""', async () => {
    const closed = await cli.ok('tenant', 'show', 'acme');
    // https: the public URL here is not plain-http loopback.
    const hosted = await cli.ok('tenant', 'update', 'acme', '--hostname', 'auth.acme.example');
    expect(hosted).toEqual({ ...closed, hostname: 'auth.acme.example', issuer: 'https://auth.acme.example/realms/acme', updated_at: expect.any(Number) });
    expect(await cli.ok('tenant', 'show', 'acme')).toEqual(hosted);
    const [badHost, takenHost, publicHost] = await Promise.all([
      cli.fails('tenant', 'update', 'acme', '--hostname', 'auth.acme.example:8443'),
      cli.fails('tenant', 'update', 'default', '--hostname', 'auth.acme.example'),
      cli.fails('tenant', 'update', 'default', '--hostname', 'tessera.test'),
    ]);
    expect(publicHost).toEqual(inputError('tenant update', "hostname tessera.test is the public URL's host, which serves every tenant"));
    expect(badHost).toEqual(inputError('tenant update', 'hostname must be a lowercase DNS name such as auth.example.com, without scheme, port or path'));
    expect(takenHost).toEqual(inputError('tenant update', 'hostname auth.acme.example already exists'));
    const unhosted = await cli.ok('tenant', 'update', 'acme', '--hostname', '');
    expect(unhosted).toEqual({ ...closed, updated_at: expect.any(Number) });
  });

  it('deletes a tenant with everything in it, so a tenant re-created under its id starts empty', async () => {
    await cli.ok('client', 'create', '--tenant', 'acme', '--name', 'doomed');
    expect(await cli.ok('tenant', 'delete', 'acme')).toEqual({ deleted: { id: 'acme' } });
    expect(await cli.fails('tenant', 'show', 'acme')).toEqual(inputError('tenant show', 'tenant acme does not exist'));
    expect(await cli.ok('tenant', 'create', 'acme')).toEqual({
      id: 'acme', display_name: 'acme', hostname: null, issuer: `${PUBLIC_URL}/realms/acme`, default_audience: null,
      session_idle_seconds: 1800, session_max_seconds: 36000, personal_token_max_days: 90, registration: false, require_verified_email: false, email_from: null, dcr: DCR_OFF, created_at: recent(), updated_at: recent(),
    });
    expect(await cli.ok('client', 'list', '--tenant', 'acme')).toEqual({ clients: [] });
  });

  let full: any;
  let spa: any;

  it('creates a client with every flag, and a public client without a secret', async () => {
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [JWK] }));
    full = await cli.ok(
      'client', 'create', '--tenant', 'default', '--name', 'Full App',
      '--redirect-uri', 'https://app.example.com/cb', '--redirect-uri', 'http://127.0.0.1:8080/cb', '--redirect-uri', 'com.example.app:/oauth2redirect',
      '--grant-types', 'authorization_code,implicit,refresh_token,urn:ietf:params:oauth:grant-type:device_code',
      '--scopes', 'openid offline_access read:avatars',
      '--access-token-format', 'opaque', '--access-token-ttl', '600',
      '--post-logout-redirect-uri', 'https://app.example.com/bye',
      '--cors-origin', 'https://app.example.com', '--cors-origin', 'http://localhost:5173',
      '--token-endpoint-auth-method', 'client_secret_post',
      '--jwks', jwksFile, '--consent', 'skip', '--web-page', '--session-refresh-tokens', '--id-token-alg', 'ES256',
      '--backchannel-logout-uri', 'https://app.example.com/backchannel-logout', '--no-backchannel-logout-session-required',
    );
    expect(full).toEqual({
      client_id: ID,
      client_secret: SECRET,
      tenant: 'default',
      client_name: 'Full App',
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['authorization_code', 'implicit', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
      // OpenID Connect Dynamic Registration §2: code + implicit → also the hybrid response types.
      response_types: ['code', 'token', 'id_token', 'id_token token', 'code id_token', 'code token', 'code id_token token'],
      redirect_uris: ['https://app.example.com/cb', 'http://127.0.0.1:8080/cb', 'com.example.app:/oauth2redirect'],
      post_logout_redirect_uris: ['https://app.example.com/bye'],
      cors_origins: ['https://app.example.com', 'http://localhost:5173'],
      scope: 'openid offline_access read:avatars',
      access_token_format: 'opaque',
      access_token_ttl: 600,
      consent: 'skip',
      web_page: true,
      session_refresh_tokens: true,
      refresh_token_grace_seconds: 0,
      id_token_signed_response_alg: 'ES256',
      jwks: { keys: [JWK] },
      backchannel_logout_uri: 'https://app.example.com/backchannel-logout',
      backchannel_logout_session_required: false,
      require_pushed_authorization_requests: false,
      dpop_bound_access_tokens: false,
      token_exchange: { subject_clients: [], audiences: [] },
      client_assertion_audience_token_endpoint: false,
      created_at: recent(),
      updated_at: full.created_at,
    });

    spa = await cli.ok('client', 'create', '--tenant', 'default', '--name', 'SPA', '--public', '--redirect-uri', 'http://localhost:3000/callback');
    expect(spa).toEqual({
      client_id: ID,
      tenant: 'default',
      client_name: 'SPA',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://localhost:3000/callback'],
      post_logout_redirect_uris: [],
      cors_origins: [],
      scope: '',
      access_token_format: 'jwt',
      access_token_ttl: null,
      consent: 'required',
      web_page: false,
      session_refresh_tokens: false,
      refresh_token_grace_seconds: 0,
      id_token_signed_response_alg: 'RS256',
      backchannel_logout_uri: null,
      backchannel_logout_session_required: true,
      require_pushed_authorization_requests: false,
      dpop_bound_access_tokens: false,
      token_exchange: { subject_clients: [], audiences: [] },
      client_assertion_audience_token_endpoint: false,
      created_at: recent(),
      updated_at: spa.created_at,
    });
    expect(spa).not.toHaveProperty('client_secret');
    expect(full.client_id).not.toBe(spa.client_id);
    // Issue 7's client metadata round-trips through the store.
    const modern = await cli.ok(
      'client', 'update', '--tenant', 'default', spa.client_id, '--require-par', '--dpop-bound', '--token-exchange-subject-client', '*',
      '--token-exchange-audience', 'https://api.example/', '--assertion-aud-token-endpoint',
    );
    expect(modern).toEqual({
      ...spa, require_pushed_authorization_requests: true, dpop_bound_access_tokens: true,
      token_exchange: { subject_clients: ['*'], audiences: ['https://api.example/'] }, client_assertion_audience_token_endpoint: true, updated_at: expect.any(Number),
    });
    expect(await cli.ok('client', 'show', '--tenant', 'default', spa.client_id)).toEqual(modern);
    spa = await cli.ok('client', 'update', '--tenant', 'default', spa.client_id, '--no-require-par', '--no-dpop-bound', '--no-assertion-aud-token-endpoint');
    expect(spa).toMatchObject({ require_pushed_authorization_requests: false, dpop_bound_access_tokens: false, client_assertion_audience_token_endpoint: false });
  });

  it('refuses invalid clients with a non-zero exit and a clear message, and stores none of them', async () => {
    const create = (...args: string[]) => cli.fails('client', 'create', ...args);
    const results = await Promise.all([
      create('--tenant', 'nope', '--name', 'x'),
      create('--tenant', 'default', '--name', 'x', '--grant-types', 'authorization_code,magic'),
      create('--tenant', 'default', '--name', 'x', '--redirect-uri', '/callback'),
      create('--tenant', 'default', '--name', 'x', '--redirect-uri', 'https://app.example.com/cb#frag'),
      create('--tenant', 'default', '--name', 'x', '--redirect-uri', 'http://app.example.com/cb'),
      create('--tenant', 'default', '--name', 'x', '--redirect-uri', 'javascript:alert(1)'),
      create('--tenant', 'default', '--name', 'x', '--secret-color', 'blue'),
      create('--name', 'x'),
      create('--tenant', 'default'),
      create('--tenant', 'default', '--name', 'x', '--public', '--grant-types', 'client_credentials'),
      create('--tenant', 'default', '--name', 'x', '--jwks', join(dir, 'missing.json')),
    ]);
    expect(results).toEqual([
      inputError('client create', 'tenant nope does not exist'),
      inputError('client create', /unknown grant type magic \(known: authorization_code, implicit, refresh_token, client_credentials, password, urn:ietf:params:oauth:grant-type:device_code, urn:ietf:params:oauth:grant-type:token-exchange\)/),
      inputError('client create', 'redirect URI "/callback" is not an absolute URI'),
      inputError('client create', /redirect URI https:\/\/app\.example\.com\/cb#frag must not contain a fragment.*/),
      inputError('client create', /redirect URI http:\/\/app\.example\.com\/cb must use https.*/),
      inputError('client create', /redirect URI scheme javascript: is not allowed/),
      usageError('client create', /Unknown option '--secret-color'.*/),
      usageError('client create', /--tenant is required/),
      usageError('client create', /--name is required/),
      inputError('client create', 'a public client cannot use the client_credentials grant'),
      inputError('client create', /cannot read a JSON Web Key Set from .*missing\.json: .*/),
    ]);
    const { client_secret: _secret, ...fullView } = full;
    const listed = await cli.ok('client', 'list', '--tenant', 'default');
    expect(listed).toEqual({ clients: expect.arrayContaining([fullView, spa]) });
    expect(listed.clients).toHaveLength(2);
  });

  it('shows, updates and deletes clients; never shows a secret again; a client stays public or confidential', async () => {
    const { client_secret: _secret, ...fullView } = full;
    expect(await cli.ok('client', 'show', '--tenant', 'default', '--', full.client_id)).toEqual(fullView);

    const updated = await cli.ok(
      'client', 'update', '--tenant', 'default', '--name', 'Renamed', '--grant-types', 'client_credentials',
      '--scopes', 'read:avatars write:avatars', '--access-token-format', 'jwt', '--redirect-uri', 'https://new.example.com/cb', '--consent', 'required', '--', full.client_id,
    );
    expect(updated).toEqual({
      ...fullView,
      client_name: 'Renamed',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: ['https://new.example.com/cb'],
      scope: 'read:avatars write:avatars',
      access_token_format: 'jwt',
      consent: 'required',
      updated_at: expect.toSatisfy((t: number) => t >= full.created_at),
    });

    const [toPublic, badRedirect] = await Promise.all([
      cli.fails('client', 'update', '--tenant', 'default', '--token-endpoint-auth-method', 'none', '--', full.client_id),
      cli.fails('client', 'update', '--tenant', 'default', '--name', 'Never', '--redirect-uri', 'http://evil.example/cb', '--', full.client_id),
    ]);
    expect(toPublic).toEqual(inputError('client update', 'a client cannot change between public and confidential; create a new client'));
    expect(badRedirect).toEqual(inputError('client update', /redirect URI http:\/\/evil\.example\/cb must use https.*/));

    expect(await cli.ok('client', 'delete', '--tenant', 'default', '--', spa.client_id)).toEqual({ deleted: { client_id: spa.client_id } });
    // The refused updates left "Renamed" as it was; the SPA is gone.
    expect(await cli.ok('client', 'list', '--tenant', 'default')).toEqual({ clients: [updated] });
    expect(await cli.fails('client', 'show', '--tenant', 'default', '--', spa.client_id)).toEqual(inputError('client show', `tenant default has no client ${spa.client_id}`));
  });

  it('prints human-readable output without --json, with the secret and a warning that it is shown once', async () => {
    const r = await cli.raw('client', 'create', '--tenant', 'acme', '--name', 'Plain', '--grant-types', 'client_credentials');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^client_id: [A-Za-z0-9][A-Za-z0-9_-]{21}\nclient_secret: [A-Za-z0-9_-]{43}\ntenant: acme\nclient_name: Plain\n/);
    expect(r.stdout).toContain('\ngrant_types: client_credentials\n');
    expect(r.stdout).toMatch(/\n\nThe client secret is shown only now: store it safely\.\n$/);
  });

  it('manages APIs: scopes with descriptions, unique audiences and scope names, show by id or audience, update, delete', async () => {
    const { client_id: apiClientId, client_secret: apiSecret, ...avatars } = await cli.ok(
      'api', 'create', '--tenant', 'default', '--audience', 'https://api.example.com/', '--name', 'Avatars',
      '--scope', 'read:avatars=Read your avatars', '--scope', 'write:avatars=Change your avatar = picture', '--scopes', 'read:profile admin:all', '--access-token-ttl', '300',
    );
    // Scopes come back in name order, as show and list give them, whatever order they were given in.
    expect(avatars).toEqual({
      id: ID, tenant: 'default', audience: 'https://api.example.com/', name: 'Avatars', access_token_ttl: 300,
      scopes: [
        { name: 'admin:all', description: 'admin:all' },
        { name: 'read:avatars', description: 'Read your avatars' },
        { name: 'read:profile', description: 'read:profile' },
        { name: 'write:avatars', description: 'Change your avatar = picture' },
      ],
      created_at: recent(), updated_at: avatars.created_at,
    });
    // Resource-server credentials for introspection, shown once: the API's id and a 256-bit secret.
    expect({ apiClientId, apiSecret }).toEqual({ apiClientId: avatars.id, apiSecret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });

    const [duplicate, takenScope, relative, fragment, noAudience] = await Promise.all([
      cli.fails('api', 'create', '--tenant', 'default', '--audience', 'https://api.example.com/', '--scope', 'fresh:scope'),
      cli.fails('api', 'create', '--tenant', 'default', '--audience', 'https://other.example.com/', '--scope', 'other:read', '--scope', 'read:avatars=Mine now'),
      cli.fails('api', 'create', '--tenant', 'default', '--audience', 'api.example.com/v2'),
      cli.fails('api', 'create', '--tenant', 'default', '--audience', 'https://api.example.com/v2#section'),
      cli.fails('api', 'create', '--tenant', 'default', '--scope', 'orphan:read'),
    ]);
    expect(duplicate).toEqual(inputError('api create', 'tenant default already has an API with audience https://api.example.com/'));
    expect(takenScope).toEqual(inputError('api create', 'scope read:avatars is already defined by API https://api.example.com/ in tenant default'));
    expect(noAudience).toEqual(usageError('api create', /--audience is required/));
    expect(relative).toEqual(inputError('api create', /audience "api\.example\.com\/v2" must be an absolute URI without a fragment.*/));
    expect(fragment).toEqual(inputError('api create', /audience "https:\/\/api\.example\.com\/v2#section" must be an absolute URI without a fragment.*/));

    // Nothing of the refused APIs was stored, not even other:read of the one whose second scope clashed.
    const [list, byId, byAudience] = await Promise.all([
      cli.ok('api', 'list', '--tenant', 'default'),
      cli.ok('api', 'show', '--tenant', 'default', '--', avatars.id),
      cli.ok('api', 'show', '--tenant', 'default', 'https://api.example.com/'),
    ]);
    expect(list).toEqual({ apis: [avatars] });
    expect(byId).toEqual(avatars);
    expect(byAudience).toEqual(avatars);

    const updated = await cli.ok('api', 'update', '--tenant', 'default', 'https://api.example.com/', '--name', 'Avatars v2', '--scopes', 'read:avatars', '--access-token-ttl', '900');
    expect(updated).toEqual({
      ...avatars, name: 'Avatars v2', access_token_ttl: 900, scopes: [{ name: 'read:avatars', description: 'read:avatars' }],
      updated_at: expect.toSatisfy((t: number) => t >= avatars.created_at),
    });
    // write:avatars was released by the update, so another API may now define it.
    const { client_id: mediaClientId, client_secret: _mediaSecret, ...media } = await cli.ok('api', 'create', '--tenant', 'default', '--audience', 'urn:example:media', '--scope', 'write:avatars=Upload avatars');
    expect(mediaClientId).toBe(media.id);
    expect(media).toEqual({
      id: ID, tenant: 'default', audience: 'urn:example:media', name: 'urn:example:media', access_token_ttl: null,
      scopes: [{ name: 'write:avatars', description: 'Upload avatars' }], created_at: recent(), updated_at: media.created_at,
    });
    // An update may not take another API's audience or scopes; its own are no conflict.
    const [takeAudience, takeScope, keepOwn] = await Promise.all([
      cli.fails('api', 'update', '--tenant', 'default', 'urn:example:media', '--audience', 'https://api.example.com/'),
      cli.fails('api', 'update', '--tenant', 'default', 'urn:example:media', '--scopes', 'write:avatars read:avatars'),
      cli.ok('api', 'update', '--tenant', 'default', 'urn:example:media', '--audience', 'urn:example:media', '--scope', 'write:avatars=Upload avatars'),
    ]);
    expect(takeAudience).toEqual(inputError('api update', 'tenant default already has an API with audience https://api.example.com/'));
    expect(takeScope).toEqual(inputError('api update', 'scope read:avatars is already defined by API https://api.example.com/ in tenant default'));
    expect(keepOwn).toEqual({ ...media, updated_at: expect.toSatisfy((t: number) => t >= media.created_at) });

    // Deleting by audience answers which API went: its id as well as its audience.
    expect(await cli.ok('api', 'delete', '--tenant', 'default', 'https://api.example.com/')).toEqual({ deleted: { id: avatars.id, audience: 'https://api.example.com/' } });
    expect(await cli.ok('api', 'list', '--tenant', 'default')).toEqual({ apis: [keepOwn] });
  });

  it('manages users: the password only from stdin, show by id or username, update, delete; never a hash', async () => {
    // The README's smoke check, word for word.
    const smoke = await cliFor(database.url, 'Sm0ke-pass-123\n').ok(
      'user', 'create', '--tenant', 'default', '--username', 'smoke', '--password-stdin', '--email', 'smoke@example.test',
    );
    expect(smoke).toEqual({
      id: ID, tenant: 'default', username: 'smoke', email: 'smoke@example.test', email_verified: false, name: null, disabled: false,
      must_change_password: false, created_at: recent(), updated_at: smoke.created_at,
    });
    const alice = await cliFor(database.url, 'wonderland-42\r\n').ok(
      'user', 'create', '--tenant', 'default', '--username', 'Alice', '--password-stdin', '--email', 'alice@example.test', '--email-verified', '--name', 'Alice Liddell',
    );
    expect(alice).toMatchObject({ username: 'Alice', email_verified: true, name: 'Alice Liddell' });

    const [list, byName, byId] = await Promise.all([
      cli.ok('user', 'list', '--tenant', 'default'),
      cli.ok('user', 'show', '--tenant', 'default', 'ALICE'),
      cli.ok('user', 'show', '--tenant', 'default', '--', smoke.id),
    ]);
    expect(list).toEqual({ users: [alice, smoke] });
    expect(byName).toEqual(alice);
    expect(byId).toEqual(smoke);

    const updated = await cliFor(database.url, 'through-the-looking-glass\n').ok(
      'user', 'update', '--tenant', 'default', 'alice', '--username', 'alice.l', '--email', 'alice@new.example', '--password-stdin', '--disabled',
    );
    expect(updated).toEqual({ ...alice, username: 'alice.l', email: 'alice@new.example', email_verified: false, disabled: true, updated_at: expect.toSatisfy((t: number) => t >= alice.created_at) });
    expect(await cli.ok('user', 'update', '--tenant', 'default', 'alice.l', '--enabled', '--email-verified')).toMatchObject({ disabled: false, email_verified: true });
    // Issue 5's short form: --verified / --no-verified.
    expect(await cli.ok('user', 'update', '--tenant', 'default', 'alice.l', '--no-verified')).toMatchObject({ email_verified: false });
    expect(await cli.ok('user', 'update', '--tenant', 'default', 'alice.l', '--verified')).toMatchObject({ email_verified: true });

    // What was stored is an argon2id hash of the line given, without its line ending.
    const storage = await openStorage(database.url);
    try {
      expect(await verifyPassword((await storage.users.get('default', smoke.id))!.passwordHash, 'Sm0ke-pass-123')).toBe(true);
      expect(await verifyPassword((await storage.users.get('default', alice.id))!.passwordHash, 'through-the-looking-glass')).toBe(true);
    } finally {
      await storage.close();
    }

    expect(await cli.ok('user', 'delete', '--tenant', 'default', 'SMOKE')).toEqual({ deleted: { id: smoke.id, username: 'smoke' } });
    expect(await cli.fails('user', 'show', '--tenant', 'default', 'smoke')).toEqual(inputError('user show', 'tenant default has no user smoke'));
    const human = await cli.raw('user', 'show', '--tenant', 'default', 'alice.l');
    expect(human).toEqual({ code: 0, stderr: '', stdout: expect.stringMatching(/^id: \S+\ntenant: default\nusername: alice\.l\nemail: alice@new\.example\nemail_verified: true\nname: Alice Liddell\ndisabled: false\n/) });
    expect(human.stdout + list.users.map((u: object) => JSON.stringify(u)).join('')).not.toMatch(/argon2|hash/);
  });

  it('refuses bad users and passwords with a clear message, and stores none of them', async () => {
    const withStdin = (stdin: string, ...args: string[]) => cliFor(database.url, stdin).fails(...args);
    const create = ['user', 'create', '--tenant', 'default'];
    const results = await Promise.all([
      withStdin('short\n', ...create, '--username', 'carol', '--password-stdin'),
      withStdin('carol-lewis\n', ...create, '--username', 'Carol-Lewis', '--password-stdin'),
      withStdin('\n', ...create, '--username', 'carol', '--password-stdin'),
      withStdin('two\nlines\n', ...create, '--username', 'carol', '--password-stdin'),
      withStdin('long-enough-1\n', ...create, '--username', 'ALICE.L', '--password-stdin'),
      withStdin('long-enough-1\n', ...create, '--username', 'carol', '--password-stdin', '--email', 'carol@'),
      withStdin('long-enough-1\n', ...create, '--username', 'two words', '--password-stdin'),
      cli.fails(...create, '--username', 'carol', '--password', 'on-the-command-line'),
      cli.fails(...create, '--username', 'carol'),
      cli.fails('user', 'update', '--tenant', 'default', 'alice.l', '--disabled', '--enabled'),
      withStdin('long-enough-1\n', ...create, '--username', 'carol', '--password-stdin', '--email', 'ALICE@new.example'),
      withStdin('password123\n', ...create, '--username', 'carol', '--password-stdin'),
    ]);
    expect(results).toEqual([
      inputError('user create', 'password must be at least 8 characters long'),
      inputError('user create', 'password must not be the same as the username'),
      inputError('user create', '--password-stdin: standard input held no password'),
      inputError('user create', '--password-stdin: the password must be a single line'),
      inputError('user create', 'tenant default already has a user named ALICE.L (usernames are case-insensitive)'),
      inputError('user create', 'email "carol@" is not a valid email address'),
      inputError('user create', 'username must not contain spaces or control characters'),
      usageError('user create', /Unknown option '--password'.*/),
      usageError('user create', /--password-stdin is required \(the password is read from standard input, never from the command line\)/),
      usageError('user update', /give --disabled or --enabled, not both/),
      // An email names one user per tenant, case-insensitively.
      inputError('user create', 'tenant default already has a user with the email ALICE@new.example (emails are case-insensitive)'),
      inputError('user create', 'this password is too common; choose one that is harder to guess'),
    ]);
    expect((await cli.ok('user', 'list', '--tenant', 'default')).users.map((u: any) => u.username)).toEqual(['alice.l']);
  });

  it('lists, rotates and revokes signing keys', async () => {
    const initial = (await cli.ok('keys', 'list', '--tenant', 'default')).keys;
    expect(initial).toHaveLength(2);
    expect(initial).toEqual(expect.arrayContaining([key('ES256', 'access', 'active'), key('RS256', 'id', 'active')]));
    const accessKid = initial.find((k: any) => k.purpose === 'access').kid;
    const idKid = initial.find((k: any) => k.purpose === 'id').kid;

    // Revoking the only active access key puts a replacement in its place at once.
    const revoked = await cli.ok('keys', 'revoke', '--tenant', 'default', '--', accessKid);
    expect(revoked).toEqual({ revoked: accessKid, replacement: key('ES256', 'access', 'active') });
    expect(revoked.replacement.kid).not.toBe(accessKid);

    // `--now` is for emergencies: the new key signs at once. (It is rotated in a later second
    // than the replacement here; the same-second case has its own test below.)
    await nextSecond();
    const now = await cli.ok('keys', 'rotate', '--tenant', 'default', '--now', '--purpose', 'access');
    expect(now).toEqual({ added: [key('ES256', 'access', 'active')] });
    expect(now.added[0].activates_at).toBe(now.added[0].created_at);

    // Without --now, a rotated key is published at once and signs after the JWKS cache lifetime.
    const rotated = (await cli.ok('keys', 'rotate', '--tenant', 'default')).added;
    expect(rotated).toHaveLength(2);
    expect(rotated).toEqual(expect.arrayContaining([key('ES256', 'access', 'pending'), key('RS256', 'id', 'pending')]));
    for (const k of rotated) expect(k.activates_at).toBe(k.created_at + 300);

    const [listed, again] = await Promise.all([cli.ok('keys', 'list', '--tenant', 'default'), cli.fails('keys', 'revoke', '--tenant', 'default', '--', accessKid)]);
    const statuses = Object.fromEntries(listed.keys.map((k: any) => [k.kid, k.status]));
    expect(statuses).toEqual({
      [idKid]: 'active',
      [revoked.replacement.kid]: 'retiring',
      [now.added[0].kid]: 'active',
      [rotated[0].kid]: 'pending',
      [rotated[1].kid]: 'pending',
    });
    expect(again).toEqual(inputError('keys revoke', `tenant default has no key ${accessKid}`));
  });

  it('makes a key rotated in with --now the signing key even in the second the current one activated', async () => {
    // Keys activate on whole seconds; a tenant created and rotated within one second must still
    // sign with the newest key, whatever order the database returns keys of equal times in.
    await nextSecond();
    await cli.ok('tenant', 'create', 'keys-tie');
    const first = await cli.ok('keys', 'rotate', '--tenant', 'keys-tie', '--now', '--purpose', 'access');
    const second = await cli.ok('keys', 'rotate', '--tenant', 'keys-tie', '--now', '--purpose', 'access');
    expect({ first, second }, 'each --now key must sign at once').toEqual({
      first: { added: [key('ES256', 'access', 'active')] },
      second: { added: [key('ES256', 'access', 'active')] },
    });
  });

  it('refuses a JWKS holding private key members or a key without kty, on create and on update', async () => {
    await cli.ok('tenant', 'create', 'jwks');
    const file = (name: string, keys: object[]) => {
      const path = join(dir, name);
      writeFileSync(path, JSON.stringify({ keys }));
      return path;
    };
    // An EC private key as a careless operator might export it, behind a good public key.
    const ecPrivate = file('ec-private.json', [JWK, { ...JWK, kid: 'app-key-2', d: 'jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI' }]);
    const rsaPrivate = file('rsa-private.json', [{ kty: 'RSA', n: 'sXch', e: 'AQAB', p: 'x', q: 'y', dp: 'z', dq: 'w', qi: 'v' }]);
    const symmetric = file('oct.json', [{ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' }]);
    const noKty = file('no-kty.json', [{ crv: 'P-256', x: JWK.x, y: JWK.y }]);
    const good = await cli.ok('client', 'create', '--tenant', 'jwks', '--name', 'Signer', '--jwks', file('public.json', [JWK]));

    const results = await Promise.all([
      cli.fails('client', 'create', '--tenant', 'jwks', '--name', 'x', '--jwks', ecPrivate),
      cli.fails('client', 'create', '--tenant', 'jwks', '--name', 'x', '--jwks', rsaPrivate),
      cli.fails('client', 'create', '--tenant', 'jwks', '--name', 'x', '--jwks', symmetric),
      cli.fails('client', 'create', '--tenant', 'jwks', '--name', 'x', '--jwks', noKty),
      cli.fails('client', 'update', '--tenant', 'jwks', '--jwks', ecPrivate, '--', good.client_id),
    ]);
    expect(results).toEqual([
      inputError('client create', 'jwks must contain public keys only; key 1 has private member d'),
      inputError('client create', 'jwks must contain public keys only; key 0 has private members p, q, dp, dq, qi'),
      inputError('client create', 'jwks must contain public keys only; key 0 has private member k'),
      inputError('client create', 'jwks key 0 has no kty'),
      inputError('client update', 'jwks must contain public keys only; key 1 has private member d'),
    ]);
    const { client_secret: _secret, ...view } = good;
    expect(await cli.ok('client', 'list', '--tenant', 'jwks')).toEqual({ clients: [view] });
  });

  it('keeps jwks_uri and jwks exclusive (RFC 7591 §2): setting one on update clears the other; both at once is refused', async () => {
    await cli.ok('tenant', 'create', 'jwks-uri');
    const jwksFile = join(dir, 'exclusive.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [JWK] }));
    const created = await cli.ok('client', 'create', '--tenant', 'jwks-uri', '--name', 'Keys', '--jwks-uri', 'https://app.example.com/jwks.json');
    expect(created).toMatchObject({ jwks_uri: 'https://app.example.com/jwks.json' });
    expect(created).not.toHaveProperty('jwks');

    const toJwks = await cli.ok('client', 'update', '--tenant', 'jwks-uri', '--jwks', jwksFile, '--', created.client_id);
    expect(toJwks).toMatchObject({ jwks: { keys: [JWK] } });
    expect(toJwks).not.toHaveProperty('jwks_uri');

    const toUri = await cli.ok('client', 'update', '--tenant', 'jwks-uri', '--jwks-uri', 'https://app.example.com/v2/jwks.json', '--', created.client_id);
    expect(toUri).toMatchObject({ jwks_uri: 'https://app.example.com/v2/jwks.json' });
    expect(toUri).not.toHaveProperty('jwks');

    const both = await cli.fails('client', 'update', '--tenant', 'jwks-uri', '--jwks', jwksFile, '--jwks-uri', 'https://app.example.com/jwks.json', '--', created.client_id);
    expect(both).toEqual(inputError('client update', 'give --jwks or --jwks-uri, not both'));
    expect(await cli.ok('client', 'show', '--tenant', 'jwks-uri', '--', created.client_id)).toEqual(toUri);
  });

  it('switches --web-page and --session-refresh-tokens off again with --no-…, and refuses both forms at once', async () => {
    await cli.ok('tenant', 'create', 'toggles');
    const c = await cli.ok('client', 'create', '--tenant', 'toggles', '--name', 'Page', '--web-page', '--session-refresh-tokens');
    expect(c).toMatchObject({ web_page: true, session_refresh_tokens: true });

    const off = await cli.ok('client', 'update', '--tenant', 'toggles', '--no-web-page', '--no-session-refresh-tokens', '--', c.client_id);
    expect(off).toMatchObject({ web_page: false, session_refresh_tokens: false });
    // Neither flag given: both stay as they are.
    expect(await cli.ok('client', 'update', '--tenant', 'toggles', '--name', 'Page 2', '--', c.client_id)).toMatchObject({ web_page: false, session_refresh_tokens: false });
    expect(await cli.ok('client', 'update', '--tenant', 'toggles', '--web-page', '--', c.client_id)).toMatchObject({ web_page: true, session_refresh_tokens: false });

    const [bothPage, bothRefresh] = await Promise.all([
      cli.fails('client', 'update', '--tenant', 'toggles', '--web-page', '--no-web-page', '--', c.client_id),
      cli.fails('client', 'create', '--tenant', 'toggles', '--name', 'x', '--session-refresh-tokens', '--no-session-refresh-tokens'),
    ]);
    expect(bothPage).toEqual(usageError('client update', /give --web-page or --no-web-page, not both/));
    expect(bothRefresh).toEqual(usageError('client create', /give --session-refresh-tokens or --no-session-refresh-tokens, not both/));
    expect(bothPage.stderr).toContain('[--web-page | --no-web-page] [--session-refresh-tokens | --no-session-refresh-tokens]');
    expect((await cli.ok('client', 'list', '--tenant', 'toggles')).clients).toEqual([expect.objectContaining({ client_id: c.client_id, client_name: 'Page 2' })]);
  });

  it('sets a refresh grace window of 0–60 seconds with --refresh-grace-seconds on create and update, off by default', async () => {
    await cli.ok('tenant', 'create', 'grace');
    const plain = await cli.ok('client', 'create', '--tenant', 'grace', '--name', 'Plain');
    expect(plain).toMatchObject({ refresh_token_grace_seconds: 0 });
    const c = await cli.ok('client', 'create', '--tenant', 'grace', '--name', 'Tabs', '--refresh-grace-seconds', '10');
    expect(c).toMatchObject({ refresh_token_grace_seconds: 10 });
    expect(await cli.ok('client', 'update', '--tenant', 'grace', '--refresh-grace-seconds', '60', '--', c.client_id)).toMatchObject({ refresh_token_grace_seconds: 60 });
    expect(await cli.ok('client', 'update', '--tenant', 'grace', '--name', 'Tabs 2', '--', c.client_id)).toMatchObject({ refresh_token_grace_seconds: 60 });
    expect(await cli.ok('client', 'update', '--tenant', 'grace', '--refresh-grace-seconds', '0', '--', c.client_id)).toMatchObject({ refresh_token_grace_seconds: 0 });
    const [tooLong, negative, fraction] = await Promise.all([
      cli.fails('client', 'update', '--tenant', 'grace', '--refresh-grace-seconds', '61', '--', c.client_id),
      cli.fails('client', 'create', '--tenant', 'grace', '--name', 'x', '--refresh-grace-seconds', '-1'),
      cli.fails('client', 'create', '--tenant', 'grace', '--name', 'x', '--refresh-grace-seconds', '1.5'),
    ]);
    expect(tooLong).toEqual(inputError('client update', 'refresh grace seconds must be a whole number from 0 to 60'));
    expect(negative.code).not.toBe(0);
    expect(fraction).toEqual(inputError('client create', '--refresh-grace-seconds must be a whole number, not "1.5"'));
    expect((await cli.ok('client', 'list', '--tenant', 'grace')).clients.map((x: { client_name: string }) => x.client_name).sort()).toEqual(['Plain', 'Tabs 2']);
  });

  it('takes an id that starts with "-" (made before ids began with a letter or digit) only after --, and says so', async () => {
    const legacyId = '-HVhUB0qLlXwTqRz1fJYgA';
    const storage = await openStorage(database.url);
    try {
      await storage.clients.create({
        tenantId: 'default', clientId: legacyId, name: 'Legacy', secretDigest: null, tokenEndpointAuthMethod: 'none',
        grantTypes: ['authorization_code'], redirectUris: [], postLogoutRedirectUris: [], corsOrigins: [], scopes: [],
        accessTokenFormat: 'jwt', accessTokenTtl: null, consent: 'required', webPage: false, sessionRefreshTokens: false, refreshGraceSeconds: 0, idTokenAlg: null, notBefore: 0,
        jwks: null, jwksUri: null, backchannelLogoutUri: null, backchannelLogoutSessionRequired: true,
        requirePar: false, dpopBoundAccessTokens: false, tokenExchangeSubjectClients: [], tokenExchangeAudiences: [], assertionAudienceTokenEndpoint: false, createdAt: nowSeconds(), updatedAt: nowSeconds(),
      });
    } finally {
      await storage.close();
    }
    const [asOption, afterDashes] = await Promise.all([
      cli.fails('client', 'show', '--tenant', 'default', legacyId),
      cli.ok('client', 'show', '--tenant', 'default', '--', legacyId),
    ]);
    expect(asOption).toEqual(usageError('client show', new RegExp(`Unknown option '-H'\\. If ${legacyId} is the CLIENT_ID, put it after --, as in: -- ${legacyId}`)));
    expect(afterDashes).toMatchObject({ client_id: legacyId, client_name: 'Legacy' });
    expect(await cli.ok('client', 'delete', '--tenant', 'default', '--', legacyId)).toEqual({ deleted: { client_id: legacyId } });
  });

  it('works beside a running server on the same database: its changes hold there within about 2 s', async () => {
    const server = await startServer(database.url);
    try {
      const token = (clientId: string, secret: string, scope: string) =>
        fetch(`${server.base}/realms/default/protocol/openid-connect/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
          body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
        }).then(async (r) => ({ status: r.status, body: await r.json() }));

      const svc = await cli.ok('client', 'create', '--tenant', 'default', '--name', 'svc', '--grant-types', 'client_credentials', '--scopes', 'read:avatars');
      const created = await within(5000, async () => {
        const r = await token(svc.client_id, svc.client_secret, 'read:avatars');
        return r.status === 200 ? r : undefined;
      });
      expect(created.value).toEqual({ status: 200, body: { access_token: expect.stringMatching(/^ey/), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'read:avatars' } });

      // The server now holds the client in its cache; an update must still reach it.
      await cli.ok('client', 'update', '--tenant', 'default', '--scopes', 'write:avatars', '--', svc.client_id);
      const updated = await within(5000, async () => {
        const r = await token(svc.client_id, svc.client_secret, 'write:avatars');
        return r.status === 200 ? r : undefined;
      });
      expect(updated.value, `update seen after ${updated.elapsed} ms`).toEqual({
        status: 200, body: { access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'write:avatars' },
      });
      expect(await token(svc.client_id, svc.client_secret, 'read:avatars')).toEqual({
        status: 400, body: { error: 'invalid_scope', error_description: 'the client may not request scope read:avatars' },
      });

      await cli.ok('client', 'delete', '--tenant', 'default', '--', svc.client_id);
      const deleted = await within(5000, async () => {
        const r = await token(svc.client_id, svc.client_secret, 'write:avatars');
        return r.status === 401 ? r : undefined;
      });
      expect(deleted.value, `deletion seen after ${deleted.elapsed} ms`).toEqual({
        status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed' },
      });
    } finally {
      await server.stop();
    }
  });
});
