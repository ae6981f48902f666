import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { OAuthError } from '../errors.js';
import type { Services } from '../http/context.js';
import { signerFor } from '../tokens/signing_key.js';
import { adminTenantContext } from './auth.js';

export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 200;

/** `?limit=&cursor=` of every list. */
export const pageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT).describe(`page size, 1–${MAX_LIMIT}`),
  cursor: z.string().max(2000).optional().describe('`next_cursor` of the previous page'),
});

export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), next_cursor: z.string().nullable().describe('null on the last page') });

/** A key for cursors only: HKDF from the admin tenant's unpublished HMAC key named by `kid`. */
function macKey(kid: string, key: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `tessera admin api cursor ${kid}`, 32));
}

const mac = (key: Buffer, list: string, body: string) => createHmac('sha256', key).update(`${list}\n${body}`).digest('base64url');

const invalid = () => new OAuthError('invalid_request', 'the cursor is not one this server gave out for this list', { field: 'cursor' });

/**
 * Cursors are opaque and tamper-proof: `body.kid.mac`, where body is the position (base64url
 * JSON) and mac an HMAC over the list it belongs to (operation, path and filters) and the body.
 * A changed cursor, or one from another list, is refused with 400. The key rotates with the
 * admin tenant's refresh-token key; cursors are short-lived, so an old one then simply fails.
 */
export async function encodeCursor(services: Services, list: string, position: unknown): Promise<string> {
  const signer = await signerFor(await adminTenantContext(services), 'refresh');
  const ring = services.cache.peekKeyRing('admin') ?? (await services.cache.keyRing('admin'));
  const raw = ring.refreshKey(signer.kid)!.export();
  const body = Buffer.from(JSON.stringify(position)).toString('base64url');
  return `${body}.${signer.kid}.${mac(macKey(signer.kid, raw), list, body)}`;
}

export async function decodeCursor(services: Services, list: string, cursor: string): Promise<unknown> {
  const parts = cursor.split('.');
  if (parts.length !== 3) throw invalid();
  const [body, kid, given] = parts;
  const ring = services.cache.peekKeyRing('admin') ?? (await services.cache.keyRing('admin'));
  const key = ring.refreshKey(kid);
  if (!key) throw invalid();
  const expected = Buffer.from(mac(macKey(kid, key.export()), list, body));
  const actual = Buffer.from(given);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) throw invalid();
  try {
    return JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
}

/**
 * One page of a list held in memory, in `key` order: the cursor is the last key shown, so
 * items added or removed meanwhile never shift the next page.
 */
export async function paginate<T, V>(
  services: Services,
  list: string,
  items: T[],
  key: (item: T) => string,
  query: { limit: number; cursor?: string },
  view: (item: T) => V,
): Promise<{ items: V[]; next_cursor: string | null }> {
  const after = query.cursor === undefined ? undefined : await decodeCursor(services, list, query.cursor);
  if (after !== undefined && typeof after !== 'string') throw invalid();
  const sorted = [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter((i) => key(i) > after);
  const shown = rest.slice(0, query.limit);
  const more = rest.length > query.limit;
  return { items: shown.map(view), next_cursor: more ? await encodeCursor(services, list, key(shown[shown.length - 1])) : null };
}
