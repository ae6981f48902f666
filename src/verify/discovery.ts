import { VerifyError } from './errors.js';
import type { FetchLike } from './options.js';

/** What the verifier needs from the authorization server's metadata. */
export interface ServerEndpoints {
  jwksUri: string | undefined;
  introspectionEndpoint: string | undefined;
}

/**
 * GETs a JSON document from the authorization server. A network error, a timeout or a 5xx
 * is `temporarily_unavailable` (503: the caller may retry); anything else unexpected is a
 * `server_error` (the API is misconfigured). Neither is the caller's fault.
 */
export async function fetchJson(fetchFn: FetchLike, url: string, timeoutMs: number, init: RequestInit = {}): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await fetchFn(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json', ...(init.headers as Record<string, string>) } });
  } catch (cause) {
    throw new VerifyError('temporarily_unavailable', 'the authorization server could not be reached', { cause });
  }
  if (res.status >= 500) throw new VerifyError('temporarily_unavailable', `the authorization server answered ${res.status}`);
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) };
  } catch (cause) {
    throw new VerifyError('server_error', `the authorization server answered ${res.status} without JSON at ${new URL(url).pathname}`, { cause });
  }
}

/**
 * The metadata URLs of an issuer: OpenID Connect Discovery §4 (`{issuer}/.well-known/openid-configuration`),
 * then RFC 8414 §3.1 (the well-known segment between host and path).
 */
function metadataUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  return [`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, `${url.origin}/.well-known/oauth-authorization-server${path}`];
}

/**
 * Reads the issuer's metadata. Its `issuer` must be exactly the configured one (RFC 8414
 * §3.3, OIDC Discovery §4.3), or the endpoints could belong to another server.
 */
export async function discover(fetchFn: FetchLike, issuer: string, timeoutMs: number): Promise<ServerEndpoints> {
  let failure: VerifyError | undefined;
  for (const url of metadataUrls(issuer)) {
    let answer: { status: number; body: unknown };
    try {
      answer = await fetchJson(fetchFn, url, timeoutMs);
    } catch (err) {
      // The other placement may still answer (a proxy that serves only one of them).
      failure = err instanceof VerifyError ? err : new VerifyError('temporarily_unavailable', 'the authorization server could not be reached', { cause: err });
      continue;
    }
    const { status, body } = answer;
    if (status !== 200 || typeof body !== 'object' || body === null) {
      failure = new VerifyError('server_error', `no authorization server metadata for ${issuer} (${url} answered ${status})`);
      continue;
    }
    const meta = body as Record<string, unknown>;
    if (meta.issuer !== issuer) {
      throw new VerifyError('server_error', `the metadata at ${url} names issuer ${JSON.stringify(meta.issuer)}, not ${issuer}`);
    }
    const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
    return { jwksUri: str(meta.jwks_uri), introspectionEndpoint: str(meta.introspection_endpoint) };
  }
  throw failure!;
}

/**
 * Discovery done once and shared; a failure is not kept, so the next request tries again
 * (the authorization server may simply have been starting).
 */
export function lazyDiscovery(load: () => Promise<ServerEndpoints>): () => Promise<ServerEndpoints> {
  let pending: Promise<ServerEndpoints> | undefined;
  return () => {
    pending ??= load().catch((err) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}
