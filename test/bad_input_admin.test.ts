/**
 * Issue 11, bad input: every admin API operation given invalid input answers 4xx with the API's
 * error body (docs/admin-api.md "Errors": `{error, error_description, field?}`, 400
 * invalid_request naming the field, 404 not_found) and leaves the store unchanged. The cases are
 * derived from the route table (src/admin/routes.ts) through its OpenAPI document: malformed
 * JSON, wrong types, unknown fields (refused, as documented), missing required fields, unknown
 * enum values, NUL characters and unknown ids for every route; so a new route is covered, and
 * a new route with a body fails the coverage test until it has a valid body below.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../src/admin/openapi.js';
import { ADMIN_API_PREFIX, ADMIN_ROUTES } from '../src/admin/routes.js';
import type { AdminRoute } from '../src/admin/route.js';
import { createApiWithSecret } from '../src/manage/apis.js';
import { createClient } from '../src/manage/clients.js';
import { createTenant } from '../src/manage/tenants.js';
import { createUser } from '../src/manage/users.js';
import { BACKENDS, type TestApp } from './helpers.js';
import { makeOperator, startAdminApp, tokenFor } from './support/admin.js';
import { storeDigester } from './support/store_digest.js';

/** A body each operation accepts: the base that one wrong field at a time is put into. */
const VALID_BODY: Record<string, object> = {
  createTenant: { id: 'newco' },
  updateTenant: {},
  createClient: { client_name: 'New app' },
  updateClient: {},
  createApi: { audience: 'https://new.example/' },
  updateApi: {},
  createUser: { username: 'newbie' },
  updateUser: {},
  rotateKeys: {},
  createInitialAccessToken: {},
  setTenantMfa: { mfa: 'optional' },
  setClientMfa: { require_mfa: false },
};

type Schema = { type?: string | string[]; enum?: unknown[]; anyOf?: Schema[]; properties?: Record<string, Schema>; required?: string[] };
const typesOf = (s: Schema): string[] => [...[s.type ?? []].flat(), ...(s.anyOf ?? []).flatMap(typesOf)];

/** A JSON value of none of the schema's types. */
function wrongTypeFor(s: Schema): unknown {
  const types = typesOf(s);
  if (!types.includes('string')) return 'text';
  if (!types.includes('integer') && !types.includes('number')) return 12345;
  return [true];
}

interface Case {
  why: string;
  method: AdminRoute['method'];
  url: string;
  /** A JSON value, or raw text with `raw`. */
  body?: unknown;
  raw?: string;
  contentType?: string;
  status: number;
  /** The whole answer body expected. */
  answer: unknown;
}

const invalid = (field: string | undefined, description: unknown = expect.stringMatching(new RegExp(`^${field}: \\S`))) =>
  ({ error: 'invalid_request', error_description: description, ...(field !== undefined && { field }) });
/** Before any route runs (src/http/nul_characters.ts): PostgreSQL text cannot hold one. */
const NUL_REFUSED = { error: 'invalid_request', error_description: 'request parameters must not contain NUL characters' };
const notFound = { error: 'not_found', error_description: expect.stringMatching(/\S/) };

describe.each(BACKENDS)('bad input to every admin API operation on %s', (backend) => {
  let t: TestApp;
  let token: string;
  let store: ReturnType<typeof storeDigester>;
  let ids: Record<string, string>;
  const doc = openApiDocument(ADMIN_ROUTES, 'http://tessera.test') as { paths: Record<string, Record<string, any>> };
  const withParams = ADMIN_ROUTES.filter((r) => r.params || r.body || r.query);

  beforeAll(async () => {
    t = await startAdminApp(backend);
    token = await tokenFor(t, await makeOperator(t, 'root'));
    await createTenant(t.deps, { id: 'acme', displayName: 'Acme' });
    const { client } = await createClient(t.deps, 'acme', { name: 'App', redirectUris: ['https://app.acme.example/cb'] }, 86400);
    const { api } = await createApiWithSecret(t.deps, 'acme', { audience: 'https://api.acme.example/', scopes: ['read'] }, 86400);
    await createUser(t.deps, 'acme', { username: 'alice', password: 'alice-password-1' });
    t.services.cache.clear();
    // Real ids for every path parameter: each case makes one thing wrong at a time.
    ids = { tenant: 'acme', client_id: client.clientId, client: client.clientId, api: api.id, user: 'alice', session: 'no-such-session', grant: 'no-such-grant', token: 'no-such-token', kid: 'no-such-kid', id: 'no-such-token' };
    store = storeDigester(t.database.url, backend);
  });
  afterAll(async () => {
    await store?.close();
    await t?.close();
  });

  const urlOf = (r: AdminRoute, params: Record<string, string> = ids) => r.path.replace(/\{(\w+)\}/g, (_, p: string) => encodeURIComponent(params[p] ?? `unknown-${p}`));

  /** The bad-input cases of one route, from its schemas as the OpenAPI document gives them. */
  function casesOf(r: AdminRoute): Case[] {
    const op = doc.paths[r.path][r.method.toLowerCase()];
    const url = urlOf(r);
    const valid = VALID_BODY[r.operationId];
    const out: Case[] = [];
    const pathParams = (op.parameters as { name: string; in: string }[]).filter((p) => p.in === 'path').map((p) => p.name);
    for (const p of pathParams) {
      out.push({ why: `unknown ${p}`, method: r.method, url: urlOf(r, { ...ids, [p]: 'nope' }), body: valid, status: 404, answer: notFound });
      out.push({ why: `NUL in ${p}`, method: r.method, url: urlOf(r, { ...ids, [p]: 'a\u0000b' }), body: valid, status: 400, answer: NUL_REFUSED });
    }
    if (r.query) {
      out.push({ why: 'unknown query parameter', method: r.method, url: `${url}?colour=blue`, status: 400, answer: invalid('colour', 'colour: is not a known field') });
      out.push({ why: 'limit 0', method: r.method, url: `${url}?limit=0`, status: 400, answer: invalid('limit') });
      out.push({ why: 'limit not a number', method: r.method, url: `${url}?limit=many`, status: 400, answer: invalid('limit') });
      out.push({ why: 'forged cursor', method: r.method, url: `${url}?cursor=garbage`, status: 400, answer: invalid('cursor', expect.stringMatching(/^the cursor is not one this server gave out/)) });
      out.push({ why: 'NUL in the cursor', method: r.method, url: `${url}?cursor=a%00b`, status: 400, answer: NUL_REFUSED });
    }
    if (r.body) {
      const schema = op.requestBody.content['application/json'].schema as Schema;
      const json = 'application/json';
      out.push({ why: 'malformed JSON', method: r.method, url, raw: '{"a": ', contentType: json, status: 400, answer: { error: 'invalid_request', error_description: 'malformed request' } });
      out.push({ why: 'a JSON array', method: r.method, url, body: [valid], status: 400, answer: invalid(undefined, expect.stringMatching(/^request body: \S/)) });
      // The app's own refusals of a body answer 400 invalid_request (src/http/error_handler.ts), as RFC 6749 §5.2 errors do.
      out.push({ why: 'a form, not JSON', method: r.method, url, raw: 'client_name=x', contentType: 'application/x-www-form-urlencoded', status: 400, answer: invalid(undefined, 'content type "application/x-www-form-urlencoded" is not supported here') });
      out.push({ why: 'text, not JSON', method: r.method, url, raw: 'hello', contentType: 'text/plain', status: 400, answer: invalid(undefined, 'content type "text/plain" is not supported here') });
      out.push({ why: 'over a megabyte', method: r.method, url, body: { ...valid, padding: 'x'.repeat(1_100_000) }, status: 400, answer: invalid(undefined, 'request body is too large') });
      out.push({ why: 'unknown field', method: r.method, url, body: { ...valid, colour: 'blue' }, status: 400, answer: invalid('colour', 'colour: is not a known field') });
      for (const [name, p] of Object.entries(schema.properties ?? {})) {
        out.push({ why: `wrong type of ${name}`, method: r.method, url, body: { ...valid, [name]: wrongTypeFor(p) }, status: 400, answer: invalid(name) });
        if (typesOf(p).includes('string')) {
          out.push({ why: `NUL in ${name}`, method: r.method, url, body: { ...valid, [name]: 'a\u0000b' }, status: 400, answer: NUL_REFUSED });
        }
        if (p.enum) out.push({ why: `unknown ${name}`, method: r.method, url, body: { ...valid, [name]: 'no-such-value' }, status: 400, answer: invalid(name) });
      }
      for (const name of schema.required ?? []) {
        const { [name]: _, ...rest } = valid as Record<string, unknown>;
        out.push({ why: `missing ${name}`, method: r.method, url, body: rest, status: 400, answer: invalid(name) });
      }
    }
    return out;
  }

  async function send(c: Case) {
    const payload = c.raw ?? (c.body === undefined ? undefined : JSON.stringify(c.body));
    const res = await t.app.inject({
      method: c.method, url: ADMIN_API_PREFIX + c.url,
      headers: { authorization: `Bearer ${token}`, ...(payload !== undefined && { 'content-type': c.contentType ?? 'application/json' }) },
      ...(payload !== undefined && { payload }),
    });
    return { status: res.statusCode, body: res.body ? res.json() : undefined };
  }

  it('knows a valid body for every operation that takes one, and covers every operation with parameters or a body', () => {
    expect(ADMIN_ROUTES.filter((r) => r.body && !VALID_BODY[r.operationId]).map((r) => r.operationId)).toEqual([]);
    expect(Object.keys(VALID_BODY).filter((id) => !ADMIN_ROUTES.some((r) => r.operationId === id && r.body))).toEqual([]);
    // Only GET /me takes nothing at all.
    expect(ADMIN_ROUTES.filter((r) => !withParams.includes(r)).map((r) => r.operationId)).toEqual(['getOperator']);
    for (const r of withParams) expect(casesOf(r).length, r.operationId).toBeGreaterThan(1);
  });

  it.each(withParams.map((r) => [`${r.method} ${r.path}`, r] as const))('%s answers bad input with a 4xx error body and changes nothing', async (_name, r) => {
    const before = await store.digest();
    for (const c of casesOf(r)) {
      const got = await send(c);
      expect.soft({ why: c.why, ...got }, `${c.method} ${c.url.slice(0, 200)}`).toEqual({ why: c.why, status: c.status, body: c.answer });
    }
    expect(await store.digest(), `${r.operationId}: a refused request changed the store`).toEqual(before);
  }, 60_000);

  it('refuses values over their documented lengths, naming the field', async () => {
    const cases: Case[] = [
      { why: 'tenant id of 65', method: 'POST', url: '/tenants', body: { id: 'a'.repeat(65) }, status: 400, answer: invalid(undefined, 'tenant id must be 1–64 letters, digits, ".", "_" or "-", starting with a letter or digit') },
      { why: 'display name of 201', method: 'PATCH', url: '/tenants/acme', body: { display_name: 'x'.repeat(201) }, status: 400, answer: invalid('display_name', 'display_name: Too big: expected string to have <=200 characters') },
      { why: 'client name of 201', method: 'POST', url: '/tenants/acme/clients', body: { client_name: 'x'.repeat(201) }, status: 400, answer: invalid(undefined, 'name must be 1–200 characters') },
      { why: 'API name of 201', method: 'PATCH', url: `/tenants/acme/apis/${ids.api}`, body: { name: 'x'.repeat(201) }, status: 400, answer: invalid(undefined, 'name must be at most 200 characters') },
      { why: 'username of 101', method: 'POST', url: '/tenants/acme/users', body: { username: 'x'.repeat(101) }, status: 400, answer: invalid('username', 'username: username must be 1–100 characters') },
      { why: 'user name of 201', method: 'PATCH', url: '/tenants/acme/users/alice', body: { name: 'x'.repeat(201) }, status: 400, answer: invalid(undefined, 'name must be at most 200 characters') },
      { why: 'email of 300', method: 'PATCH', url: '/tenants/acme/users/alice', body: { email: `${'x'.repeat(290)}@a.example` }, status: 400, answer: invalid('email') },
      { why: 'audit actor of 201', method: 'GET', url: `/tenants/acme/audit-events?actor=${'x'.repeat(201)}`, status: 400, answer: invalid('actor') },
      { why: 'cursor of 2001', method: 'GET', url: `/tenants/acme/clients?cursor=${'x'.repeat(2001)}`, status: 400, answer: invalid('cursor') },
      { why: 'unknown audit type', method: 'GET', url: '/tenants/acme/audit-events?type=bogus', status: 400, answer: invalid('type') },
      { why: 'negative since', method: 'GET', url: '/tenants/acme/audit-events?since=-1', status: 400, answer: invalid('since') },
    ];
    const before = await store.digest();
    for (const c of cases) expect({ why: c.why, ...(await send(c)) }).toEqual({ why: c.why, status: c.status, body: c.answer });
    expect(await store.digest()).toEqual(before);
  });
});
