import { issuerOf } from '../http/context.js';
import { SESSION_IDLE_SECONDS, SESSION_MAX_SECONDS } from '../http/session.js';
import type { Tenant } from '../storage/types.js';
import { dcrPolicyView } from './dcr_policy.js';
import { PERSONAL_TOKEN_MAX_SECONDS } from './personal_tokens.js';

/** The tenant as the CLI and the admin API show it, with its defaults filled in. */
export const tenantView = (t: Tenant, publicUrl: string) => ({
  id: t.id, display_name: t.displayName, hostname: t.hostname, issuer: issuerOf(publicUrl, t),
  default_audience: t.defaultAudience,
  session_idle_seconds: t.sessionIdleSeconds ?? SESSION_IDLE_SECONDS,
  session_max_seconds: t.sessionMaxSeconds ?? SESSION_MAX_SECONDS,
  personal_token_max_days: t.personalTokenMaxDays ?? PERSONAL_TOKEN_MAX_SECONDS / 86400,
  registration: t.registration, require_verified_email: t.requireVerifiedEmail, email_from: t.emailFrom,
  dcr: dcrPolicyView(t.dcr),
  created_at: t.createdAt, updated_at: t.updatedAt,
});
