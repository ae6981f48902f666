#!/usr/bin/env node
/**
 * Provisions a local Tessera for the example APIs with the `tessera` CLI (`--json`), the way
 * an operator would: a tenant, the two APIs of the seeds with their scopes and resource-server
 * credentials, the clients that call them, and a user. Writes what it made to
 * data/examples.json (read by the examples) and data/examples.env (for the shell), mode 0600:
 * they hold secrets.
 *
 *   npm start                # Tessera, in another terminal
 *   npm run example:setup    # this
 *
 * The CLI works on the database directly, so this runs with the server's environment
 * (DATABASE_URL, TESSERA_PUBLIC_URL or PORT, all optional). Secrets are shown only once, so
 * the tenant is made afresh each time: re-run this, then restart the examples.
 *
 * Environment: EXAMPLES_TENANT (default `examples`), EXAMPLES_CONFIG (default
 * data/examples.json), AVATARS_PORT (4001), HEART_RATE_PORT (4002).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configPath } from './config.mjs';

const BIN = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
const tenant = process.env.EXAMPLES_TENANT || 'examples';
const avatarsUrl = `http://localhost:${process.env.AVATARS_PORT || 4001}`;
const heartRateUrl = `http://localhost:${process.env.HEART_RATE_PORT || 4002}`;

/** Runs `tessera ARGS --json` and returns its one JSON object; stderr and the exit code otherwise. */
function tessera(args, { input = '', allowFailure = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args, '--json'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) return resolve(JSON.parse(stdout));
      if (allowFailure) return resolve(undefined);
      reject(new Error(`tessera ${args.slice(0, 2).join(' ')} failed (exit ${code}): ${stderr.trim()}`));
    });
  });
}

const pick = (c) => ({ client_id: c.client_id, ...(c.client_secret && { client_secret: c.client_secret }) });

async function main() {
  if (await tessera(['tenant', 'show', tenant], { allowFailure: true })) await tessera(['tenant', 'delete', tenant]);
  const created = await tessera(['tenant', 'create', tenant, '--display-name', 'Tessera examples']);
  const issuer = created.issuer;

  // The seeds' two APIs: Loomie's avatars and Pulsoid's heart rate. `api create` prints each
  // API's resource-server credentials once; the APIs use them to introspect opaque tokens.
  // Independent records are made concurrently (SQLite waits its turn; PostgreSQL does not care).
  const [avatarsApi, heartRateApi] = await Promise.all([
    tessera([
      'api', 'create', '--tenant', tenant, '--audience', 'https://api.loomai.com/', '--name', 'Avatars',
      '--scope', 'read:avatars=Read your avatars', '--scope', 'write:avatars=Create and delete your avatars',
    ]),
    tessera([
      'api', 'create', '--tenant', tenant, '--audience', 'https://dev.pulsoid.net/', '--name', 'Heart rate',
      '--scope', 'data:heart_rate:read=Read your heart rate', '--scope', 'data:heart_rate:write=Record heart rate readings',
    ]),
  ]);

  const client = (name, ...flags) => tessera(['client', 'create', '--tenant', tenant, '--name', name, ...flags]);
  const password = randomBytes(12).toString('base64url');
  const [avatarService, avatarCli, heartRateCli, widget, user] = await Promise.all([
    client('Avatar render service', '--grant-types', 'client_credentials', '--scopes', 'read:avatars write:avatars'),
    client('Avatar CLI', '--grant-types', 'password,refresh_token', '--scopes', 'read:avatars write:avatars'),
    client('Heart rate recorder', '--grant-types', 'password,refresh_token', '--scopes', 'data:heart_rate:read data:heart_rate:write'),
    // Pulsoid's widget flow: a page gets a token by the implicit grant and opens the WebSocket with it.
    client('Heart rate widget', '--public', '--grant-types', 'implicit', '--scopes', 'data:heart_rate:read', '--redirect-uri', `${heartRateUrl}/`),
    tessera(['user', 'create', '--tenant', tenant, '--username', 'alice', '--password-stdin', '--email', 'alice@example.com', '--name', 'Alice'], { input: `${password}\n` }),
  ]);

  const config = {
    tessera: { issuer, tenant, token_endpoint: `${issuer}/protocol/openid-connect/token` },
    user: { username: user.username, password },
    avatars: {
      url: avatarsUrl,
      audience: avatarsApi.audience,
      api_credentials: pick(avatarsApi),
      clients: { service: pick(avatarService), cli: pick(avatarCli) },
    },
    heart_rate: {
      url: heartRateUrl,
      audience: heartRateApi.audience,
      api_credentials: pick(heartRateApi),
      clients: { recorder: pick(heartRateCli), widget: pick(widget) },
    },
  };
  const path = configPath();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  const env = {
    TESSERA_ISSUER: issuer,
    TOKEN_ENDPOINT: config.tessera.token_endpoint,
    AVATARS_API: avatarsUrl,
    AVATARS_SERVICE_ID: avatarService.client_id,
    AVATARS_SERVICE_SECRET: avatarService.client_secret,
    AVATARS_CLI_ID: avatarCli.client_id,
    AVATARS_CLI_SECRET: avatarCli.client_secret,
    HEART_RATE_API: heartRateUrl,
    HEART_RATE_CLIENT_ID: heartRateCli.client_id,
    HEART_RATE_CLIENT_SECRET: heartRateCli.client_secret,
    DEMO_USERNAME: user.username,
    DEMO_PASSWORD: password,
  };
  const envPath = path.replace(/\.json$/, '') + '.env';
  writeFileSync(envPath, Object.entries(env).map(([k, v]) => `export ${k}='${v}'`).join('\n') + '\n', { mode: 0o600 });

  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(config));
    return;
  }
  const reachable = await fetch(`${issuer}/.well-known/openid-configuration`).then((r) => r.ok, () => false);
  console.log(
    [
      `Provisioned tenant "${tenant}" (issuer ${issuer}):`,
      `  APIs     ${avatarsApi.audience} (read:avatars write:avatars), ${heartRateApi.audience} (data:heart_rate:read data:heart_rate:write)`,
      `  clients  ${avatarService.client_id} (client_credentials), ${avatarCli.client_id} and ${heartRateCli.client_id} (password), ${widget.client_id} (implicit, public)`,
      `  user     alice, password ${password}`,
      `Wrote ${path} and ${envPath} (load the latter with: source ${envPath}).`,
      reachable ? `Tessera answers at ${issuer}.` : `Tessera does not answer at ${issuer} yet: start it with \`npm start\` before the examples.`,
      'Next: npm run example:avatars, npm run example:heart-rate (see docs/quickstart.md).',
    ].join('\n'),
  );
}

main().catch((err) => {
  console.error(`example setup: ${err.message}`);
  process.exit(1);
});
