/**
 * The admin API in process: an app with the `admin` tenant and its console client, operators
 * made as the management functions make them, and admin tokens issued under the console client
 * (opaque, under a grant of their own, as `tessera token issue --client tessera-admin-console` does).
 */
import Ajv2020Module from 'ajv/dist/2020.js';
import { ensureAdminTenant, CONSOLE_CLIENT_ID } from '../../src/admin/bootstrap.js';
import { openApiDocument } from '../../src/admin/openapi.js';
import { ADMIN_ROUTES } from '../../src/admin/routes.js';
import { issuerOf } from '../../src/http/context.js';
import { ADMIN_TENANT } from '../../src/manage/tenants.js';
import { createUser } from '../../src/manage/users.js';
import { issuePersonalToken } from '../../src/manage/personal_tokens.js';
import type { User } from '../../src/storage/types.js';
import { startTestApp, type TestApp } from '../helpers.js';

export const OPERATOR_PASSWORD = 'operator-pass-1234';

export async function startAdminApp(backend: 'sqlite' | 'postgres', options: Parameters<typeof startTestApp>[1] = {}): Promise<TestApp> {
  const t = await startTestApp(backend, options);
  await ensureAdminTenant(t.deps, t.config.publicUrl);
  t.services.cache.clear();
  return t;
}

/** An operator: a user of the admin tenant, global unless given tenants. */
export async function makeOperator(t: TestApp, username: string, tenants: string[] | null = null): Promise<User> {
  const user = await createUser(t.deps, ADMIN_TENANT, { username, password: OPERATOR_PASSWORD });
  if (tenants) await t.storage.operators.setScope(user.id, tenants);
  return user;
}

/** An access token of `tenant` for `user` under `clientId`, with `scopes`. */
export async function tokenFor(t: TestApp, user: User, scopes = ['admin'], clientId = CONSOLE_CLIENT_ID): Promise<string> {
  const tenant = (await t.storage.tenants.get(user.tenantId))!;
  const client = (await t.storage.clients.get(user.tenantId, clientId))!;
  const issued = await issuePersonalToken(t.deps, { tenant, issuer: issuerOf(t.config.publicUrl, tenant), user, client, apis: [], scopes, expiresIn: 3600 });
  return issued.value;
}

const Ajv2020 = (Ajv2020Module as unknown as { default?: typeof Ajv2020Module }).default ?? Ajv2020Module;
let validators: { method: string; path: RegExp; status: string; validate: (body: unknown) => boolean; errors: () => unknown }[] | undefined;

/**
 * Every successful answer of these tests is checked against the response schema the OpenAPI
 * document gives for its operation (additionalProperties false): the document matches the server.
 */
export function checkAgainstDocument(method: string, url: string, status: number, body: unknown): void {
  if (!validators) {
    const ajv = new (Ajv2020 as any)({ strict: false, validateFormats: false });
    const doc = openApiDocument(ADMIN_ROUTES, 'http://tessera.test') as { paths: Record<string, Record<string, any>> };
    validators = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).flatMap(([m, op]) =>
        Object.entries<any>(op.responses).filter(([, r]) => r.content).map(([code, r]) => {
          const schema = r.content['application/json'].schema;
          const v = ajv.compile(schema.$ref === '#/components/schemas/Error' ? (doc as any).components.schemas.Error : schema);
          return { method: m.toUpperCase(), path: new RegExp(`^${path.replace(/\{\w+\}/g, '[^/]+')}$`), status: code, validate: (b: unknown) => v(b) as boolean, errors: () => v.errors };
        }),
      ),
    );
  }
  const path = url.split('?')[0];
  const v = validators.find((x) => x.method === method && x.status === String(status) && x.path.test(path));
  if (status < 300 && body !== undefined && !v) throw new Error(`${method} ${path} answered ${status}, which the OpenAPI document does not describe`);
  if (v && !v.validate(body)) throw new Error(`${method} ${path} ${status}: the body does not match the OpenAPI document: ${JSON.stringify(v.errors())}`);
}

export interface Answer {
  status: number;
  body: any;
  headers: Record<string, unknown>;
}

/** The admin API as one operator calls it. */
export function adminApi(t: TestApp, token: string | undefined) {
  const call = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, payload?: unknown): Promise<Answer> => {
    const res = await t.app.inject({
      method, url: `/admin/api/v1${path}`,
      headers: { ...(token !== undefined && { authorization: `Bearer ${token}` }), ...(payload !== undefined && { 'content-type': 'application/json' }) },
      ...(payload !== undefined && { payload: JSON.stringify(payload) }),
    });
    const body = res.body ? res.json() : undefined;
    checkAgainstDocument(method, path, res.statusCode, body);
    return { status: res.statusCode, body, headers: res.headers };
  };
  return {
    get: (path: string) => call('GET', path),
    post: (path: string, body?: unknown) => call('POST', path, body),
    patch: (path: string, body: unknown) => call('PATCH', path, body),
    del: (path: string) => call('DELETE', path),
  };
}
