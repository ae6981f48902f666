import type { FastifyRequest } from 'fastify';
import { audit, recordAudit, type AuditDeps } from './audit.js';
import { OAuthError } from './errors.js';
import { claimedClientId } from './http/client_auth.js';
import type { TenantContext } from './http/context.js';
import type { FormParams } from './http/form.js';
import { ADMIN_TENANT } from './manage/tenants.js';
import type { AuditEventType } from './storage/types.js';

/**
 * Security-relevant refusals as audit events (issue 9). Each is recorded where the refusal is
 * decided (docs/audit.md has the table of types and places); `detail.reason` is the
 * server's own description of the failed check, never anything the request carried beyond
 * ids. Recording queues the event (storage/audit_writer.ts): a refusal costs no write.
 */
export type RefusalType = Extract<AuditEventType, `security.${string}`> | 'throttle.refused';

export interface Refusal {
  /** The failed check, in the server's words (an error_description, or a short code). */
  reason: string;
  clientId?: string;
  userId?: string;
  /** Defaults to the user, else the client, else `anonymous`. */
  actor?: string;
  /** More small, non-secret facts: endpoint, method. */
  detail?: Record<string, unknown>;
}

/**
 * Ids a request presents are the caller's choice: bounded, so a huge one cannot bloat the table,
 * and without NUL, which PostgreSQL text refuses (failing the whole batch of events; found by the fuzzer).
 */
const bounded = (v: string | undefined): string | undefined => (v === undefined ? undefined : v.slice(0, 128).replace(/\u0000/g, '\uFFFD'));

function event(type: RefusalType, ip: string | undefined, r: Refusal) {
  const clientId = bounded(r.clientId);
  return {
    type, actor: bounded(r.actor) ?? r.userId ?? clientId ?? 'anonymous', clientId, userId: r.userId, ip,
    detail: { reason: r.reason.slice(0, 200), ...r.detail },
  };
}

/** Records a refusal in the request's tenant. Returns at once; never throws. */
export function auditRefusal(ctx: TenantContext, req: Pick<FastifyRequest, 'ip'> | undefined, type: RefusalType, r: Refusal): void {
  void audit(ctx, event(type, req?.ip, r));
}

/**
 * The hook for throttling (http/throttle.ts, client authentication limits): a request refused
 * because of too many attempts. `limit` names the limit that was hit (`sign_in_ip`,
 * `client_auth`…); pass the ids the limit counted, never a credential.
 */
export function auditThrottled(
  deps: AuditDeps,
  tenantId: string,
  r: { ip?: string; limit: string; clientId?: string; userId?: string; endpoint?: string; retryAfterSeconds?: number },
): void {
  void recordAudit(deps, tenantId, event('throttle.refused', r.ip, {
    reason: 'too_many_attempts', clientId: r.clientId, userId: r.userId,
    detail: { limit: r.limit, endpoint: r.endpoint, retry_after: r.retryAfterSeconds },
  }));
}

function presentedMethod(req: FastifyRequest, params: FormParams): string {
  if (params.get('client_assertion') !== undefined || params.get('client_assertion_type') !== undefined) return 'private_key_jwt';
  if (/^\s*basic\b/i.test(req.headers.authorization ?? '')) return 'client_secret_basic';
  return params.get('client_secret') !== undefined ? 'client_secret_post' : 'none';
}

/**
 * A failed client authentication (RFC 6749 §5.2 `invalid_client`) at the token, revocation,
 * PAR or device endpoints (`security.client_auth_failed`), or at introspection
 * (`security.introspection_refused`). Invalid `private_key_jwt` assertions are the former with
 * `detail.method` `private_key_jwt`. Other errors (a malformed request) are not refusals of a
 * credential and are not recorded.
 */
export function auditClientAuthFailure(
  ctx: TenantContext, req: FastifyRequest, params: FormParams, err: unknown,
  type: 'security.client_auth_failed' | 'security.introspection_refused' = 'security.client_auth_failed',
): void {
  if (!(err instanceof OAuthError) || err.error !== 'invalid_client') return;
  const clientId = claimedClientId(req, params);
  auditRefusal(ctx, req, type, { reason: err.description, clientId, detail: { method: presentedMethod(req, params), path: req.routeOptions?.url } });
}

/** A DPoP proof refused (RFC 9449 §4.3, §11.1 replay) at the token endpoint or at a resource (userinfo). */
export function auditDpopFailure(ctx: TenantContext, req: FastifyRequest, clientId: string | undefined, err: unknown): void {
  if (!(err instanceof OAuthError) || err.error !== 'invalid_dpop_proof') return;
  const reason = err.description;
  auditRefusal(ctx, req, 'security.dpop_refused', { reason, clientId, detail: { replay: /already used/.test(reason), path: req.routeOptions?.url } });
}

/**
 * An admin API request refused for its token or its operator's reach (`security.admin_refused`):
 * no or a bad token, a missing scope, a disabled operator, a tenant outside a scoped operator's
 * reach, a global-only operation. Recorded in the `admin` tenant, where operators are.
 */
export function auditAdminRefusal(
  deps: AuditDeps, req: FastifyRequest, operationId: string, err: unknown, operator: { user: { id: string } } | undefined, tenant: string | undefined,
): void {
  if (!(err instanceof OAuthError) || !['invalid_token', 'insufficient_scope', 'access_denied'].includes(err.error)) return;
  const actor = operator ? `operator:${operator.user.id}` : 'anonymous';
  void recordAudit(deps, ADMIN_TENANT, event('security.admin_refused', req.ip, {
    reason: err.description, actor, userId: operator?.user.id, detail: { operation: operationId, tenant: bounded(tenant) },
  }));
}
