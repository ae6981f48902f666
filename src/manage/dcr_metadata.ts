import { OIDC_SCOPES } from '../endpoints/authorize_request.js';
import { InputError, OAuthError } from '../errors.js';
import type { Client, DcrPolicy } from '../storage/types.js';
import { clientView, responseTypesFor, type ClientInput } from './clients.js';
import { checkRedirectUri } from './validate.js';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

const metadataError = (description: string) => new OAuthError('invalid_client_metadata', description);
const redirectError = (description: string) => new OAuthError('invalid_redirect_uri', description);

/** Runs a manage-layer check, turning its InputError into the RFC 7591 §3.2.2 error. */
export function asMetadataError<T>(fn: () => T, make = metadataError): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InputError) throw make(err.message);
    throw err;
  }
}

/** The same, for the manage functions that store the client. */
export async function metadataChecked<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof InputError) throw metadataError(err.message);
    throw err;
  }
}

/**
 * RFC 7591 §2 client metadata → the fields of a client, checked against the tenant's policy.
 * Unknown members are ignored (§2); every value given is checked, so a full replacement (RFC
 * 7592 §2.2) gets the defaults for what it leaves out. URLs the server would call keep the SSRF
 * rules of manage/clients.ts; those it only shows must be https and are never fetched.
 */
export function clientInputFromMetadata(body: unknown, policy: DcrPolicy): ClientInput {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw metadataError('the request body must be a JSON object of client metadata');
  const m = body as Record<string, unknown>;
  const str = (k: string): string | undefined => {
    if (m[k] === undefined) return undefined;
    if (typeof m[k] !== 'string') throw metadataError(`${k} must be a string`);
    return m[k] as string;
  };
  const strings = (k: string): string[] | undefined => {
    if (m[k] === undefined) return undefined;
    if (!Array.isArray(m[k]) || !(m[k] as unknown[]).every((v) => typeof v === 'string')) throw metadataError(`${k} must be an array of strings`);
    return m[k] as string[];
  };
  const bool = (k: string): boolean | undefined => {
    if (m[k] === undefined) return undefined;
    if (typeof m[k] !== 'boolean') throw metadataError(`${k} must be true or false`);
    return m[k] as boolean;
  };
  // The server fetches no sector identifier document (OIDC Registration §5), so it cannot check one.
  if (m.sector_identifier_uri !== undefined) throw metadataError('sector_identifier_uri is not supported');
  for (const k of ['client_uri', 'logo_uri', 'policy_uri', 'tos_uri']) {
    const v = str(k);
    if (v === undefined) continue;
    let url: URL | undefined;
    try {
      url = new URL(v);
    } catch {
      url = undefined;
    }
    if (!url || url.protocol !== 'https:' || url.username || url.password) throw metadataError(`${k} must be an https URL`);
  }

  const redirectUris = strings('redirect_uris') ?? [];
  for (const uri of redirectUris) {
    // Exact matching only (SECURITY-CHECKLIST 1): a pattern is never a redirect URI.
    if (uri.includes('*')) throw redirectError(`redirect URI ${uri} must not contain a wildcard`);
    asMetadataError(() => checkRedirectUri(uri), redirectError);
  }
  // RFC 7591 §2: grant_types defaults to authorization_code.
  const grantTypes = strings('grant_types') ?? ['authorization_code'];
  for (const g of grantTypes) {
    if (g === 'password' && !policy.allowPassword) throw metadataError('grant_types: the password grant is not allowed for registered clients');
    if (g === TOKEN_EXCHANGE && !policy.allowTokenExchange) throw metadataError('grant_types: token exchange is not allowed for registered clients');
    if (!policy.grantTypes.includes(g)) throw metadataError(`grant_types: ${g} is not allowed for registered clients`);
  }
  if ((grantTypes.includes('authorization_code') || grantTypes.includes('implicit')) && redirectUris.length === 0) {
    throw redirectError('redirect_uris is required for the authorization_code and implicit grants');
  }
  // RFC 7591 §2.1: response_types must agree with grant_types.
  const allowedResponses = responseTypesFor(grantTypes);
  for (const r of strings('response_types') ?? []) {
    if (!allowedResponses.includes(r)) throw metadataError(`response_types: ${r} does not follow from grant_types`);
  }
  const scopes = (str('scope') ?? '').split(' ').filter(Boolean);
  for (const s of scopes) {
    if (!OIDC_SCOPES.has(s) && !policy.scopes.includes(s)) throw metadataError(`scope: ${s} is not allowed for registered clients`);
  }
  const consent = str('consent');
  if (consent === 'skip' && !policy.allowConsentSkip) throw metadataError('consent: skipping consent is not allowed for registered clients');
  const webPage = bool('web_page');
  if (webPage && !policy.allowWebPage) throw metadataError('web_page: response_mode=web_page is not allowed for registered clients');
  const method = str('token_endpoint_auth_method') ?? 'client_secret_basic';
  const jwks = m.jwks;
  if (jwks !== undefined && (typeof jwks !== 'object' || jwks === null)) throw metadataError('jwks must be a JSON Web Key Set');

  return {
    name: str('client_name') ?? 'Dynamically registered client',
    redirectUris,
    grantTypes,
    scopes,
    public: method === 'none',
    tokenEndpointAuthMethod: method,
    postLogoutRedirectUris: strings('post_logout_redirect_uris') ?? [],
    corsOrigins: strings('cors_origins') ?? [],
    jwksUri: str('jwks_uri'),
    jwks: jwks as object | undefined,
    consent: consent ?? 'required',
    webPage: webPage ?? false,
    idTokenAlg: str('id_token_signed_response_alg'),
    backchannelLogoutUri: str('backchannel_logout_uri') ?? null,
    backchannelLogoutSessionRequired: bool('backchannel_logout_session_required') ?? true,
    requirePar: bool('require_pushed_authorization_requests') ?? false,
    dpopBoundAccessTokens: bool('dpop_bound_access_tokens') ?? false,
  };
}

/** RFC 7591 §3.2.1 / RFC 7592 §3: the client information response. */
export function registrationView(c: Client, clientUri: string, registrationToken: string, secret?: string): Record<string, unknown> {
  const { tenant: _tenant, created_at: _created, updated_at: _updated, ...metadata } = clientView(c);
  return {
    ...metadata,
    ...(secret !== undefined && { client_secret: secret, client_secret_expires_at: 0 }),
    client_id_issued_at: c.createdAt,
    registration_access_token: registrationToken,
    registration_client_uri: clientUri,
  };
}
