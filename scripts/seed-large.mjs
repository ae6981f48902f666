#!/usr/bin/env node
// `npm run seed:large`: fills a Tessera database with a large store (issue 10, docs/performance.md).
//
//   npm run seed:large -- --database-url sqlite:./data/large.db [--users N] [--tokens N] [--tenants N] [--password P]
//
// --database-url (or DATABASE_URL): sqlite:PATH or postgres://…; migrated first, as `tessera start` does.
// --users (default 1,000,000) users and --tokens (default 1,000,000) grants, each with an opaque
// access token and a refresh token, in the default tenant; --tenants (default 10) - 1 more tenants
// share a tenth as many again. Every 5th user has a session and a consent.
//
// Passwords: argon2id costs ~15 ms per hash by design, a million of them over four hours on one
// core. So ONE hash of --password (default `seed-password-1`) is computed and stored for every
// seeded user: each can sign in with it (usernames `seed.default.0000000` …, emails
// `…@seed.example`). Identical hashes say nothing about the cost of a sign-in, which verifies
// one hash whatever the others are; never seed a database real users will use.
//
// Rows are written with multi-row INSERTs in transactions (scripts/seed/rows.mjs), not through
// the HTTP API. A database seeded already is refused. Runs on dist/ (`npx tsc` first).

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { hashPassword } from '../dist/crypto/password.js';
import { createClient } from '../dist/manage/clients.js';
import { createTenant, ensureDefaultTenant } from '../dist/manage/tenants.js';
import { openDatabase } from '../dist/storage/database.js';
import { openStorage } from '../dist/storage/index.js';
import { alreadySeeded, seededEmail, seededUsername, seedRows, setUpTenants } from './seed/rows.mjs';

function fail(message) {
  process.stderr.write(`seed:large: ${message}\n`);
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      'database-url': { type: 'string' },
      users: { type: 'string', default: '1000000' },
      tokens: { type: 'string', default: '1000000' },
      tenants: { type: 'string', default: '10' },
      password: { type: 'string', default: 'seed-password-1' },
    },
  }));
} catch (err) {
  fail(err.message);
}
const count = (name, min) => {
  const n = Number(args[name]);
  if (!Number.isSafeInteger(n) || n < min) fail(`--${name} must be a whole number ≥ ${min}, not ${JSON.stringify(args[name])}`);
  return n;
};
const users = count('users', 1);
const tokens = count('tokens', 0);
const tenants = count('tenants', 1);
const url = args['database-url'] ?? process.env.DATABASE_URL;
if (!url) fail('give --database-url sqlite:PATH or postgres://… (or set DATABASE_URL)');
if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(url)) fail('the database URL must be sqlite:PATH or postgres://…');

const storage = await openStorage(url);
const db = openDatabase(url);
try {
  if (await alreadySeeded(db.kysely, 'default')) {
    fail('this database was seeded already (meta key seed_large, or user seed.default.0000000 exists); seed a fresh one');
  }
  const deps = { storage, clock: { now: () => Date.now() }, random: (n) => randomBytes(n) };
  const plan = await setUpTenants(deps, { ensureDefaultTenant, createTenant, createClient }, { tenants, users, tokens });
  const passwordHash = await hashPassword(args.password);
  const rows = plan.reduce((n, t) => n + t.users + t.tokens, 0);
  console.log(`seeding ${db.backend}: ${users} users and ${tokens} tokens in default, ${rows - users - tokens} more users and tokens over ${plan.length - 1} other tenants`);

  let last = 0;
  const result = await seedRows(db.kysely, db.backend, { tenants: plan, passwordHash }, (p) => {
    if (p.seconds - last < 5 && p.done < p.total) return;
    last = p.seconds;
    const inserted = Object.values(p.written).reduce((a, b) => a + b, 0);
    console.log(`  ${p.phase}: ${p.done}/${p.total} users+grants, ${inserted} rows in ${p.seconds.toFixed(0)} s (${Math.round(inserted / p.seconds)} rows/s)`);
  });
  const inserted = Object.values(result.written).reduce((a, b) => a + b, 0);
  console.log(`done in ${result.seconds.toFixed(1)} s: ${JSON.stringify(result.written)} (${Math.round(inserted / result.seconds)} rows/s)`);
  if (db.backend === 'postgres') {
    // The planner's statistics: without them it plans for the empty tables it last saw.
    await sql`analyze`.execute(db.kysely);
  }
  console.log(`sign in as ${seededUsername('default', 0)} (or ${seededEmail('default', 0)}) with the password given; client ${plan[0].clientId}, secret ${plan[0].clientSecret}`);
} finally {
  await db.close();
  await storage.close();
}
