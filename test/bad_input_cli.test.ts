/**
 * Issue 11, bad input: every CLI command given invalid input exits non-zero with one clear line
 * on stderr (docs/configuration.md "The CLI": exit 2 for a usage error, 1 for invalid input) and
 * leaves the store unchanged. The commands come from the CLI's own table (src/cli/main.ts), so a
 * command added without cases here fails the coverage test. Cases run in process (main()), a
 * handful through the real binary (dist/, as users run it).
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Command } from '../src/cli/command.js';
import { COMMANDS, main } from '../src/cli/main.js';
import { createApiWithSecret } from '../src/manage/apis.js';
import { createClient } from '../src/manage/clients.js';
import { createTenant, ensureDefaultTenant } from '../src/manage/tenants.js';
import { createUser } from '../src/manage/users.js';
import { openStorage } from '../src/storage/index.js';
import { ensureAdminTenant } from '../src/admin/bootstrap.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './helpers.js';
import { runTessera } from './support/server.js';
import { storeDigester } from './support/store_digest.js';

const PUBLIC_URL = 'http://tessera.test';
const NUL = 'a\u0000b';

/** Whether the usage names anything outside brackets besides the command's words: a required option or argument. */
function requiresInput(c: Command): boolean {
  let usage = c.usage;
  while (/\[[^[\]]*\]/.test(usage)) usage = usage.replace(/\[[^[\]]*\]/g, '');
  return usage.trim().split(/\s+/).length > c.name.split(' ').length;
}

/** Options that take a value (strings): each needs a case giving it an invalid one. */
const valued = (c: Command) => Object.entries(c.options).filter(([, o]) => o.type === 'string').map(([name]) => `--${name}`);

/** What a usage error prints after its problem (src/cli/main.ts). */
const usageLine = (c: Command) => `usage: tessera ${c.usage}`;

interface CliCase {
  why: string;
  /** After the command's words and --json. */
  args: string[];
  /** 2: a usage error; 1: invalid input or a refusal (docs/configuration.md). */
  code: 1 | 2;
  /** The exact stderr, when pinned; a function gets the usage line. Else: one clear line is checked. */
  stderr?: string | ((usage: string) => string);
  /** Standard input (for --password-stdin); none is read otherwise. */
  stdin?: string;
}

const LONG = 'x'.repeat(5000);
const missing = (what: string, args: string[] = []): CliCase => ({ why: `missing ${what}`, args, code: 2 });
const bad = (why: string, args: string[], stderr?: string): CliCase => ({ why, args, code: 1, ...(stderr !== undefined && { stderr }) });

/** Per command (by name): bad input, with the fixtures' tenant, client, user and API audience. */
function cliCases(f: { tenant: string; clientId: string; user: string; audience: string }): Record<string, CliCase[]> {
  const T = ['--tenant', f.tenant];
  const C = [...T, '--', f.clientId];
  const clientValues = (command: string, base: string[]): CliCase[] => [
    bad('http redirect URI off loopback', [...base, '--redirect-uri', 'http://evil.example/cb'], `tessera ${command}: redirect URI http://evil.example/cb must use https (http is allowed only for loopback hosts, RFC 8252 §7.3)\n`),
    bad('unknown grant type', [...base, '--grant-types', 'authorization_code,magic']),
    bad('invalid scope name', [...base, '--scopes', 'read "quoted"']),
    bad('unknown token format', [...base, '--access-token-format', 'xml']),
    bad('non-numeric ttl', [...base, '--access-token-ttl', 'ten']),
    bad('ttl above the maximum', [...base, '--access-token-ttl', '999999999'], `tessera ${command}: access token lifetime must be a whole number of seconds from 1 to 86400\n`),
    bad('javascript post-logout URI', [...base, '--post-logout-redirect-uri', 'javascript:alert(1)']),
    bad('CORS origin with a path', [...base, '--cors-origin', 'https://app.example/path']),
    bad('unknown auth method', [...base, '--token-endpoint-auth-method', 'magic']),
    bad('jwks URI not a URL', [...base, '--jwks-uri', 'not a url']),
    bad('jwks file missing', [...base, '--jwks', '/nonexistent/jwks.json']),
    bad('unknown consent', [...base, '--consent', 'maybe'], `tessera ${command}: consent must be required or skip\n`),
    bad('unknown ID token alg', [...base, '--id-token-alg', 'HS256']),
    bad('grace over 60 s', [...base, '--refresh-grace-seconds', '61']),
    bad('back-channel logout URI not a URL', [...base, '--backchannel-logout-uri', 'ftp:nothing']),
    // Subject clients are any client ids (or *), known yet or not: only a NUL makes one invalid.
    bad('NUL in a subject client', [...base, '--token-exchange-subject-client', NUL]),
    bad('audience not a URI', [...base, '--token-exchange-audience', 'not a uri']),
    bad('rate limit not N/WINDOW', [...base, '--rate-limit', 'fast']),
    bad('over-long name', [...base, '--name', LONG]),
    { why: 'both --web-page and --no-web-page', args: [...base, '--web-page', '--no-web-page'], code: 2 },
  ];
  return {
    start: [
      bad('non-numeric port', ['--port', 'eighty']),
      bad('public URL not a URL', ['--public-url', 'not a url']),
      bad('unknown log level', ['--log-level', 'loud']),
      bad('SMTP URL of another scheme', ['--smtp-url', 'http://mail.example']),
      bad('sender not an address', ['--mail-from', 'nobody']),
      bad('retention of 0 days', ['--audit-retention-days', '0']),
      bad('window not a number', ['--client-auth-failure-window', 'soon']),
      bad('a certificate without its key', ['--tls-cert', '/nonexistent/cert.pem'], 'tessera start: invalid configuration: TLS_CERT and TLS_KEY go together: set both files or neither\n'),
      bad('unsupported database', ['--database-url', 'mysql://db/tessera'], 'tessera start: invalid configuration: DATABASE_URL: must be sqlite:PATH or postgres://…\n'),
    ],
    migrate: [],
    'tenant create': [
      missing('tenant ID'),
      bad('invalid tenant id', ['--', 'bad id!'], 'tessera tenant create: tenant id must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit\n'),
      bad('over-long tenant id', ['--', 'a'.repeat(65)]),
      bad('audience not a URI', ['--default-audience', 'not a uri', '--', 'newco']),
      bad('over-long display name', ['--display-name', LONG, '--', 'newco'], 'tessera tenant create: display name must be at most 200 characters\n'),
      bad('taken id', ['--', f.tenant]),
    ],
    'tenant list': [],
    'tenant show': [missing('tenant ID'), bad('unknown tenant', ['--', 'nowhere'], 'tessera tenant show: tenant nowhere does not exist\n')],
    'tenant update': [
      missing('tenant ID'),
      bad('unknown tenant', ['--display-name', 'X', '--', 'nowhere']),
      bad('empty display name', ['--display-name', '', '--', f.tenant]),
      bad('over-long display name', ['--display-name', LONG, '--', f.tenant]),
      bad('audience not a URI', ['--default-audience', 'not a uri', '--', f.tenant]),
      bad('non-numeric idle', ['--session-idle', 'soon', '--', f.tenant], 'tessera tenant update: --session-idle must be a whole number, not "soon"\n'),
      bad('max above the limit', ['--session-max', '999999999999', '--', f.tenant]),
      bad('days above 365', ['--personal-token-max-days', '366', '--', f.tenant]),
      bad('registration not on/off', ['--registration', 'maybe', '--', f.tenant], 'tessera tenant update: --registration must be on or off, not "maybe"\n'),
      bad('verified email not on/off', ['--require-verified-email', 'sometimes', '--', f.tenant]),
      bad('email-from not an address', ['--email-from', 'nobody', '--', f.tenant]),
      bad('hostname with a scheme', ['--hostname', 'https://auth.acme.example', '--', f.tenant]),
      bad('dcr not on/off', ['--dcr', 'perhaps', '--', f.tenant]),
      bad('dcr-open not on/off', ['--dcr-open', 'wide', '--', f.tenant]),
      bad('unknown dcr grant type', ['--dcr-allowed-grant-types', 'magic', '--', f.tenant]),
      bad('unknown dcr-allow value', ['--dcr-allow', 'everything', '--', f.tenant]),
      bad('invalid dcr scope', ['--dcr-scopes', 'a"b', '--', f.tenant]),
    ],
    'tenant delete': [missing('tenant ID'), bad('unknown tenant', ['--', 'nowhere']), bad('the default tenant', ['--', 'default'], 'tessera tenant delete: the default tenant cannot be deleted\n')],
    'tenant mfa': [missing('tenant ID'), bad('unknown policy', ['--mfa', 'sometimes', '--', f.tenant], 'tessera tenant mfa: mfa must be optional or required\n'), bad('unknown tenant', ['--', 'nowhere'])],
    'client create': [
      missing('--tenant', ['--name', 'X']),
      missing('--name', T),
      bad('unknown tenant', ['--tenant', 'nowhere', '--name', 'X'], 'tessera client create: tenant nowhere does not exist\n'),
      bad('public client with client_credentials', [...T, '--name', 'X', '--public', '--grant-types', 'client_credentials']),
      ...clientValues('client create', [...T, '--name', 'X']),
    ],
    'client list': [{ ...missing('--tenant'), stderr: (usage) => `tessera client list: --tenant is required\n${usage}\n` }, bad('unknown tenant', ['--tenant', 'nowhere'])],
    'client show': [missing('--tenant', ['--', f.clientId]), missing('CLIENT_ID', T), bad('unknown client', [...T, '--', 'no-such-client'], 'tessera client show: tenant acme has no client no-such-client\n')],
    'client update': [
      missing('CLIENT_ID', T),
      bad('unknown client', [...T, '--name', 'X', '--', 'no-such-client']),
      ...clientValues('client update', T).map((c) => ({ ...c, args: [...c.args, '--', f.clientId] })),
    ],
    'client rotate-secret': [missing('CLIENT_ID', T), bad('unknown client', [...T, '--', 'no-such-client'])],
    'client delete': [missing('CLIENT_ID', T), bad('unknown client', [...T, '--', 'no-such-client'])],
    'client mfa': [missing('CLIENT_ID', T), bad('not on/off', ['--require-mfa', 'maybe', ...C]), bad('unknown client', [...T, '--', 'no-such-client'])],
    'api create': [
      missing('--tenant', ['--audience', 'https://x.example/']),
      missing('--audience', T),
      bad('unknown tenant', ['--tenant', 'nowhere', '--audience', 'https://x.example/']),
      bad('audience not a URI', [...T, '--audience', 'not a uri']),
      bad('taken audience', [...T, '--audience', f.audience], 'tessera api create: tenant acme already has an API with audience https://api.acme.example/\n'),
      bad('reserved scope', [...T, '--audience', 'https://x.example/', '--scope', 'openid'], 'tessera api create: scope openid is reserved for OpenID Connect\n'),
      bad('invalid scope', [...T, '--audience', 'https://x.example/', '--scopes', 'a"b']),
      bad('non-numeric ttl', [...T, '--audience', 'https://x.example/', '--access-token-ttl', 'long']),
      bad('over-long name', [...T, '--audience', 'https://x.example/', '--name', LONG]),
    ],
    'api list': [missing('--tenant'), bad('unknown tenant', ['--tenant', 'nowhere'])],
    'api show': [missing('API id', T), bad('unknown API', [...T, '--', 'https://none.example/'])],
    'api update': [
      missing('API id', T),
      bad('unknown API', [...T, '--name', 'X', '--', 'https://none.example/']),
      bad('audience not a URI', [...T, '--audience', 'nope', '--', f.audience]),
      bad('reserved scope', [...T, '--scope', 'openid', '--', f.audience]),
      bad('invalid scopes', [...T, '--scopes', 'a"b', '--', f.audience]),
      bad('ttl zero', [...T, '--access-token-ttl', '0', '--', f.audience]),
      bad('over-long name', [...T, '--name', LONG, '--', f.audience]),
    ],
    'api delete': [missing('API id', T), bad('unknown API', [...T, '--', 'https://none.example/'])],
    'user create': [
      missing('--tenant', ['--username', 'bob', '--password-stdin']),
      missing('--username', [...T, '--password-stdin']),
      missing('--password-stdin', [...T, '--username', 'bob']),
      { why: 'both --operator-tenants and --global-operator', args: [...T, '--username', 'bob', '--password-stdin', '--operator-tenants', 'acme', '--global-operator'], code: 2 },
      bad('operator scope outside the admin tenant', [...T, '--username', 'bob', '--password-stdin', '--operator-tenants', 'acme']),
      ...[
        bad('taken username', [...T, '--username', 'ALICE', '--password-stdin'], 'tessera user create: tenant acme already has a user named ALICE (usernames are case-insensitive)\n'),
        bad('over-long username', [...T, '--username', LONG, '--password-stdin'], 'tessera user create: username must be 1–100 characters\n'),
        bad('invalid email', [...T, '--username', 'bob', '--email', 'not-an-email', '--password-stdin']),
        bad('over-long name', [...T, '--username', 'bob', '--name', LONG, '--password-stdin']),
      ].map((c) => ({ ...c, stdin: 'bob-password-1\n' })),
      { ...bad('no password on standard input', [...T, '--username', 'bob', '--password-stdin']), stdin: '' },
      { ...bad('a password of two lines', [...T, '--username', 'bob', '--password-stdin']), stdin: 'bob-password-1\nand more\n' },
    ],
    'user list': [missing('--tenant'), bad('unknown tenant', ['--tenant', 'nowhere'])],
    'user show': [missing('user', T), bad('unknown user', [...T, '--', 'nobody'], 'tessera user show: tenant acme has no user nobody\n')],
    'user update': [
      missing('user', T),
      bad('unknown user', [...T, '--name', 'X', '--', 'nobody']),
      bad('over-long username', [...T, '--username', LONG, '--', f.user]),
      bad('username with a space', [...T, '--username', 'a b', '--', f.user], 'tessera user update: username must not contain spaces or control characters\n'),
      bad('invalid email', [...T, '--email', 'not-an-email', '--', f.user]),
      bad('over-long name', [...T, '--name', LONG, '--', f.user]),
      bad('unknown operator tenant', ['--tenant', 'admin', '--operator-tenants', 'nowhere', '--', 'nobody']),
      { why: 'both --disabled and --enabled', args: [...T, '--disabled', '--enabled', '--', f.user], code: 2 },
    ],
    'user delete': [missing('user', T), bad('unknown user', [...T, '--', 'nobody'])],
    'user sessions': [missing('user', T), bad('unknown user', [...T, '--', 'nobody'])],
    'user revoke-session': [missing('session id', [...T, '--', f.user]), bad('unknown session', [...T, '--', f.user, 'no-such-session'])],
    'user grants': [missing('user', T), bad('unknown user', [...T, '--', 'nobody'])],
    'user revoke-grant': [missing('grant id', [...T, '--', f.user]), bad('unknown grant', [...T, '--', f.user, 'no-such-grant'])],
    'user mfa': [missing('USER', T), bad('unknown user', [...T, '--', 'nobody'])],
    'user reset-mfa': [missing('USER', T), { why: 'two users', args: [...T, '--', f.user, 'bob'], code: 2, stderr: (usage) => `tessera user reset-mfa: Unexpected argument 'bob'.\n${usage}\n` }, bad('unknown user', [...T, '--', 'nobody'])],
    'keys list': [missing('--tenant'), bad('unknown tenant', ['--tenant', 'nowhere'])],
    'keys rotate': [
      missing('--tenant'),
      bad('unknown tenant', ['--tenant', 'nowhere']),
      bad('unknown purpose', [...T, '--purpose', 'signing'], 'tessera keys rotate: --purpose must be access, id or refresh\n'),
      bad('unknown algorithm', [...T, '--purpose', 'access', '--alg', 'HS512']),
      bad('--alg without --purpose', [...T, '--alg', 'ES256']),
    ],
    'keys revoke': [missing('KID', T), bad('unknown kid', [...T, '--', 'es256-nope'])],
    'keys rewrap': [bad('no master key', [], 'tessera keys rewrap: keys rewrap needs TESSERA_MASTER_KEY (and TESSERA_MASTER_KEY_PREVIOUS while rotating)\n')],
    'token issue': [
      missing('--tenant', ['--user', f.user, '--scopes', 'read']),
      missing('--user', [...T, '--scopes', 'read']),
      missing('--scopes', [...T, '--user', f.user]),
      bad('unknown user', [...T, '--user', 'nobody', '--scopes', 'read']),
      bad('unknown client', [...T, '--user', f.user, '--scopes', 'read', '--client', 'no-such-client']),
      bad('undefined scope', [...T, '--user', f.user, '--scopes', 'write'], 'tessera token issue: scope write is not defined by an API of tenant acme: a personal token carries API scopes only\n'),
      bad('non-numeric lifetime', [...T, '--user', f.user, '--scopes', 'read', '--expires-in', 'soon']),
      bad('lifetime too short', [...T, '--user', f.user, '--scopes', 'read', '--expires-in', '10']),
      bad('over-long name', [...T, '--user', f.user, '--scopes', 'read', '--name', LONG]),
    ],
    'revoke-before': [
      missing('--tenant'),
      bad('unknown tenant', ['--tenant', 'nowhere']),
      bad('time not a number', [...T, '--time', 'yesterday'], 'tessera revoke-before: --time must be now or whole seconds since the epoch, not "yesterday"\n'),
      bad('unknown client', [...T, '--client', 'no-such-client']),
    ],
    'audit list': [
      missing('--tenant'),
      bad('unknown tenant', ['--tenant', 'nowhere']),
      bad('unknown type', [...T, '--type', 'bogus']),
      bad('since not a time', [...T, '--since', 'yesterday'], 'tessera audit list: --since must be seconds since the epoch or an ISO 8601 time such as 2026-01-31T12:00:00Z, not "yesterday"\n'),
      bad('until not a time', [...T, '--until', '31/01/2026']),
      bad('limit zero', [...T, '--limit', '0'], 'tessera audit list: --limit must be from 1 to 1000\n'),
      bad('limit not a number', [...T, '--limit', 'many']),
      bad('forged cursor', [...T, '--cursor', 'garbage']),
      bad('over-long actor', [...T, '--actor', LONG], 'tessera audit list: --actor must be 1–200 characters\n'),
      bad('over-long user', [...T, '--user', LONG]),
      bad('over-long client', [...T, '--client', LONG]),
    ],
    'dcr token create': [
      missing('--tenant'),
      bad('unknown tenant', ['--tenant', 'nowhere']),
      bad('non-numeric lifetime', [...T, '--expires-in', 'week']),
      bad('zero uses', [...T, '--max-uses', '0'], 'tessera dcr token create: max-uses must be a whole number of at least 1\n'),
    ],
    'dcr token list': [missing('--tenant'), bad('unknown tenant', ['--tenant', 'nowhere'])],
    'dcr token revoke': [missing('TOKEN_ID', T), bad('unknown token', [...T, '--', 'no-such-token'])],
  };
}

describe.each(BACKENDS)('bad input to every CLI command on %s', (backend) => {
  let database: TestDatabase;
  let store: ReturnType<typeof storeDigester>;
  let cases: Record<string, CliCase[]>;
  const saved = { DATABASE_URL: process.env.DATABASE_URL, TESSERA_PUBLIC_URL: process.env.TESSERA_PUBLIC_URL, TESSERA_MASTER_KEY: process.env.TESSERA_MASTER_KEY };

  /** `tessera ARGS --json` in process: exit code, stdout and stderr as the binary would print them. */
  async function tessera(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
    const out: string[] = [];
    const err: string[] = [];
    if (stdin !== undefined) vi.spyOn(process, 'stdin', 'get').mockReturnValue(Readable.from([Buffer.from(stdin)]) as never);
    vi.spyOn(console, 'log').mockImplementation((s: unknown) => void out.push(`${String(s)}\n`));
    vi.spyOn(console, 'error').mockImplementation((s: unknown) => void err.push(`${String(s)}\n`));
    try {
      const code = await main(args);
      return { code, stdout: out.join(''), stderr: err.join('') };
    } finally {
      vi.restoreAllMocks();
    }
  }

  beforeAll(async () => {
    database = await createTestDatabase(backend);
    Object.assign(process.env, { DATABASE_URL: database.url, TESSERA_PUBLIC_URL: PUBLIC_URL });
    delete process.env.TESSERA_MASTER_KEY;
    const storage = await openStorage(database.url);
    try {
      const deps = { storage, clock: { now: () => Date.now() }, random: (n: number) => randomBytes(n) };
      await ensureDefaultTenant(deps);
      await ensureAdminTenant(deps, PUBLIC_URL, { correct: false });
      await createTenant(deps, { id: 'acme', displayName: 'Acme' });
      const { client } = await createClient(deps, 'acme', { name: 'App', redirectUris: ['https://app.acme.example/cb'], scopes: ['read'] }, 86400);
      await createApiWithSecret(deps, 'acme', { audience: 'https://api.acme.example/', scopes: ['read'] }, 86400);
      await createUser(deps, 'acme', { username: 'alice', password: 'alice-password-1', email: 'alice@acme.example' });
      cases = cliCases({ tenant: 'acme', clientId: client.clientId, user: 'alice', audience: 'https://api.acme.example/' });
    } finally {
      await storage.close();
    }
    store = storeDigester(database.url, backend);
  });
  afterAll(async () => {
    await store?.close();
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    await database?.drop();
  });

  it('has cases for every command of the table: a missing argument where one is required, and a bad value for every option that takes one', () => {
    expect(Object.keys(cases).sort()).toEqual(COMMANDS.map((c) => c.name).sort());
    for (const c of COMMANDS) {
      const mine = cases[c.name];
      if (requiresInput(c)) expect(mine.filter((x) => x.code === 2 && x.why.startsWith('missing')), `${c.name}: a missing-argument case`).not.toEqual([]);
      const given = new Set(mine.flatMap((x) => x.args.filter((a) => a.startsWith('--')).map((a) => a.split('=')[0])));
      expect(valued(c).filter((f) => !given.has(f)), `${c.name}: options without a bad-value case`).toEqual([]);
    }
  });

  it.each(COMMANDS.map((c) => [c.name, c] as const))('%s refuses bad input with one clear line and changes nothing', async (_name, command) => {
    const words = command.name.split(' ');
    const all: CliCase[] = [
      // Generated for every command: an option it does not have, and a NUL character (which no C string holds).
      {
        why: 'unknown option', args: ['--frobnicate'], code: 2,
        stderr: `tessera ${command.name}: Unknown option '--frobnicate'.${command.positional ? ` If --frobnicate is the ${command.positional}, put it after --, as in: -- --frobnicate` : ''}\n${usageLine(command)}\n`,
      },
      { why: 'NUL character', args: ['--', NUL], code: 1, stderr: `tessera ${command.name}: an argument must not contain a NUL character\n` },
      // And one argument more than it takes: refused before anything runs, not ignored.
      {
        why: 'an extra argument', args: ['--', ...Array<string>(command.arguments).fill('x'), 'extra-word'], code: 2,
        stderr: `tessera ${command.name}: Unexpected argument 'extra-word'.\n${usageLine(command)}\n`,
      },
      ...cases[command.name],
    ];
    const before = await store.digest();
    const seen: string[] = [];
    for (const c of all) {
      const args = [...words, '--json', ...c.args];
      const r = await tessera(args, c.stdin);
      seen.push(`${c.why}: ${JSON.stringify(r)}`);
      expect({ why: c.why, code: r.code, stdout: r.stdout }, JSON.stringify(args).slice(0, 300)).toEqual({ why: c.why, code: c.code, stdout: '' });
      if (c.stderr !== undefined) {
        expect(r.stderr, `${c.why}: ${JSON.stringify(args).slice(0, 300)}`).toBe(typeof c.stderr === 'function' ? c.stderr(usageLine(command)) : c.stderr);
      } else {
        // One line naming the command (then the usage line for a usage error); no stack, no "undefined".
        const lines = r.stderr.split('\n');
        expect(lines[0], `${c.why}: ${JSON.stringify(args).slice(0, 300)}`).toMatch(new RegExp(`^tessera ${command.name}: \\S`));
        expect(lines.slice(1), `${c.why}: ${JSON.stringify(args).slice(0, 300)}`).toEqual(c.code === 2 ? [usageLine(command), ''] : ['']);
        expect(r.stderr).not.toMatch(/undefined|\bat .*\(.*:\d+:\d+\)|failed:/);
      }
    }
    if (process.env.BAD_INPUT_PROBE) console.info(seen.join('\n'));
    expect(await store.digest(), `${command.name}: a refused command changed the store`).toEqual(before);
  }, 60_000);

  it('through the real binary: usage errors exit 2, invalid input 1, --json or not, and nothing changes', async () => {
    const env = { PATH: process.env.PATH, DATABASE_URL: database.url, TESSERA_PUBLIC_URL: PUBLIC_URL };
    const before = await store.digest();
    const runs = await Promise.all([
      runTessera(env, ['client', 'create', '--tenant', 'acme', '--name', 'X', '--colour', 'blue']),
      runTessera(env, ['user', 'create', '--tenant', 'acme', '--username', 'bob', '--json']),
      runTessera(env, ['user', 'create', '--tenant', 'acme', '--username', 'bob', '--email', 'not-an-email', '--password-stdin', '--json'], 'bob-password-1\n'),
      runTessera(env, ['user', 'create', '--tenant', 'acme', '--username', 'b'.repeat(101), '--password-stdin'], 'bob-password-1\n'),
      runTessera(env, ['user', 'create', '--tenant', 'acme', '--username', 'ALICE', '--password-stdin', '--json'], 'alice-password-2\n'),
      runTessera(env, ['user', 'create', '--tenant', 'acme', '--username', 'bob', '--password-stdin', '--json'], ''),
      runTessera(env, ['tenant', 'show', 'nowhere', '--json']),
      runTessera(env, ['tenant', 'show', 'nowhere']),
      runTessera({ ...env, DATABASE_URL: 'mysql://db/tessera' }, ['migrate', '--json']),
      runTessera(env, ['teleport', '--json']),
    ]);
    expect(runs.map((r) => ({ ...r, stderr: r.stderr.split('\n')[0] }))).toEqual([
      { code: 2, stdout: '', stderr: `tessera client create: Unknown option '--colour'.` },
      { code: 2, stdout: '', stderr: 'tessera user create: --password-stdin is required (the password is read from standard input, never from the command line)' },
      { code: 1, stdout: '', stderr: 'tessera user create: email "not-an-email" is not a valid email address' },
      { code: 1, stdout: '', stderr: 'tessera user create: username must be 1–100 characters' },
      { code: 1, stdout: '', stderr: 'tessera user create: tenant acme already has a user named ALICE (usernames are case-insensitive)' },
      { code: 1, stdout: '', stderr: 'tessera user create: --password-stdin: standard input held no password' },
      { code: 1, stdout: '', stderr: 'tessera tenant show: tenant nowhere does not exist' },
      { code: 1, stdout: '', stderr: 'tessera tenant show: tenant nowhere does not exist' },
      { code: 1, stdout: '', stderr: expect.stringMatching(/^tessera migrate: invalid configuration: DATABASE_URL: /) },
      { code: 2, stdout: '', stderr: 'tessera: unknown command "teleport --json"' },
    ]);
    for (const r of runs) expect(r.stderr).not.toMatch(/\bat .*:\d+:\d+\)?$|undefined/m);
    expect(await store.digest()).toEqual(before);
  }, 60_000);
});
