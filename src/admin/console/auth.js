// Signing in to the admin tenant as a public client (authorization code + PKCE, RFC 7636), and
// calling the admin API with the access token. Tokens live in sessionStorage (this tab only,
// gone when it closes), never in a cookie the server could read.

const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
export const BASE = meta('tessera-base');
export const PUBLIC_URL = meta('tessera-public-url');
export const ISSUER = `${PUBLIC_URL}/realms/${meta('tessera-admin-tenant')}`;
const CLIENT_ID = meta('tessera-client-id');
const REDIRECT_URI = `${PUBLIC_URL}/admin/callback`;
const API = `${BASE}/admin/api/v1`;
const TOKEN_ENDPOINT = `${ISSUER}/protocol/openid-connect/token`;

const PENDING = 'tessera.console.pending';
const TOKENS = 'tessera.console.tokens';

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

/** Goes to the admin tenant's authorization endpoint; `returnTo` is the console page to come back to. */
export async function signIn(returnTo = location.hash || '#/overview') {
  const verifier = random(32);
  const state = random(16);
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PENDING, JSON.stringify({ verifier, state, returnTo }));
  const params = new URLSearchParams({
    response_type: 'code', client_id: CLIENT_ID, redirect_uri: REDIRECT_URI, scope: 'openid admin',
    state, code_challenge: challenge, code_challenge_method: 'S256',
  });
  location.assign(`${ISSUER}/protocol/openid-connect/auth?${params}`);
}

async function tokenRequest(params) {
  const res = await fetch(TOKEN_ENDPOINT, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: CLIENT_ID, ...params }) });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error_description ?? body.error ?? `token endpoint answered ${res.status}`);
  return body;
}

function keep(body, previous = {}) {
  const tokens = {
    access_token: body.access_token, refresh_token: body.refresh_token ?? previous.refresh_token,
    id_token: body.id_token ?? previous.id_token, expires_at: Date.now() + (body.expires_in ?? 300) * 1000,
  };
  sessionStorage.setItem(TOKENS, JSON.stringify(tokens));
  return tokens;
}

const stored = () => JSON.parse(sessionStorage.getItem(TOKENS) ?? 'null');
export const signedIn = () => stored() !== null;

/**
 * On /admin/callback: checks `state`, exchanges the code with the PKCE verifier, and returns the
 * console page to show. Throws with the authorization server's error description.
 */
export async function completeSignIn() {
  const q = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null');
  sessionStorage.removeItem(PENDING);
  // The code must not stay in the address bar or the history.
  history.replaceState(null, '', `${BASE}/admin`);
  if (!pending || q.get('state') !== pending.state) throw new Error('This sign-in was not started here, or has already completed. Sign in again.');
  if (q.get('error')) throw new Error(q.get('error_description') ?? q.get('error'));
  const body = await tokenRequest({ grant_type: 'authorization_code', code: q.get('code') ?? '', redirect_uri: REDIRECT_URI, code_verifier: pending.verifier });
  if (!String(body.scope ?? '').split(' ').includes('admin')) throw new Error('The token does not carry the admin scope.');
  keep(body);
  return pending.returnTo;
}

let refreshing;
/** A session refresh token (the console client has them) renews the access token; otherwise sign in again. */
async function refresh() {
  const t = stored();
  if (!t?.refresh_token) return undefined;
  refreshing ??= tokenRequest({ grant_type: 'refresh_token', refresh_token: t.refresh_token })
    .then((body) => keep(body, t), () => undefined)
    .finally(() => (refreshing = undefined));
  return refreshing;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error_description ?? body?.error ?? `the admin API answered ${status}`);
    this.status = status;
    this.error = body?.error;
    this.field = body?.field;
  }
}

/** Called when the session is gone for good (refresh refused): the app shows the sign-in page. */
export let onSignedOut = () => {};
export const setSignedOutHandler = (f) => (onSignedOut = f);

/** One admin API call: JSON in and out, `Authorization: Bearer`. */
export async function api(method, path, body) {
  let t = stored();
  if (!t) {
    onSignedOut();
    throw new ApiError(401, { error_description: 'not signed in' });
  }
  if (t.expires_at - Date.now() < 10_000) t = (await refresh()) ?? t;
  const call = (token) =>
    fetch(API + path, {
      method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  let res = await call(t.access_token);
  if (res.status === 401) {
    const renewed = await refresh();
    if (renewed) res = await call(renewed.access_token);
  }
  if (res.status === 401) {
    sessionStorage.removeItem(TOKENS);
    onSignedOut();
  }
  if (res.status === 204) return undefined;
  const answer = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, answer);
  return answer;
}

/** Every page of a list (bounded). */
export async function all(path, max = 20) {
  const items = [];
  let cursor;
  for (let i = 0; i < max; i++) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api('GET', `${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    if (!page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return items;
}

/**
 * Ends the session at the admin tenant: the refresh token is revoked, then the browser goes to
 * the end-session endpoint (OIDC RP-Initiated Logout) and comes back to the console.
 */
export async function signOut() {
  const t = stored();
  sessionStorage.removeItem(TOKENS);
  if (t?.refresh_token) {
    await fetch(`${ISSUER}/protocol/openid-connect/revoke`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: CLIENT_ID, token: t.refresh_token, token_type_hint: 'refresh_token' }),
    }).catch(() => undefined);
  }
  const params = new URLSearchParams({ client_id: CLIENT_ID, post_logout_redirect_uri: `${PUBLIC_URL}/admin` });
  if (t?.id_token) params.set('id_token_hint', t.id_token);
  location.assign(`${ISSUER}/protocol/openid-connect/logout?${params}`);
}
