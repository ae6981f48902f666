import { createHash } from 'node:crypto';
import { TtlCache } from './cache.js';
import { fetchJson } from './discovery.js';
import { VerifyError } from './errors.js';
import type { FetchLike } from './options.js';

export interface IntrospectionClient {
  clientId: string;
  clientSecret: string;
  cacheSeconds: number;
  cacheEntries: number;
  timeoutMs: number;
  fetch: FetchLike;
  now: () => number;
}

/** RFC 7662 §2.2: an active token's members; an inactive one is `undefined`. */
export type IntrospectionResult = Record<string, unknown> | undefined;

/** RFC 6749 §2.3.1: the id and secret are form-encoded before they are joined for HTTP Basic. */
const formEncode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');

/**
 * Asks the introspection endpoint about opaque tokens (RFC 7662 §2.1), authenticating as
 * the API with HTTP Basic. Answers are kept for `cacheSeconds` but never past the token's
 * `exp` (RFC 7662 §4: a cached answer must not outlive the token), keyed by a digest so the
 * cache holds no token; concurrent requests with one token share one call.
 */
export function introspector(client: IntrospectionClient): (endpoint: string, token: string) => Promise<IntrospectionResult> {
  const cache = new TtlCache<{ result: IntrospectionResult }>(client.cacheEntries, client.now);
  const inFlight = new Map<string, Promise<IntrospectionResult>>();
  const authorization = `Basic ${Buffer.from(`${formEncode(client.clientId)}:${formEncode(client.clientSecret)}`).toString('base64')}`;

  async function ask(endpoint: string, token: string): Promise<IntrospectionResult> {
    const { status, body } = await fetchJson(client.fetch, endpoint, client.timeoutMs, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
    });
    if (status === 401 || status === 403) {
      throw new VerifyError('server_error', 'the authorization server refused the API credentials used for introspection');
    }
    if (status !== 200 || typeof body !== 'object' || body === null || typeof (body as { active?: unknown }).active !== 'boolean') {
      throw new VerifyError('server_error', `the introspection endpoint answered ${status} without an RFC 7662 response`);
    }
    const answer = body as Record<string, unknown>;
    return answer.active === true ? answer : undefined;
  }

  return async (endpoint, token) => {
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = cache.get(key);
    if (cached) return cached.result;
    let pending = inFlight.get(key);
    if (!pending) {
      pending = ask(endpoint, token).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    const result = await pending;
    if (client.cacheSeconds > 0) {
      const until = client.now() + client.cacheSeconds * 1000;
      const exp = typeof result?.exp === 'number' ? result.exp * 1000 : undefined;
      cache.set(key, { result }, exp === undefined ? until : Math.min(until, exp));
    }
    return result;
  };
}
