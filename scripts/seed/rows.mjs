/**
 * Bulk rows for a large store (issue 10): users, and per token the rows a password or
 * authorization-code sign-in leaves behind (a grant, its opaque access token, its refresh
 * token's artifact), plus sessions and consents for some of the users. Written with
 * multi-row INSERTs in transactions straight into the tables, never through the HTTP API,
 * so a million of each takes minutes. Shared by scripts/seed-large.mjs and
 * test/large_store.test.ts; it needs only a Kysely instance on a migrated database.
 */
import { hash, randomBytes } from 'node:crypto';
import { CompiledQuery, sql } from 'kysely';

/** Rows per INSERT: 13 columns × 500 = 6,500 parameters, below SQLite's 32,766 and PostgreSQL's 65,535. */
const ROWS_PER_INSERT = 500;
/** Rows per transaction: large enough that commits (an fsync each) are no cost, small enough to show progress. */
const ROWS_PER_TRANSACTION = 10_000;
/** The `meta` key that marks a seeded database; the script refuses to seed it twice. */
export const SEED_MARK = 'seed_large';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** Same shape as src/crypto/random.ts `identifier`: 22 characters, the first alphanumeric. */
const identifier = () => {
  const bytes = randomBytes(17);
  return ALPHANUMERIC[bytes[0] % ALPHANUMERIC.length] + bytes.toString('base64url', 1).slice(0, 21);
};
/** Same as src/tokens/opaque.ts: a 12-hex-digit millisecond prefix, then 256 random bits. */
const opaqueValue = (ms) => ms.toString(16).padStart(12, '0') + randomBytes(32).toString('base64url');
/** Same as src/tokens/opaque.ts `storageKey`: the prefix, then SHA-256 of the whole value. */
const storageKey = (value) => value.slice(0, 12) + hash('sha256', value, 'base64url');

/** Usernames and emails the test (and an operator trying the store) can sign in with. */
export const seededUsername = (tenantId, i) => `seed.${tenantId}.${String(i).padStart(7, '0')}`;
export const seededEmail = (tenantId, i) => `${seededUsername(tenantId, i)}@seed.example`;

/** One multi-row INSERT with the dialect's placeholders. */
function insert(backend, table, columns, rows) {
  let n = 0;
  const tuple = () => `(${columns.map(() => (backend === 'postgres' ? `$${++n}` : '?')).join(', ')})`;
  const values = rows.map(tuple).join(', ');
  return CompiledQuery.raw(`insert into ${table} (${columns.join(', ')}) values ${values}`, rows.flat());
}

const USER_COLUMNS = ['tenant_id', 'id', 'username', 'username_lower', 'email', 'email_lower', 'email_verified', 'name', 'password_hash', 'disabled', 'must_change_password', 'created_at', 'updated_at'];
const GRANT_COLUMNS = ['id', 'tenant_id', 'client_id', 'subject', 'scope', 'created_at', 'expires_at', 'revoked_at'];
const TOKEN_COLUMNS = ['digest', 'tenant_id', 'grant_id', 'client_id', 'subject', 'scope', 'audience', 'issued_at', 'expires_at', 'revoked_at', 'jkt'];
const ARTIFACT_COLUMNS = ['digest', 'tenant_id', 'kind', 'grant_id', 'client_id', 'data', 'created_at', 'expires_at', 'used_at'];
const SESSION_COLUMNS = ['key', 'id', 'tenant_id', 'user_id', 'auth_time', 'amr', 'created_at', 'idle_expires_at', 'expires_at', 'revoked_at'];
const CONSENT_COLUMNS = ['tenant_id', 'user_id', 'client_id', 'scopes', 'created_at', 'updated_at'];

const DAY = 24 * 3600;
/** As src/tokens/authorization_response.ts USER_GRANT_SECONDS: a user grant lives 30 days. */
const GRANT_SECONDS = 30 * DAY;
const SCOPES = ['openid', 'offline_access'];

/** True when `db` was seeded already (the mark) or holds a seeded user of `tenantId`. */
export async function alreadySeeded(db, tenantId) {
  const mark = await db.selectFrom('meta').select('value').where('key', '=', SEED_MARK).executeTakeFirst();
  if (mark) return true;
  const user = await db.selectFrom('users').select('id').where('tenant_id', '=', tenantId).where('username_lower', '=', seededUsername(tenantId, 0)).executeTakeFirst();
  return user !== undefined;
}

/**
 * Seeds each tenant of `plan.tenants` ({ id, clientId, audience, users, tokens }): `users` users
 * sharing `plan.passwordHash`, and `tokens` grants for them (grant i is user i mod users)
 * with an opaque access token and a refresh token each; every 5th user has a session and a
 * consent. Times are live: nothing seeded has expired, so the cleanup job leaves it alone.
 * Returns a few seeded token values (to introspect) and the counts written.
 */
export async function seedRows(db, backend, plan, onProgress = () => {}) {
  const now = plan.now ?? Math.floor(Date.now() / 1000);
  const started = Date.now();
  // Random ids land all over the primary-key and user indexes: a page cache of 512 MiB on this
  // connection (SQLite's default is 2 MiB) keeps those pages in memory instead of re-reading them.
  if (backend === 'sqlite') await sql`pragma cache_size = -524288`.execute(db);
  const written = { users: 0, grants: 0, access_tokens: 0, artifacts: 0, sessions: 0, consents: 0 };
  const total = plan.tenants.reduce((n, t) => n + t.users + t.tokens, 0);
  const samples = [];
  let done = 0;
  const report = (phase) => onProgress({ phase, done, total, written: { ...written }, seconds: (Date.now() - started) / 1000 });

  /** Runs `chunks` (each a list of [table, columns, rows]) in one transaction, ROWS_PER_INSERT rows per statement. */
  const write = async (chunks) => {
    await db.transaction().execute(async (trx) => {
      for (const [table, columns, rows] of chunks) {
        for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) await trx.executeQuery(insert(backend, table, columns, rows.slice(i, i + ROWS_PER_INSERT)));
        written[table] += rows.length;
      }
    });
  };

  for (const t of plan.tenants) {
    // User ids are random as createUser makes them; seeded grants need them, so they are kept.
    const userIds = new Array(t.users);
    for (let from = 0; from < t.users; from += ROWS_PER_TRANSACTION) {
      const users = [];
      const sessions = [];
      const consents = [];
      for (let i = from; i < Math.min(from + ROWS_PER_TRANSACTION, t.users); i++) {
        const id = identifier();
        userIds[i] = id;
        const username = seededUsername(t.id, i);
        const email = seededEmail(t.id, i);
        const created = now - 365 * DAY + (i % (300 * DAY));
        users.push([t.id, id, username, username.toLowerCase(), email, email.toLowerCase(), 1, `Seed User ${i}`, plan.passwordHash, 0, 0, created, created]);
        if (i % 5 === 0) {
          const authTime = now - (i % 3600);
          sessions.push([storageKey(opaqueValue(authTime * 1000)), identifier(), t.id, id, authTime, '["pwd"]', authTime, now + 1800, authTime + 10 * 3600, null]);
          consents.push([t.id, id, t.clientId, SCOPES.join(' '), created, created]);
        }
      }
      await write([['users', USER_COLUMNS, users], ['sessions', SESSION_COLUMNS, sessions], ['consents', CONSENT_COLUMNS, consents]]);
      done += users.length;
      report(`users ${t.id}`);
    }

    const audience = JSON.stringify([t.audience]);
    for (let from = 0; from < t.tokens; from += ROWS_PER_TRANSACTION) {
      const grants = [];
      const tokens = [];
      const artifacts = [];
      for (let i = from; i < Math.min(from + ROWS_PER_TRANSACTION, t.tokens); i++) {
        const userId = userIds[i % t.users];
        const grantId = identifier();
        // Issued over the last day, in order (the storage keys' time prefix grows, as in real use).
        const issued = now - DAY + Math.floor((i * DAY) / t.tokens);
        grants.push([grantId, t.id, t.clientId, userId, SCOPES.join(' '), issued, issued + GRANT_SECONDS, null]);
        const value = opaqueValue(issued * 1000);
        tokens.push([storageKey(value), t.id, grantId, t.clientId, userId, SCOPES.join(' '), audience, issued, issued + 2 * DAY, null, null]);
        if (samples.length < 16 && t === plan.tenants[0] && i % Math.max(1, Math.floor(t.tokens / 16)) === 0) samples.push({ value, userId, grantId });
        const data = { userId, scopes: SCOPES, target: { scopes: SCOPES, audience: [t.audience], ttl: 3600 }, authTime: issued };
        artifacts.push([storageKey(opaqueValue(issued * 1000)), t.id, 'refresh_token', grantId, t.clientId, JSON.stringify(data), issued, issued + GRANT_SECONDS, null]);
      }
      await write([['grants', GRANT_COLUMNS, grants], ['access_tokens', TOKEN_COLUMNS, tokens], ['artifacts', ARTIFACT_COLUMNS, artifacts]]);
      done += grants.length;
      report(`tokens ${t.id}`);
    }
  }
  await db.insertInto('meta').values({ key: SEED_MARK, value: now }).execute();
  return { written, samples, seconds: (Date.now() - started) / 1000 };
}

/** Where the seeded users' apps send them back to (never contacted). */
export const SEED_REDIRECT_URI = 'https://app.seed.example/callback';
/** The access token TTL the seeding client may ask for (the server's ceiling for new clients). */
const MAX_TTL = 86_400;

/**
 * The tenants and clients the seeded rows belong to, made the way an operator makes them
 * (`manage` is src/manage or dist/manage: ensureDefaultTenant, createTenant, createClient):
 * the default tenant with `users`/`tokens`, and `tenants - 1` more (`seed-1`, …) sharing a
 * tenth as many again, so the tables hold other tenants' rows as a shared server's do.
 * Each gets a confidential client with the password, code and refresh grants and opaque tokens.
 */
export async function setUpTenants(deps, manage, { tenants = 10, users, tokens }) {
  await manage.ensureDefaultTenant(deps);
  const others = Math.max(0, tenants - 1);
  const plan = [];
  for (let k = 0; k <= others; k++) {
    const id = k === 0 ? 'default' : `seed-${k}`;
    if (k > 0 && !(await deps.storage.tenants.get(id))) await manage.createTenant(deps, { id, displayName: `Seed tenant ${k}` });
    const { client, secret } = await manage.createClient(
      deps, id,
      { name: 'Seeded App', grantTypes: ['authorization_code', 'password', 'refresh_token'], redirectUris: [SEED_REDIRECT_URI], accessTokenFormat: 'opaque', consent: 'required' },
      MAX_TTL,
    );
    const share = (n) => (k === 0 ? n : Math.ceil(n / 10 / others));
    plan.push({ id, clientId: client.clientId, clientSecret: secret, audience: `https://api.seed.example/${id}`, users: share(users), tokens: share(tokens) });
  }
  return plan;
}
