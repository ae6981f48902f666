import type { Clock, Random } from './clock.js';
import type { TenantContext } from './http/context.js';
import type { Storage } from './storage/index.js';
import type { AuditEventType } from './storage/types.js';

/** What a caller says happened; id, tenant and time are added here. */
export interface AuditInput {
  type: AuditEventType;
  /** A user id, a client id, `operator` or `anonymous`. */
  actor: string;
  clientId?: string;
  userId?: string;
  ip?: string;
  /** Small and never secret: grant type, scope, reason, names of changed fields. */
  detail?: Record<string, unknown>;
}

export interface AuditDeps {
  storage: Pick<Storage, 'audit'>;
  clock: Clock;
  random: Random;
  log?: { error(obj: object, msg: string): void };
}

/**
 * Keys that name a credential (DESIGN.md §3.10). Callers never pass one; this is the net
 * under them, so a careless `detail` cannot put a token into a table operators browse.
 */
const SECRET_KEY = /token|code|secret|password|cookie|assertion|verifier|credential/i;

function clean(detail: Record<string, unknown> | undefined): Record<string, unknown> {
  if (!detail) return {};
  return Object.fromEntries(Object.entries(detail).filter(([k, v]) => v !== undefined && !SECRET_KEY.test(k)));
}

let lastMs = -1;
let sequence = 0;

/**
 * Time-ordered, fixed width and lowercase alphanumeric, so ids sort alike on both backends:
 * base36 milliseconds, a per-process sequence within the millisecond (events of one process
 * keep their order), then random hex (processes never collide).
 */
function eventId(clock: Clock, random: Random): string {
  const ms = clock.now();
  sequence = ms === lastMs ? sequence + 1 : 0;
  lastMs = ms;
  return ms.toString(36).padStart(9, '0') + (sequence % 36 ** 5).toString(36).padStart(5, '0') + random(5).toString('hex');
}

/**
 * Records an audit event. Never fails its caller: the request it describes already happened,
 * so a storage error is logged and the request goes on. The store queues the event and
 * writes it with others in one INSERT (storage/audit_writer.ts), so awaiting this costs no
 * database round trip. Every event type and where it is recorded: docs/audit.md.
 */
export async function recordAudit(deps: AuditDeps, tenantId: string, event: AuditInput): Promise<void> {
  try {
    await deps.storage.audit.record({
      id: eventId(deps.clock, deps.random),
      tenantId,
      type: event.type,
      at: Math.floor(deps.clock.now() / 1000),
      actor: event.actor,
      clientId: event.clientId ?? null,
      userId: event.userId ?? null,
      ip: event.ip ?? null,
      detail: clean(event.detail),
    });
  } catch (err) {
    const log = deps.log ?? { error: (obj: object, msg: string) => console.error(msg, obj) };
    log.error({ err, tenant: tenantId, audit: event.type }, 'audit event not recorded');
  }
}

/** Records an event of the request's tenant (see recordAudit). */
export const audit = (ctx: TenantContext, event: AuditInput): Promise<void> => recordAudit(ctx.services, ctx.tenant.id, event);

/** Who a management change is attributed to: the admin API passes its user, the CLI is `operator`. */
export const OPERATOR = 'operator';
