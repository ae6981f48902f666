import { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import type { FormParams } from '../http/form.js';
import { redirectUriMatches } from '../http/redirect_uri.js';
import { responseTypesFor } from '../manage/clients.js';
import { checkRedirectUri } from '../manage/validate.js';
import type { Client } from '../storage/types.js';
import { parseScope } from '../tokens/scope.js';

export type ResponseMode = 'query' | 'fragment' | 'form_post' | 'web_page';

/** A validated authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1). */
export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  /** Whether the request named redirect_uri (then the token request must repeat it, RFC 6749 §4.1.3). */
  redirectUriGiven: boolean;
  /** Space-separated and sorted, e.g. "code id_token". */
  responseType: string;
  responseMode: ResponseMode;
  scopes: string[];
  audience?: string;
  resources: string[];
  state?: string;
  nonce?: string;
  prompt: string[];
  maxAge?: number;
  /** OIDC Core §3.1.2.1 `acr_values`, in order of preference (mfa/policy.ts decides what they demand). */
  acrValues?: string[];
  loginHint?: string;
  codeChallenge?: string;
  /** RFC 9449 §10 `dpop_jkt`: the DPoP key the code is bound to (code flows only). */
  dpopJkt?: string;
  /** Storage key of the pushed request (RFC 9126) it came from, spent when the response is issued. */
  pushedRequest?: string;
}

/** Scopes every client may ask for: they belong to OpenID Connect, not to an API. */
export const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

const RESPONSE_TYPES = new Set(['code', 'token', 'id_token', 'code id_token', 'code token', 'id_token token', 'code id_token token']);
const MODES = new Set(['query', 'fragment', 'form_post', 'web_page']);
const PROMPTS = new Set(['none', 'login', 'consent', 'select_account', 'create']);

const normalize = (rt: string): string => rt.split(' ').filter(Boolean).sort().join(' ');

/** Step 1 (RFC 6749 §4.1.2.1): the client and the redirect URI. Failing here renders a page, never a redirect. */
export async function resolveClientAndRedirect(ctx: TenantContext, params: FormParams): Promise<{ client: Client; redirectUri: string; given: boolean }> {
  const clientId = params.get('client_id');
  if (!clientId) throw new OAuthError('invalid_request', 'client_id is missing');
  const client = await ctx.services.cache.client(ctx.tenant.id, clientId);
  if (!client) throw new OAuthError('invalid_request', 'the client is not known', { status: 400 });
  const presented = params.get('redirect_uri');
  if (presented !== undefined) {
    if (!client.redirectUris.some((r) => redirectUriMatches(r, presented))) {
      throw new OAuthError('invalid_request', 'redirect_uri is not registered for this client');
    }
    // The registration rules hold at use too (SECURITY-CHECKLIST 3): a row that bypassed them
    // (an import, a hand edit) still never sends a code over plain http or to javascript:.
    try {
      checkRedirectUri(presented);
    } catch (err) {
      throw new OAuthError('invalid_request', `redirect_uri is not acceptable: ${(err as Error).message}`);
    }
    return { client, redirectUri: presented, given: true };
  }
  // OIDC Core §3.1.2.1: redirect_uri is REQUIRED in OpenID requests.
  const scope = params.get('scope') ?? '';
  if (/(^|[ ,])openid([ ,]|$)/.test(scope)) throw new OAuthError('invalid_request', 'redirect_uri is required for OpenID Connect requests');
  // RFC 6749 §3.1.2.3: without redirect_uri, the client must have exactly one registered.
  if (client.redirectUris.length !== 1) throw new OAuthError('invalid_request', 'redirect_uri is required: the client has several (or no) registered redirect URIs');
  return { client, redirectUri: client.redirectUris[0], given: false };
}

/** The response mode to deliver an error in, before the request is fully validated. */
export function errorResponseMode(params: FormParams): ResponseMode {
  const mode = safeGet(params, 'response_mode');
  if (mode === 'query' || mode === 'fragment' || mode === 'form_post') return mode;
  const rt = safeGet(params, 'response_type') ?? '';
  return /token/.test(rt) ? 'fragment' : 'query';
}

/** A parameter read for an error response: a repeated one counts as absent instead of throwing. */
export function safeGet(params: FormParams, name: string): string | undefined {
  try {
    return params.get(name);
  } catch {
    return undefined;
  }
}

/** Step 2: everything else. Errors from here on are sent to the validated redirect URI. */
export function validateRequest(ctx: TenantContext, client: Client, redirect: { redirectUri: string; given: boolean }, params: FormParams): AuthorizationRequest {
  if (params.get('request') !== undefined) throw new OAuthError('request_not_supported', 'request objects are not supported');
  if (params.get('request_uri') !== undefined) throw new OAuthError('request_uri_not_supported', 'request_uri is not supported');
  const rawType = params.get('response_type');
  if (!rawType) throw new OAuthError('invalid_request', 'response_type is missing');
  const responseType = normalize(rawType);
  if (!RESPONSE_TYPES.has(responseType)) throw new OAuthError('unsupported_response_type', `response_type ${rawType} is not supported`);
  if (!responseTypesFor(client.grantTypes).map(normalize).includes(responseType)) {
    const flow = responseType === 'code' ? 'Standard flow' : 'Implicit flow';
    // Wording of the Keycloak-style seed; rendered as a 400 page by the endpoint.
    throw new OAuthError('unauthorized_client', `Client is not allowed to initiate browser login with given response_type. ${flow} is disabled for the client.`);
  }
  const carriesTokens = responseType !== 'code';
  const mode = params.get('response_mode') ?? (carriesTokens ? 'fragment' : 'query');
  if (!MODES.has(mode)) throw new OAuthError('invalid_request', `response_mode ${mode} is not supported`);
  // OAuth 2.0 Multiple Response Type Encoding Practices §3.0 and RFC 9700 §4.3: tokens never travel in a query.
  if (mode === 'query' && carriesTokens) throw new OAuthError('invalid_request', 'response_mode query cannot carry tokens; use fragment or form_post');
  if (mode === 'web_page') {
    if (responseType !== 'token') throw new OAuthError('invalid_request', 'response_mode web_page is only for response_type token');
    if (!client.webPage) throw new OAuthError('unauthorized_client', 'the client is not allowed to use response_mode web_page');
  }

  const scopes = parseScope(params.get('scope'), ctx.commaScopes) ?? [];
  for (const s of scopes) {
    if (!OIDC_SCOPES.has(s) && !client.scopes.includes(s)) throw new OAuthError('invalid_scope', `the client may not request scope ${s}`);
  }
  const nonce = params.get('nonce');
  // OIDC Core §3.2.2.1 / §3.3.2.11: nonce is REQUIRED when an ID token comes from this endpoint.
  if (responseType.includes('id_token') && !nonce) throw new OAuthError('invalid_request', 'nonce is required when an ID token is returned from the authorization endpoint');
  if (responseType.includes('id_token') && !scopes.includes('openid')) throw new OAuthError('invalid_scope', 'response_type id_token needs scope openid');

  const prompt = (params.get('prompt') ?? '').split(' ').filter(Boolean);
  const unknownPrompt = prompt.find((p) => !PROMPTS.has(p));
  if (unknownPrompt) throw new OAuthError('invalid_request', `prompt ${unknownPrompt} is not supported`);
  if (prompt.includes('none') && prompt.length > 1) throw new OAuthError('invalid_request', 'prompt none cannot be combined with other values');
  const maxAgeRaw = params.get('max_age');
  if (maxAgeRaw !== undefined && !/^\d{1,9}$/.test(maxAgeRaw)) throw new OAuthError('invalid_request', 'max_age must be a non-negative whole number of seconds');

  const codeChallenge = params.get('code_challenge');
  const method = params.get('code_challenge_method');
  if (responseType.includes('code')) {
    // RFC 9700 §2.1.1: S256 only; public clients must use PKCE.
    if (method !== undefined && method !== 'S256') throw new OAuthError('invalid_request', `code_challenge_method ${method} is not allowed; use S256`);
    if (codeChallenge !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) throw new OAuthError('invalid_request', 'code_challenge must be a base64url SHA-256 value (43 characters)');
    if (codeChallenge !== undefined && method === undefined) throw new OAuthError('invalid_request', 'code_challenge_method is required (S256)');
    if (codeChallenge === undefined && client.tokenEndpointAuthMethod === 'none') throw new OAuthError('invalid_request', 'PKCE is required for public clients: send code_challenge with code_challenge_method S256');
  }
  const dpopJkt = params.get('dpop_jkt');
  // RFC 9449 §10: the RFC 7638 SHA-256 thumbprint of the key the token request will prove.
  if (dpopJkt !== undefined && !/^[A-Za-z0-9_-]{43}$/.test(dpopJkt)) throw new OAuthError('invalid_request', 'dpop_jkt must be a base64url SHA-256 JWK thumbprint (43 characters)');
  return {
    clientId: client.clientId,
    redirectUri: redirect.redirectUri,
    redirectUriGiven: redirect.given,
    responseType,
    responseMode: mode as ResponseMode,
    scopes,
    audience: params.get('audience'),
    resources: params.all('resource'),
    state: params.get('state'),
    nonce,
    prompt,
    maxAge: maxAgeRaw === undefined ? undefined : Number(maxAgeRaw),
    ...(params.get('acr_values') !== undefined && { acrValues: params.get('acr_values')!.split(' ').filter(Boolean) }),
    loginHint: params.get('login_hint'),
    codeChallenge: responseType.includes('code') ? codeChallenge : undefined,
    ...(dpopJkt !== undefined && responseType.includes('code') && { dpopJkt }),
  };
}
