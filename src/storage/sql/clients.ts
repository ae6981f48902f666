import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { ClientStore } from '../stores.js';
import type { Client } from '../types.js';
import { bumpConfigVersion, bumpIfChanged, json, parse, uniquely } from './common.js';

type Row = Database['clients'];

/** `MAX/WINDOW_SECONDS`, as written by toRow; absent from the Client when null. */
function parseRateLimitColumn(value: string): Client['rateLimit'] {
  const [max, windowSeconds] = value.split('/').map(Number);
  return { max, windowSeconds };
}

const toClient = (r: Row): Client => ({
  tenantId: r.tenant_id,
  clientId: r.id,
  name: r.name,
  secretDigest: r.secret_digest,
  tokenEndpointAuthMethod: r.token_endpoint_auth_method,
  grantTypes: parse(r.grant_types),
  redirectUris: parse(r.redirect_uris),
  postLogoutRedirectUris: parse(r.post_logout_redirect_uris),
  corsOrigins: parse(r.cors_origins),
  scopes: r.scopes ? r.scopes.split(' ') : [],
  accessTokenFormat: r.access_token_format as Client['accessTokenFormat'],
  accessTokenTtl: r.access_token_ttl,
  consent: r.consent as Client['consent'],
  webPage: r.web_page === 1,
  sessionRefreshTokens: r.session_refresh_tokens === 1,
  refreshGraceSeconds: Number(r.refresh_token_grace_seconds),
  idTokenAlg: r.id_token_signed_response_alg as Client['idTokenAlg'],
  jwks: parse(r.jwks),
  jwksUri: r.jwks_uri,
  backchannelLogoutUri: r.backchannel_logout_uri,
  backchannelLogoutSessionRequired: Number(r.backchannel_logout_session_required) === 1,
  requirePar: Number(r.require_par) === 1,
  dpopBoundAccessTokens: Number(r.dpop_bound_access_tokens) === 1,
  tokenExchangeSubjectClients: parse(r.token_exchange_subject_clients),
  tokenExchangeAudiences: parse(r.token_exchange_audiences),
  assertionAudienceTokenEndpoint: Number(r.assertion_aud_token_endpoint) === 1,
  ...(r.rate_limit && { rateLimit: parseRateLimitColumn(r.rate_limit) }),
  notBefore: Number(r.not_before),
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toRow = (c: Client): Row => ({
  tenant_id: c.tenantId,
  id: c.clientId,
  name: c.name,
  secret_digest: c.secretDigest,
  token_endpoint_auth_method: c.tokenEndpointAuthMethod,
  grant_types: json(c.grantTypes),
  redirect_uris: json(c.redirectUris),
  post_logout_redirect_uris: json(c.postLogoutRedirectUris),
  cors_origins: json(c.corsOrigins),
  scopes: c.scopes.join(' '),
  access_token_format: c.accessTokenFormat,
  access_token_ttl: c.accessTokenTtl,
  consent: c.consent,
  web_page: c.webPage ? 1 : 0,
  session_refresh_tokens: c.sessionRefreshTokens ? 1 : 0,
  refresh_token_grace_seconds: c.refreshGraceSeconds,
  id_token_signed_response_alg: c.idTokenAlg,
  jwks: c.jwks === null ? null : json(c.jwks),
  jwks_uri: c.jwksUri,
  backchannel_logout_uri: c.backchannelLogoutUri,
  backchannel_logout_session_required: c.backchannelLogoutSessionRequired ? 1 : 0,
  require_par: c.requirePar ? 1 : 0,
  dpop_bound_access_tokens: c.dpopBoundAccessTokens ? 1 : 0,
  token_exchange_subject_clients: json(c.tokenExchangeSubjectClients),
  token_exchange_audiences: json(c.tokenExchangeAudiences),
  assertion_aud_token_endpoint: c.assertionAudienceTokenEndpoint ? 1 : 0,
  rate_limit: c.rateLimit ? `${c.rateLimit.max}/${c.rateLimit.windowSeconds}` : null,
  not_before: c.notBefore,
  created_at: c.createdAt,
  updated_at: c.updatedAt,
});

export function clientStore(db: Kysely<Database>): ClientStore {
  return {
    async get(tenantId, clientId) {
      const r = await db.selectFrom('clients').selectAll().where('id', '=', clientId).where('tenant_id', '=', tenantId).executeTakeFirst();
      return r && toClient(r);
    },
    async list(tenantId) {
      const rows = await db.selectFrom('clients').selectAll().where('tenant_id', '=', tenantId).orderBy('created_at').orderBy('id').execute();
      return rows.map(toClient);
    },
    create: (c) =>
      uniquely(`client ${c.clientId}`, () =>
        db.transaction().execute(async (trx) => {
          await trx.insertInto('clients').values(toRow(c)).execute();
          await bumpConfigVersion(trx);
        }),
      ),
    update: (c) =>
      db.transaction().execute(async (trx) => {
        // not_before moves only through setNotBefore: an edit racing a revoke-before must not undo it.
        const { tenant_id, id, created_at, not_before, ...fields } = toRow(c);
        const r = await trx.updateTable('clients').set(fields).where('id', '=', id).where('tenant_id', '=', tenant_id).executeTakeFirst();
        return bumpIfChanged(trx, r.numUpdatedRows);
      }),
    setNotBefore: (tenantId, clientId, notBefore, now) =>
      db.transaction().execute(async (trx) => {
        const r = await trx
          .updateTable('clients')
          .set({ not_before: notBefore, updated_at: now })
          .where('id', '=', clientId)
          .where('tenant_id', '=', tenantId)
          .executeTakeFirst();
        return bumpIfChanged(trx, r.numUpdatedRows);
      }),
    delete: (tenantId, clientId) =>
      db.transaction().execute(async (trx) => {
        // Grants cascade to their artifacts and opaque tokens.
        await trx.deleteFrom('grants').where('tenant_id', '=', tenantId).where('client_id', '=', clientId).execute();
        const r = await trx.deleteFrom('clients').where('id', '=', clientId).where('tenant_id', '=', tenantId).executeTakeFirst();
        return bumpIfChanged(trx, r.numDeletedRows);
      }),
  };
}
