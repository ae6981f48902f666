/**
 * A structural check of an OpenAPI 3.1 document against what the specification requires
 * (OpenAPI 3.1.0 §4.8): the required fields of each object, path templates matched by path
 * parameters, unique operation ids, resolvable references and declared security schemes; each
 * schema must compile as JSON Schema 2020-12 (ajv, already installed with fastify).
 * Returns the problems found, none when the document is valid.
 */
import Ajv2020Module from 'ajv/dist/2020.js';

type Json = Record<string, any>;
const Ajv2020 = (Ajv2020Module as unknown as { default?: typeof Ajv2020Module }).default ?? Ajv2020Module;

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const LOCATIONS = ['query', 'header', 'path', 'cookie'];
const SCHEME_TYPES = ['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect'];

export function openApiProblems(doc: Json): string[] {
  const problems: string[] = [];
  const need = (cond: unknown, what: string) => {
    if (!cond) problems.push(what);
  };
  const ajv = new (Ajv2020 as any)({ strict: false, validateFormats: false });
  const schemaOk = (schema: unknown, where: string) => {
    if (typeof schema !== 'object' || schema === null) return problems.push(`${where}: schema is not an object`);
    if ('$ref' in (schema as Json)) return resolve((schema as Json).$ref, where);
    try {
      ajv.compile(schema);
    } catch (err) {
      problems.push(`${where}: not a valid JSON Schema 2020-12: ${(err as Error).message}`);
    }
  };
  const resolve = (ref: string, where: string) => {
    const target = ref.startsWith('#/') ? ref.slice(2).split('/').reduce<any>((o, k) => o?.[k], doc) : undefined;
    need(target !== undefined, `${where}: $ref ${ref} does not resolve`);
  };

  need(typeof doc.openapi === 'string' && /^3\.1\.\d+$/.test(doc.openapi), 'openapi must be 3.1.x');
  need(doc.info && typeof doc.info.title === 'string' && typeof doc.info.version === 'string', 'info needs title and version');
  need(doc.paths || doc.components || doc.webhooks, 'one of paths, components, webhooks is required');
  const schemes: Json = doc.components?.securitySchemes ?? {};
  for (const [name, s] of Object.entries(schemes)) {
    need(SCHEME_TYPES.includes(s.type), `securityScheme ${name}: unknown type ${s.type}`);
    if (s.type === 'oauth2') {
      need(s.flows && Object.keys(s.flows).length > 0, `securityScheme ${name}: oauth2 needs flows`);
      for (const [flow, f] of Object.entries<Json>(s.flows ?? {})) {
        if (flow === 'authorizationCode') need(typeof f.authorizationUrl === 'string' && typeof f.tokenUrl === 'string', `${name}.${flow}: needs authorizationUrl and tokenUrl`);
        need(typeof f.scopes === 'object', `${name}.${flow}: needs scopes`);
      }
    }
  }
  const checkSecurity = (reqs: Json[] | undefined, where: string) => {
    for (const req of reqs ?? []) {
      for (const [name, scopes] of Object.entries<string[]>(req)) {
        need(schemes[name], `${where}: security scheme ${name} is not declared`);
        const declared = Object.values<Json>(schemes[name]?.flows ?? {}).flatMap((f) => Object.keys(f.scopes ?? {}));
        if (schemes[name]?.type === 'oauth2') for (const s of scopes) need(declared.includes(s), `${where}: scope ${s} is not declared by ${name}`);
      }
    }
  };
  checkSecurity(doc.security, 'document');
  for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) schemaOk(schema, `components.schemas.${name}`);

  const operationIds = new Set<string>();
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    need(path.startsWith('/'), `path ${path} must start with /`);
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const [method, op] of Object.entries<Json>(item)) {
      const where = `${method.toUpperCase()} ${path}`;
      if (!METHODS.includes(method)) {
        problems.push(`${where}: not an HTTP method`);
        continue;
      }
      if (op.operationId !== undefined) {
        need(!operationIds.has(op.operationId), `${where}: operationId ${op.operationId} is not unique`);
        operationIds.add(op.operationId);
      }
      const params: Json[] = op.parameters ?? [];
      for (const p of params) {
        need(typeof p.name === 'string' && LOCATIONS.includes(p.in), `${where}: a parameter needs name and in`);
        need(('schema' in p) !== ('content' in p), `${where}: parameter ${p.name} needs schema or content`);
        if (p.in === 'path') need(p.required === true && templated.includes(p.name), `${where}: path parameter ${p.name} must be required and in the template`);
        if (p.schema) schemaOk(p.schema, `${where} parameter ${p.name}`);
      }
      for (const name of templated) need(params.some((p) => p.in === 'path' && p.name === name), `${where}: {${name}} has no path parameter`);
      if (op.requestBody) {
        need(op.requestBody.content && Object.keys(op.requestBody.content).length > 0, `${where}: requestBody needs content`);
        for (const [type, media] of Object.entries<Json>(op.requestBody.content ?? {})) schemaOk(media.schema, `${where} request ${type}`);
      }
      need(op.responses && Object.keys(op.responses).length > 0, `${where}: responses are required`);
      for (const [status, res] of Object.entries<Json>(op.responses ?? {})) {
        need(/^([1-5](\d\d|XX)|default)$/.test(status), `${where}: response key ${status} is not a status code`);
        if (res.$ref) {
          resolve(res.$ref, `${where} ${status}`);
          continue;
        }
        need(typeof res.description === 'string', `${where} ${status}: a response needs a description`);
        for (const [type, media] of Object.entries<Json>(res.content ?? {})) schemaOk(media.schema, `${where} ${status} ${type}`);
      }
      checkSecurity(op.security, where);
    }
  }
  return problems;
}
