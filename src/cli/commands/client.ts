import { readFileSync } from 'node:fs';
import { InputError } from '../../errors.js';
import { requireTenant } from '../../manage/tenants.js';
import { clientView, createClient, deleteClient, requireClient, rotateClientSecret, updateClient, type ClientInput } from '../../manage/clients.js';
import { flag, int, list, positional, required, split, str, toggle, type Options, type Values } from '../args.js';
import { describe, table, type Command } from '../command.js';

const CLIENT_OPTIONS: Options = {
  tenant: { type: 'string' },
  name: { type: 'string' },
  'redirect-uri': { type: 'string', multiple: true },
  'grant-types': { type: 'string' },
  scopes: { type: 'string' },
  'access-token-format': { type: 'string' },
  'access-token-ttl': { type: 'string' },
  'post-logout-redirect-uri': { type: 'string', multiple: true },
  'cors-origin': { type: 'string', multiple: true },
  'token-endpoint-auth-method': { type: 'string' },
  'jwks-uri': { type: 'string' },
  jwks: { type: 'string' },
  consent: { type: 'string' },
  'web-page': { type: 'boolean' },
  'no-web-page': { type: 'boolean' },
  'session-refresh-tokens': { type: 'boolean' },
  'no-session-refresh-tokens': { type: 'boolean' },
  'id-token-alg': { type: 'string' },
  'refresh-grace-seconds': { type: 'string' },
  'backchannel-logout-uri': { type: 'string' },
  'backchannel-logout-session-required': { type: 'boolean' },
  'no-backchannel-logout-session-required': { type: 'boolean' },
  'require-par': { type: 'boolean' },
  'no-require-par': { type: 'boolean' },
  'dpop-bound': { type: 'boolean' },
  'no-dpop-bound': { type: 'boolean' },
  'token-exchange-subject-client': { type: 'string', multiple: true },
  'token-exchange-audience': { type: 'string', multiple: true },
  'assertion-aud-token-endpoint': { type: 'boolean' },
  'no-assertion-aud-token-endpoint': { type: 'boolean' },
  'rate-limit': { type: 'string' },
};

function readJwks(path: string | undefined): object | undefined {
  if (path === undefined) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new InputError(`cannot read a JSON Web Key Set from ${path}: ${(err as Error).message}`);
  }
}

function input(v: Values): ClientInput {
  if (str(v, 'jwks') !== undefined && str(v, 'jwks-uri') !== undefined) throw new InputError('give --jwks or --jwks-uri, not both');
  return {
    name: str(v, 'name'),
    redirectUris: list(v, 'redirect-uri'),
    grantTypes: split(str(v, 'grant-types'), /,/),
    scopes: split(str(v, 'scopes'), /\s+/),
    public: flag(v, 'public'),
    accessTokenFormat: str(v, 'access-token-format'),
    accessTokenTtl: int(v, 'access-token-ttl'),
    postLogoutRedirectUris: list(v, 'post-logout-redirect-uri'),
    corsOrigins: list(v, 'cors-origin'),
    tokenEndpointAuthMethod: str(v, 'token-endpoint-auth-method'),
    jwksUri: str(v, 'jwks-uri'),
    jwks: readJwks(str(v, 'jwks')),
    consent: str(v, 'consent'),
    webPage: toggle(v, 'web-page'),
    sessionRefreshTokens: toggle(v, 'session-refresh-tokens'),
    idTokenAlg: str(v, 'id-token-alg'),
    refreshGraceSeconds: int(v, 'refresh-grace-seconds'),
    backchannelLogoutUri: str(v, 'backchannel-logout-uri'),
    backchannelLogoutSessionRequired: toggle(v, 'backchannel-logout-session-required'),
    requirePar: toggle(v, 'require-par'),
    dpopBoundAccessTokens: toggle(v, 'dpop-bound'),
    tokenExchangeSubjectClients: list(v, 'token-exchange-subject-client'),
    tokenExchangeAudiences: list(v, 'token-exchange-audience'),
    assertionAudienceTokenEndpoint: toggle(v, 'assertion-aud-token-endpoint'),
    rateLimit: str(v, 'rate-limit'),
  };
}

const FLAGS = '[--redirect-uri U]... [--grant-types a,b] [--scopes "s1 s2"] [--access-token-format jwt|opaque] [--access-token-ttl S] [--post-logout-redirect-uri U]... [--cors-origin O]... [--token-endpoint-auth-method M] [--jwks-uri U | --jwks FILE] [--consent required|skip] [--web-page | --no-web-page] [--session-refresh-tokens | --no-session-refresh-tokens] [--id-token-alg RS256|ES256|EdDSA] [--refresh-grace-seconds S] [--backchannel-logout-uri U] [--backchannel-logout-session-required | --no-backchannel-logout-session-required] [--require-par | --no-require-par] [--dpop-bound | --no-dpop-bound] [--token-exchange-subject-client C]... [--token-exchange-audience A]... [--assertion-aud-token-endpoint | --no-assertion-aud-token-endpoint] [--rate-limit N/WINDOW | --rate-limit off]';

export const clientCommands: Command[] = [
  {
    name: 'client create',
    usage: `client create --tenant T --name N [--public] ${FLAGS}`,
    arguments: 0,
    options: { ...CLIENT_OPTIONS, public: { type: 'boolean' } },
    async run({ values, env }) {
      const tenant = required(values, 'tenant');
      required(values, 'name');
      const fields = input(values);
      const { client, secret } = await createClient(await env.deps(), tenant, fields, env.config().tokens.maxAccessTokenTtl, { publicUrl: env.config().publicUrl });
      const v = clientView(client, secret);
      const note = secret ? '\n\nThe client secret is shown only now: store it safely.' : '';
      return { json: v, text: describe(v) + note };
    },
  },
  {
    name: 'client list',
    usage: 'client list --tenant T',
    arguments: 0,
    options: { tenant: { type: 'string' } },
    async run({ values, env }) {
      const deps = await env.deps();
      const tenant = (await requireTenant(deps, required(values, 'tenant'))).id;
      const rows = (await deps.storage.clients.list(tenant)).map((c) => clientView(c));
      return { json: { clients: rows }, text: table(rows, ['client_id', 'client_name', 'grant_types', 'token_endpoint_auth_method']) };
    },
  },
  {
    name: 'client show',
    usage: 'client show --tenant T CLIENT_ID',
    arguments: 1,
    options: { tenant: { type: 'string' } },
    positional: 'CLIENT_ID',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const id = positional(positionals, 0, 'CLIENT_ID');
      const v = clientView(await requireClient(await env.deps(), tenant, id));
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'client update',
    usage: `client update --tenant T CLIENT_ID [--name N] ${FLAGS}`,
    arguments: 1,
    options: CLIENT_OPTIONS,
    positional: 'CLIENT_ID',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const id = positional(positionals, 0, 'CLIENT_ID');
      const fields = input(values);
      const c = await updateClient(await env.deps(), tenant, id, fields, env.config().tokens.maxAccessTokenTtl, { publicUrl: env.config().publicUrl });
      const v = clientView(c);
      return { json: v, text: describe(v) };
    },
  },
  {
    name: 'client rotate-secret',
    usage: 'client rotate-secret --tenant T CLIENT_ID',
    arguments: 1,
    options: { tenant: { type: 'string' } },
    positional: 'CLIENT_ID',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const id = positional(positionals, 0, 'CLIENT_ID');
      const { client, secret } = await rotateClientSecret(await env.deps(), tenant, id);
      const v = clientView(client, secret);
      return { json: v, text: `${describe(v)}\n\nThe new client secret is shown only now: store it safely. The old one no longer works.` };
    },
  },
  {
    name: 'client delete',
    usage: 'client delete --tenant T CLIENT_ID',
    arguments: 1,
    options: { tenant: { type: 'string' } },
    positional: 'CLIENT_ID',
    async run({ values, positionals, env }) {
      const tenant = required(values, 'tenant');
      const id = positional(positionals, 0, 'CLIENT_ID');
      await deleteClient(await env.deps(), tenant, id);
      return { json: { deleted: { client_id: id } }, text: `deleted client ${id} and every token issued to it` };
    },
  },
];
