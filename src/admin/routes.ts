import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { auditAdminRefusal } from '../audit_refusals.js';
import { InputError, OAuthError } from '../errors.js';
import { issuerOf, type Services } from '../http/context.js';
import { queueBackchannelLogout } from '../logout/backchannel.js';
import type { ManageDeps } from '../manage/tenants.js';
import { apiRoutes } from './apis.js';
import { auditRoutes } from './audit.js';
import { authenticateOperator, requireGlobal, requireTenantAccess } from './auth.js';
import { clientRoutes } from './clients.js';
import { dcrRoutes } from './dcr.js';
import { keyRoutes } from './keys.js';
import { mfaRoutes } from './mfa.js';
import { openApiDocument } from './openapi.js';
import { route, type AdminRoute, type Operator } from './route.js';
import { sessionRoutes } from './sessions.js';
import { tenantRoutes } from './tenants.js';
import { userRoutes } from './users.js';

export const ADMIN_API_PREFIX = '/admin/api/v1';

const meRoute = route({
  method: 'GET', path: '/me', operationId: 'getOperator', tag: 'operator', summary: 'Who the token belongs to, and which tenants they manage',
  response: z.object({ id: z.string(), username: z.string(), tenants: z.array(z.string()).nullable().describe('null: a global operator') }),
  handler: async ({ operator }) => ({ id: operator.user.id, username: operator.user.username, tenants: operator.tenants }),
});

/** Every admin API operation, in one table: what is served and what the OpenAPI document describes. */
export const ADMIN_ROUTES: AdminRoute[] = [meRoute, ...tenantRoutes, ...clientRoutes, ...apiRoutes, ...userRoutes, ...sessionRoutes, ...keyRoutes, ...auditRoutes, ...dcrRoutes, ...mfaRoutes];

/** `redirect_uris[0]`, `token_exchange.audiences[1]`. */
const fieldOf = (path: PropertyKey[]): string =>
  path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : s ? `${s}.${String(p)}` : String(p)), '');

/** Validates one part of the request; the first problem becomes a 400 naming its field. */
function parsePart<T>(schema: z.ZodType<T> | undefined, value: unknown, part: string): T {
  if (!schema) return undefined as T;
  const r = schema.safeParse(value ?? (part === 'body' ? undefined : {}));
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
  const field = fieldOf([...issue.path, ...keys.slice(0, 1)]);
  const message = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message;
  const where = field || (part === 'body' ? 'request body' : part);
  throw new OAuthError('invalid_request', `${where}: ${message}`, field ? { field } : {});
}

/** A management function's refusal as the API's error: 400, 404 or 409. */
function fromInput(err: InputError): OAuthError {
  if (err.code === 'not_found') return new OAuthError('not_found', err.message);
  if (err.code === 'conflict' || err.code === 'email_conflict') return new OAuthError('conflict', err.message);
  return new OAuthError('invalid_request', err.message);
}

function manageDeps(services: Services, op: Operator): ManageDeps {
  return {
    storage: services.storage, clock: services.clock, random: services.random, log: services.log, publicUrl: services.config.publicUrl,
    // Audit events name the operator by user id: `operator:<id>` (the CLI is plain `operator`).
    actor: `operator:${op.user.id}`,
    sessionsEnded: (tenantId, userId, sids) => {
      void services.cache.tenant(tenantId).then((tenant) => {
        if (!tenant) return;
        const ctx = { tenant, issuer: issuerOf(services.config.publicUrl, tenant), commaScopes: false, services };
        for (const sid of sids) queueBackchannelLogout(ctx, { userId, sid });
      }, (err) => services.log.error({ err, tenant: tenantId }, 'back-channel logout could not be queued'));
    },
  };
}

async function handle(services: Services, r: AdminRoute, req: FastifyRequest) {
  let operator: Operator | undefined;
  let params: unknown;
  try {
    operator = await authenticateOperator(services, req);
    params = parsePart(r.params, req.params, 'path');
    const tenant = (params as { tenant?: string } | undefined)?.tenant;
    if (tenant !== undefined) requireTenantAccess(operator, tenant);
    if (r.globalOnly) requireGlobal(operator);
  } catch (err) {
    auditAdminRefusal(services, req, r.operationId, err, operator, (req.params as { tenant?: string } | undefined)?.tenant);
    throw err;
  }
  const query = parsePart(r.query, req.query, 'query');
  // JSON in (docs/admin-api.md): the app parses forms too, for the OAuth endpoints, but a form is no admin request.
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (r.body && req.body !== undefined && type !== 'application/json') {
    throw new OAuthError('invalid_request', `content type ${JSON.stringify(type)} is not supported here`);
  }
  const body = parsePart(r.body, req.body, 'body');
  try {
    return await r.handler({ services, operator: operator!, deps: manageDeps(services, operator!), params, query, body });
  } catch (err) {
    throw err instanceof InputError ? fromInput(err) : err;
  }
}

export function registerAdminApi(app: FastifyInstance, services: Services): void {
  for (const r of ADMIN_ROUTES) {
    app.route({
      method: r.method,
      url: ADMIN_API_PREFIX + r.path.replace(/\{(\w+)\}/g, ':$1'),
      handler: async (req, reply) => {
        const result = await handle(services, r, req);
        reply.code(r.status).header('cache-control', 'no-store');
        return r.status === 204 ? reply.send() : reply.send(result);
      },
    });
  }
  // Public: it describes the API, and holds nothing a caller could not learn by calling it.
  let document: object | undefined;
  app.get(`${ADMIN_API_PREFIX}/openapi.json`, async () => (document ??= openApiDocument(ADMIN_ROUTES, services.config.publicUrl)));
}
