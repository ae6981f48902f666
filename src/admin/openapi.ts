import { z } from 'zod';
import { endpointUrl, issuerOf } from '../http/context.js';
import { ADMIN_SCOPE, ADMIN_TENANT } from './bootstrap.js';
import type { AdminRoute } from './route.js';
import { errorBody } from './schemas.js';

type Json = Record<string, unknown>;

/** JSON Schema 2020-12, the dialect of OpenAPI 3.1 (§4.8.24); `$schema` is the document's default. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Json;
  return rest;
}

/** Path and query parameters (OpenAPI 3.1 §4.8.12) from an object schema's properties. */
function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): Json[] {
  if (!schema) return [];
  const s = jsonSchema(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, p]) => ({
    name, in: where, required: where === 'path' || (s.required ?? []).includes(name),
    ...(typeof p.description === 'string' && { description: p.description }), schema: p,
  }));
}

const error = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

function operation(r: AdminRoute): Json {
  const ok = r.status === 204 || !r.response
    ? { description: 'done' }
    : { description: 'success', content: { 'application/json': { schema: jsonSchema(r.response, 'output') } } };
  return {
    operationId: r.operationId,
    summary: r.summary,
    tags: [r.tag],
    parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
    ...(r.body && { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } } }),
    responses: {
      [String(r.status)]: ok,
      400: error('invalid_request: the request is malformed; `field` names the field at fault'),
      401: error('invalid_token: no token, or not a live admin-tenant token of an enabled operator (RFC 6750 WWW-Authenticate)'),
      403: error('insufficient_scope (no `admin` scope), or access_denied (outside the operator’s tenants, or global operators only)'),
      404: error('not_found'),
      409: error('conflict: an id, username, email, audience or scope is taken'),
    },
  };
}

/** The OpenAPI 3.1 document of the admin API, generated from the route table's schemas. */
export function openApiDocument(routes: AdminRoute[], publicUrl: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) (paths[r.path] ??= {})[r.method.toLowerCase()] = operation(r);
  paths['/openapi.json'] = {
    get: {
      operationId: 'getOpenApiDocument', summary: 'This document', tags: ['meta'], security: [],
      responses: { 200: { description: 'the OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } },
    },
  };
  const issuer = issuerOf(publicUrl, { id: ADMIN_TENANT, hostname: null });
  return {
    openapi: '3.1.0',
    info: { title: 'Tessera admin API', version: '1.0.0', description: 'Manage tenants, clients, APIs, users, keys, sessions and audit events. See docs/admin-api.md.' },
    servers: [{ url: `${publicUrl}/admin/api/v1` }],
    security: [{ admin: [ADMIN_SCOPE] }],
    tags: [...new Set([...routes.map((r) => r.tag), 'meta'])].map((name) => ({ name })),
    paths,
    components: {
      schemas: { Error: jsonSchema(errorBody, 'output') },
      securitySchemes: {
        admin: {
          type: 'oauth2',
          description: 'An access token of the admin tenant, issued to an operator, with scope admin',
          flows: { authorizationCode: { authorizationUrl: endpointUrl(issuer, 'auth'), tokenUrl: endpointUrl(issuer, 'token'), scopes: { [ADMIN_SCOPE]: 'manage Tessera' } } },
        },
      },
    },
  };
}
