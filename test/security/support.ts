/**
 * Shared pieces of the SECURITY-CHECKLIST tests (test/security/*.test.ts): black-box helpers
 * over app.inject — a browser that signs in and consents, parsers for redirects and pages,
 * token requests and ID-token checks. Nothing here reaches into src/ beyond test setup.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { expect } from 'vitest';
import { basic, form, FORM_HEADERS, PUBLIC_URL } from '../helpers.js';
import { formOf, InjectBrowser, pathOf } from '../support/inject_browser.js';

export const ISSUER = `${PUBLIC_URL}/realms/default`;
export const AUTH = '/realms/default/protocol/openid-connect/auth';
export const TOKEN = '/realms/default/protocol/openid-connect/token';
export const USERINFO = '/realms/default/protocol/openid-connect/userinfo';
export const CERTS = '/realms/default/protocol/openid-connect/certs';
export const AUTHENTICATE = '/realms/default/login-actions/authenticate';
export const CONSENT = '/realms/default/login-actions/consent';

export const PASSWORD = 'correct horse battery';

export const pkce = () => {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
};

/** The left half of the SHA-256 of a value, base64url: at_hash / c_hash for RS256 (OIDC Core §3.3.2.11). */
export const halfSha256 = (value: string): string => createHash('sha256').update(value, 'ascii').digest().subarray(0, 16).toString('base64url');

/** An authorization URL; undefined values are left out. */
export function authUrl(params: Record<string, string | undefined>, path = AUTH): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) p.append(k, v);
  return `${path}?${p}`;
}

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** The content of a page's <main>. */
export const mainOf = (html: string): string => /<main>([\s\S]*)<\/main>/.exec(html)?.[1] ?? `(no <main> in ${html.slice(0, 200)})`;

/** What Tessera's error page shows inside <main> for a message. */
export const errorMain = (message: string) =>
  `<h1>We could not start the sign-in</h1><p class="error" role="alert">${escape(message)}</p>\n<p class="muted">You can close this page and return to the application.</p>`;

/** A compact view of an error-page response, to compare whole with `errorPage(...)`. */
export const pageView = (res: LightMyRequestResponse) => ({
  status: res.statusCode,
  location: res.headers.location,
  type: res.headers['content-type'],
  main: mainOf(res.body),
});

export const errorPage = (message: string, status = 400) => ({ status, location: undefined, type: 'text/html; charset=utf-8', main: errorMain(message) });

/** A Location (or form_post action) split into the target, its query and its fragment parameters. */
export function parseLocation(location: string | undefined): { target: string; query: Record<string, string>; fragment: Record<string, string> } {
  if (location === undefined) return { target: '(no location)', query: {}, fragment: {} };
  const hash = location.indexOf('#');
  const beforeHash = hash < 0 ? location : location.slice(0, hash);
  const q = beforeHash.indexOf('?');
  const target = q < 0 ? beforeHash : beforeHash.slice(0, q);
  const entries = (s: string) => {
    const list = [...new URLSearchParams(s)];
    const obj = Object.fromEntries(list);
    // No parameter may appear twice.
    expect(Object.keys(obj).length, `repeated parameter in ${location}`).toBe(list.length);
    return obj;
  };
  return { target, query: q < 0 ? {} : entries(beforeHash.slice(q + 1)), fragment: hash < 0 ? {} : entries(location.slice(hash + 1)) };
}

/** A redirect response as status, target and parameters. */
export const redirectView = (res: LightMyRequestResponse) => ({ status: res.statusCode, ...parseLocation(res.headers.location as string | undefined) });

export const SESSION_STATE = expect.stringMatching(/^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{16}$/);
export const CODE = expect.stringMatching(/^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);

export const isLoginPage = (res: LightMyRequestResponse) => res.statusCode === 200 && res.body.includes('name="password"');
export const isConsentPage = (res: LightMyRequestResponse) => res.statusCode === 200 && res.body.includes('name="decision"');

/**
 * Follows an authorization request through Tessera's pages like a user: signs in if asked,
 * answers the consent page if shown. Returns the last response and what was seen.
 */
export async function drive(
  b: InjectBrowser,
  url: string,
  opts: { username?: string; password?: string; decision?: 'allow' | 'deny' } = {},
): Promise<{ res: LightMyRequestResponse; sawLogin: boolean; sawConsent: boolean }> {
  let res = await b.get(url);
  let sawLogin = false;
  let sawConsent = false;
  if (isLoginPage(res)) {
    sawLogin = true;
    const f = formOf(res.body);
    res = await b.post(pathOf(f.action), { ...f.fields, username: opts.username ?? 'alice', password: opts.password ?? PASSWORD });
  }
  if (isConsentPage(res)) {
    sawConsent = true;
    const f = formOf(res.body);
    res = await b.post(pathOf(f.action), { ...f.fields, decision: opts.decision ?? 'allow' });
  }
  return { res, sawLogin, sawConsent };
}

export interface TestClient {
  id: string;
  secret?: string;
}

/** A token request, authenticated with HTTP Basic for a confidential client, by client_id for a public one. */
export function tokenRequest(app: FastifyInstance, client: TestClient, fields: Record<string, string | undefined>, url = TOKEN) {
  const body: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) body[k] = v;
  if (client.secret === undefined) body.client_id = client.id;
  return app.inject({
    method: 'POST', url,
    headers: { ...FORM_HEADERS, ...(client.secret !== undefined && { authorization: basic(client.id, client.secret) }) },
    payload: form(body),
  });
}

export const jsonView = (res: LightMyRequestResponse) => ({ status: res.statusCode, body: res.json() });

export const invalidGrant = (description: string) => ({ status: 400, body: { error: 'invalid_grant', error_description: description } });

/** Verifies a JWT against the tenant's JWKS at the test clock's time; returns header and payload. */
export async function verifyJwt(app: FastifyInstance, token: string, nowMs: number, options: { audience?: string; typ?: string } = {}) {
  const jwks = createLocalJWKSet((await app.inject({ url: CERTS })).json());
  const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer: ISSUER, currentDate: new Date(nowMs), ...options });
  return { header: protectedHeader, payload: payload as JWTPayload & Record<string, unknown> };
}

export const headerOf = (jwt: string) => decodeProtectedHeader(jwt);

/** Header names a CORS-aware browser would act on. */
export const corsHeaders = (res: LightMyRequestResponse) => Object.keys(res.headers).filter((h) => h.toLowerCase().startsWith('access-control-'));

export { formOf, InjectBrowser, pathOf };
