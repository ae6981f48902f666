import { OPERATOR, recordAudit } from '../audit.js';
import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { identifier, secretValue } from '../crypto/random.js';
import { InputError } from '../errors.js';
import type { InitialAccessToken } from '../storage/types.js';
import { requireTenant, type ManageDeps } from './tenants.js';

/** Whom audit events of dynamically registered clients name (RFC 7591/7592 changes). */
export const DCR_ACTOR = 'dcr';

/** The longest an initial access token may live: 90 days. */
const MAX_INITIAL_TOKEN_SECONDS = 90 * 24 * 3600;

export const initialTokenView = (t: InitialAccessToken) => ({
  id: t.id, tenant: t.tenantId, expires_at: t.expiresAt, max_uses: t.maxUses, uses: t.uses, revoked: t.revoked, created_at: t.createdAt,
});

/**
 * RFC 7591 §3: an initial access token authorizes registrations at a tenant. It is opaque,
 * 256 bits, shown once and stored as its digest; `maxUses` null = until it expires or is revoked.
 */
export async function createInitialToken(deps: ManageDeps, tenantId: string, options: { expiresIn?: number; maxUses?: number }) {
  await requireTenant(deps, tenantId);
  const { expiresIn, maxUses } = options;
  if (expiresIn !== undefined && (!Number.isInteger(expiresIn) || expiresIn < 1 || expiresIn > MAX_INITIAL_TOKEN_SECONDS)) {
    throw new InputError(`expires-in must be a whole number of seconds from 1 to ${MAX_INITIAL_TOKEN_SECONDS}`);
  }
  if (maxUses !== undefined && (!Number.isInteger(maxUses) || maxUses < 1)) throw new InputError('max-uses must be a whole number of at least 1');
  const now = seconds(deps.clock);
  const token = secretValue(deps.random);
  const record: InitialAccessToken = {
    id: identifier(deps.random), tenantId, expiresAt: expiresIn === undefined ? null : now + expiresIn, maxUses: maxUses ?? null, uses: 0, revoked: false, createdAt: now,
  };
  await deps.storage.dcr.createInitialToken(record, digest(token));
  // Its id and limits only (a detail key naming a token would be dropped anyway, audit.ts).
  await recordAudit(deps, tenantId, { type: 'dcr_token.created', actor: deps.actor ?? OPERATOR, detail: { id: record.id, expires_at: record.expiresAt, max_uses: record.maxUses } });
  return { ...initialTokenView(record), token };
}

export async function revokeInitialToken(deps: ManageDeps, tenantId: string, id: string): Promise<void> {
  await requireTenant(deps, tenantId);
  if (!(await deps.storage.dcr.revokeInitialToken(tenantId, id))) throw new InputError(`tenant ${tenantId} has no initial access token ${id}`, 'not_found');
  await recordAudit(deps, tenantId, { type: 'dcr_token.revoked', actor: deps.actor ?? OPERATOR, detail: { id } });
}

export async function listInitialTokens(deps: ManageDeps, tenantId: string) {
  await requireTenant(deps, tenantId);
  return (await deps.storage.dcr.listInitialTokens(tenantId)).map(initialTokenView);
}
