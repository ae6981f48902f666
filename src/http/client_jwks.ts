import { createLocalJWKSet, errors, type JSONWebKeySet, type JWSHeaderParameters } from 'jose';
import type { Client } from '../storage/types.js';
import { OutboundError, type Resolver } from './outbound.js';
import { getJson, OUTBOUND_MAX_BYTES } from './outbound_get.js';

/**
 * The public keys a client signs its assertions with (RFC 7523 §3 item 9, OIDC Core §9):
 * its registered `jwks`, or the document at its `jwks_uri`, fetched under the outbound
 * rules (DESIGN.md §2: https, public addresses, short timeout, size limit) and kept for a
 * bounded time. An unknown `kid` refetches the document — a client that rotated its keys
 * is served at once — but at most once per `refetchCooldownMs` per URI, so garbage kids
 * cannot make the server hammer a client's host.
 */

type KeySet = ReturnType<typeof createLocalJWKSet>;
type VerifyKey = Awaited<ReturnType<KeySet>>;

/** Settings of this process. Tests shorten them or inject a resolver; nothing else changes them. */
export const jwksFetchSettings: {
  resolver?: Resolver; timeoutMs: number; maxBytes: number; ttlMs: number; refetchCooldownMs: number; failureBackoffMs: number; maxEntries: number;
} = {
  // Inside a token request: a slow host fails the request rather than holding it.
  timeoutMs: 2000,
  maxBytes: OUTBOUND_MAX_BYTES,
  ttlMs: 5 * 60 * 1000,
  refetchCooldownMs: 30 * 1000,
  // A failed fetch answers every request for a while with the same failure: assertions that
  // merely name a client must not turn into one outbound request each.
  failureBackoffMs: 5 * 1000,
  maxEntries: 1000,
};

interface Fetched {
  set: KeySet;
  fetchedAt: number;
}

const inline = new WeakMap<object, KeySet>();
const fetched = new Map<string, Fetched>();
const inFlight = new Map<string, Promise<Fetched>>();
const failed = new Map<string, { error: unknown; at: number }>();

/** Forgets every fetched JWKS and every failure (tests). */
export function clearFetchedJwks(): void {
  fetched.clear();
  failed.clear();
}

/** Adds to a map kept under `maxEntries`: the oldest entry makes room. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  if (map.size >= jwksFetchSettings.maxEntries) map.delete(map.keys().next().value!);
  map.set(key, value);
}

function fetchedKeySet(doc: unknown): KeySet {
  try {
    return createLocalJWKSet(doc as JSONWebKeySet);
  } catch {
    throw new OutboundError('the document is not a JSON Web Key Set', true);
  }
}

/** One fetch per URI at a time: concurrent requests that need it share it. */
function fetchJwks(uri: string, nowMs: number, allowLoopback: boolean): Promise<Fetched> {
  const failure = failed.get(uri);
  if (failure && nowMs - failure.at < jwksFetchSettings.failureBackoffMs) return Promise.reject(failure.error);
  let pending = inFlight.get(uri);
  if (!pending) {
    const { resolver, timeoutMs, maxBytes } = jwksFetchSettings;
    pending = getJson(uri, { allowLoopback, resolver, timeoutMs, maxBytes })
      .then((doc) => {
        const entry = { set: fetchedKeySet(doc), fetchedAt: nowMs };
        remember(fetched, uri, entry);
        failed.delete(uri);
        return entry;
      })
      .catch((error: unknown) => {
        remember(failed, uri, { error, at: nowMs });
        throw error;
      })
      .finally(() => inFlight.delete(uri));
    inFlight.set(uri, pending);
  }
  return pending;
}

export interface KeyContext {
  nowMs: number;
  /** The loopback development exception (outbound.ts). */
  allowLoopback: boolean;
}

/**
 * The keys that may have signed a JWS with this header: one, or several when the header
 * names no `kid` and more than one key fits (the caller tries each). Throws jose's
 * JWKSNoMatchingKey when none fits even after a refetch, and OutboundError when the
 * `jwks_uri` cannot be fetched.
 */
export async function assertionKeys(client: Client, header: JWSHeaderParameters, ctx: KeyContext): Promise<VerifyKey[]> {
  if (client.jwks) {
    let set = inline.get(client.jwks);
    if (!set) inline.set(client.jwks, (set = createLocalJWKSet(client.jwks as JSONWebKeySet)));
    return candidates(set, header);
  }
  const uri = client.jwksUri;
  if (!uri) throw new errors.JWKSNoMatchingKey();
  let entry = fetched.get(uri);
  if (!entry || ctx.nowMs - entry.fetchedAt >= jwksFetchSettings.ttlMs) entry = await fetchJwks(uri, ctx.nowMs, ctx.allowLoopback);
  try {
    return await candidates(entry.set, header);
  } catch (err) {
    if (!(err instanceof errors.JWKSNoMatchingKey) || ctx.nowMs - entry.fetchedAt < jwksFetchSettings.refetchCooldownMs) throw err;
    entry = await fetchJwks(uri, ctx.nowMs, ctx.allowLoopback);
    return candidates(entry.set, header);
  }
}

async function candidates(set: KeySet, header: JWSHeaderParameters): Promise<VerifyKey[]> {
  try {
    return [await set(header)];
  } catch (err) {
    if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
    const keys: VerifyKey[] = [];
    for await (const key of err as unknown as AsyncIterable<VerifyKey>) keys.push(key);
    return keys;
  }
}
