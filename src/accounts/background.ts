import type { TenantContext } from '../http/context.js';

const pending = new Set<Promise<void>>();

/**
 * Runs account work after the current request has been answered. Sign-up and password
 * reset look the account up here, not in the request, so their answer and its timing are the
 * same whether or not the account exists (SECURITY-CHECKLIST 56). A failure is logged; the
 * user, who was told to check their mail, can ask again.
 */
export function afterResponse(ctx: TenantContext, what: string, job: () => Promise<void>): void {
  const run: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
    .then(job)
    .catch((err) => ctx.services.log.error({ err, tenant: ctx.tenant.id }, `${what} failed`))
    .finally(() => pending.delete(run));
  pending.add(run);
}

/** Resolves once every queued account job has finished. For tests and shutdown. */
export async function accountJobsIdle(): Promise<void> {
  while (pending.size) await Promise.allSettled([...pending]);
}
