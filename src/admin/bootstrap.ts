import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { seconds } from '../clock.js';
import type { Config } from '../config.js';
import { InputError } from '../errors.js';
import { issuerOf } from '../http/context.js';
import { ADMIN_TENANT, createTenant, type ManageDeps } from '../manage/tenants.js';
import { createUser } from '../manage/users.js';
import type { Client } from '../storage/types.js';

/** The built-in tenant whose users are the operators (DESIGN.md §1 Admin REST API). */
export { ADMIN_TENANT };
/** The scope an admin API token carries; only the `admin` tenant's tokens count. */
export const ADMIN_SCOPE = 'admin';
/**
 * The console's client: public (code + PKCE), built in like `default`. Generated client ids are
 * 22 characters, so this 21-character id never collides with one.
 */
export const CONSOLE_CLIENT_ID = 'tessera-admin-console';
export const FIRST_OPERATOR = 'admin';

export const consoleUrl = (publicUrl: string): string => `${publicUrl}/admin`;
export const consoleRedirectUri = (publicUrl: string): string => `${consoleUrl(publicUrl)}/callback`;

/** Where a generated first password goes: beside the SQLite file, or under ./data for PostgreSQL. */
export function adminPasswordFile(databaseUrl: string): string {
  const path = databaseUrl.startsWith('sqlite:') ? databaseUrl.slice('sqlite:'.length) : '';
  const dir = path && !path.startsWith(':memory:') ? dirname(path) : 'data';
  return join(dir, 'admin-password.txt');
}

function consoleClient(deps: ManageDeps, publicUrl: string): Client {
  const now = seconds(deps.clock);
  return {
    tenantId: ADMIN_TENANT, clientId: CONSOLE_CLIENT_ID, name: 'Tessera admin console', secretDigest: null,
    tokenEndpointAuthMethod: 'none', grantTypes: ['authorization_code', 'refresh_token'],
    redirectUris: [consoleRedirectUri(publicUrl)], postLogoutRedirectUris: [consoleUrl(publicUrl)], corsOrigins: [],
    scopes: [ADMIN_SCOPE], accessTokenFormat: 'jwt', accessTokenTtl: null, consent: 'skip', webPage: false,
    sessionRefreshTokens: true, refreshGraceSeconds: 0, idTokenAlg: null, jwks: null, jwksUri: null, backchannelLogoutUri: null,
    backchannelLogoutSessionRequired: true, requirePar: false, dpopBoundAccessTokens: false, tokenExchangeSubjectClients: [],
    tokenExchangeAudiences: [], assertionAudienceTokenEndpoint: false, notBefore: 0, createdAt: now, updatedAt: now,
  };
}

/**
 * Creates the `admin` tenant and the console's client unless they exist (another node may be
 * doing the same). The client's URIs follow the server's public URL, so the server corrects them
 * if it changed; the CLI does not (`correct: false`), since its own TESSERA_PUBLIC_URL may differ.
 */
export async function ensureAdminTenant(deps: ManageDeps, publicUrl: string, options: { correct?: boolean } = {}): Promise<boolean> {
  let created = false;
  if (!(await deps.storage.tenants.get(ADMIN_TENANT))) {
    try {
      await createTenant(deps, { id: ADMIN_TENANT, displayName: 'Tessera administration' });
      created = true;
    } catch (err) {
      if (!(err instanceof InputError && err.code === 'conflict')) throw err;
    }
  }
  const wanted = consoleClient(deps, publicUrl);
  const client = await deps.storage.clients.get(ADMIN_TENANT, CONSOLE_CLIENT_ID);
  if (!client) {
    try {
      await deps.storage.clients.create(wanted);
    } catch (err) {
      if (!(err instanceof InputError && err.code === 'conflict')) throw err;
    }
  } else if (options.correct !== false && client.redirectUris.join(' ') !== wanted.redirectUris.join(' ')) {
    await deps.storage.clients.update({ ...client, redirectUris: wanted.redirectUris, postLogoutRedirectUris: wanted.postLogoutRedirectUris, updatedAt: wanted.updatedAt });
  }
  return created;
}

export interface FirstOperator {
  username: string;
  /** Set when the password was generated: the file that holds it. */
  passwordFile?: string;
}

/**
 * The first operator, made when the `admin` tenant has no user: with TESSERA_ADMIN_PASSWORD, or
 * with a generated password written to a file only its owner can read (mode 0600). Either way
 * the password must be changed at first sign-in. The password itself is never logged.
 */
export async function ensureFirstOperator(deps: ManageDeps, config: Pick<Config, 'adminPassword' | 'databaseUrl'>): Promise<FirstOperator | undefined> {
  if ((await deps.storage.users.list(ADMIN_TENANT)).length > 0) return undefined;
  const generated = config.adminPassword === undefined;
  // 144 bits, base64url: typed rarely, copied from the file.
  const password = config.adminPassword ?? deps.random(18).toString('base64url');
  try {
    await createUser({ ...deps, actor: 'bootstrap' }, ADMIN_TENANT, { username: FIRST_OPERATOR, password, mustChangePassword: true });
  } catch (err) {
    // Another node made the first operator at the same moment: its password stands.
    if (err instanceof InputError && err.code === 'conflict') return undefined;
    if (err instanceof InputError && !generated) throw new InputError(`TESSERA_ADMIN_PASSWORD: ${err.message}`);
    throw err;
  }
  if (!generated) return { username: FIRST_OPERATOR };
  const file = adminPasswordFile(config.databaseUrl);
  mkdirSync(dirname(file), { recursive: true });
  // `mode` applies only when the file is created: an older file is narrowed before it is written.
  if (existsSync(file)) chmodSync(file, 0o600);
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return { username: FIRST_OPERATOR, passwordFile: file };
}

/** What the server logs on first start: where the password is and where to sign in, never the password. */
export function firstOperatorMessage(op: FirstOperator, publicUrl: string): string {
  const where = op.passwordFile ? `its password is in ${op.passwordFile}` : 'its password is TESSERA_ADMIN_PASSWORD';
  return `created the first operator "${op.username}"; ${where} (change it at first sign-in). Sign in at ${consoleUrl(publicUrl)} (issuer ${issuerOf(publicUrl, { id: ADMIN_TENANT, hostname: null })})`;
}
