/**
 * The OpenAPI document of the admin API is generated from the route table: every route the
 * app serves under /admin/api/v1 is in it, with its method, and it is a valid OpenAPI 3.1 document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Fastify from 'fastify';
import { ADMIN_API_PREFIX, ADMIN_ROUTES, registerAdminApi } from '../src/admin/routes.js';
import { PUBLIC_URL, type TestApp } from './helpers.js';
import { adminApi, checkAgainstDocument, makeOperator, startAdminApp, tokenFor } from './support/admin.js';
import { openApiProblems } from './support/openapi.js';

describe('admin API OpenAPI document', () => {
  let t: TestApp;
  let doc: any;
  const adminRoutes: { method: string; url: string }[] = [];

  beforeAll(async () => {
    t = await startAdminApp('sqlite');
    const res = await t.app.inject({ method: 'GET', url: `${ADMIN_API_PREFIX}/openapi.json` });
    expect(res.statusCode).toBe(200);
    doc = res.json();
    // Every route registerAdminApi adds, as fastify's router records it.
    const probe = Fastify();
    probe.addHook('onRoute', (r) => {
      for (const method of [r.method].flat()) if (method !== 'HEAD') adminRoutes.push({ method, url: r.url });
    });
    registerAdminApi(probe, t.services);
    await probe.ready();
    await probe.close();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('is a structurally valid OpenAPI 3.1 document', () => {
    expect(openApiProblems(doc)).toEqual([]);
    expect(doc).toMatchObject({ openapi: '3.1.0', servers: [{ url: `${PUBLIC_URL}/admin/api/v1` }], security: [{ admin: ['admin'] }] });
    expect(doc.components.securitySchemes.admin.flows.authorizationCode).toEqual({
      authorizationUrl: `${PUBLIC_URL}/realms/admin/protocol/openid-connect/auth`, tokenUrl: `${PUBLIC_URL}/realms/admin/protocol/openid-connect/token`, scopes: { admin: 'manage Tessera' },
    });
  });

  it('describes every route the admin API registers, and nothing else', async () => {
    expect(adminRoutes.length).toBe(ADMIN_ROUTES.length + 1);
    for (const r of adminRoutes) expect(t.app.hasRoute({ method: r.method as 'GET', url: r.url }), `${r.method} ${r.url}`).toBe(true);
    const served = adminRoutes.map((r) => `${r.method} ${r.url.slice(ADMIN_API_PREFIX.length).replace(/:(\w+)/g, '{$1}')}`).sort();
    const documented = Object.entries<Record<string, unknown>>(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    expect(documented).toEqual(served);
  });

  it('takes each operation’s request schema from the route table: a client body lists redirect_uris', () => {
    const create = doc.paths['/tenants/{tenant}/clients'].post;
    expect(create.requestBody.content['application/json'].schema).toMatchObject({
      type: 'object', required: ['client_name'], additionalProperties: false, properties: { redirect_uris: { type: 'array', items: { type: 'string' } } },
    });
    expect(create.responses['201'].content['application/json'].schema.properties.client_secret).toEqual({ type: 'string', description: 'only in the answer that made it: shown once' });
    expect(doc.paths['/tenants'].get.parameters).toEqual([
      { name: 'limit', in: 'query', required: false, description: 'page size, 1–200', schema: expect.objectContaining({ type: 'integer', minimum: 1, maximum: 200 }) },
      { name: 'cursor', in: 'query', required: false, description: '`next_cursor` of the previous page', schema: expect.objectContaining({ type: 'string' }) },
    ]);
  });

  it('is what the server answers: every admin test checks each answer against it, and a drifted body fails', async () => {
    const shown = await adminApi(t, await tokenFor(t, await makeOperator(t, 'doc-check'))).get('/tenants/default');
    expect(shown.status).toBe(200);
    expect(() => checkAgainstDocument('GET', '/tenants/default', 200, shown.body)).not.toThrow();
    expect(() => checkAgainstDocument('GET', '/tenants/default', 200, { ...shown.body, secret_field: 1 })).toThrow(/does not match the OpenAPI document/);
    const { issuer: _, ...missing } = shown.body;
    expect(() => checkAgainstDocument('GET', '/tenants/default', 200, missing)).toThrow(/does not match the OpenAPI document/);
    expect(() => checkAgainstDocument('GET', '/tenants/default', 418, {})).not.toThrow();
    expect(() => checkAgainstDocument('GET', '/tenants/default', 201, {})).toThrow(/does not describe/);
  });

  it('finds the problems of a broken document', () => {
    const broken = { openapi: '3.0.0', info: { title: 'x' }, paths: { '/a/{id}': { get: { responses: { 200: {} } }, fetch: {} } }, security: [{ nope: [] }] };
    expect(openApiProblems(broken)).toEqual([
      'openapi must be 3.1.x', 'info needs title and version', 'document: security scheme nope is not declared',
      'GET /a/{id}: {id} has no path parameter', 'GET /a/{id} 200: a response needs a description', 'FETCH /a/{id}: not an HTTP method',
    ]);
  });
});
