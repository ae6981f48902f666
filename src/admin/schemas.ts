import { z } from 'zod';
import { InputError } from '../errors.js';
import { AUDIT_EVENT_TYPES } from '../storage/types.js';

/**
 * Shared request and response schemas of the admin API. Field checks that the management
 * functions own are reused, not rewritten (`checked`), so an error names the field.
 */

/** A string checked by a management function's own validator; its message becomes the issue. */
export const checked = (check: (value: string) => unknown, description?: string) => {
  const s = z.string().superRefine((value, ctx) => {
    try {
      check(value);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  });
  return description ? s.describe(description) : s;
};

export const epoch = z.number().int().describe('seconds since the epoch');

export const errorBody = z
  .object({
    error: z.string().describe('RFC 6749 style code: invalid_request, invalid_token, insufficient_scope, access_denied, not_found, conflict…'),
    error_description: z.string(),
    field: z.string().optional().describe('the request field at fault, as a path such as redirect_uris[0] (validation errors)'),
  })
  .describe('An error');

export const tenantParams = z.strictObject({ tenant: z.string().describe('tenant id') });

export const deleted = z.object({ deleted: z.record(z.string(), z.string()) });

export const tenantSchema = z.object({
  id: z.string(), display_name: z.string(), hostname: z.string().nullable().describe('own hostname; null = served under the public URL'), issuer: z.string(), default_audience: z.string().nullable(),
  session_idle_seconds: z.number().int(), session_max_seconds: z.number().int(), personal_token_max_days: z.number().int(),
  registration: z.boolean(), require_verified_email: z.boolean(), email_from: z.string().nullable(),
  dcr: z.object({
    enabled: z.boolean(), open: z.boolean().describe('registration without an initial access token'), grant_types: z.array(z.string()),
    allow_consent_skip: z.boolean(), allow_web_page: z.boolean(), allow_password: z.boolean(), allow_token_exchange: z.boolean(),
    scopes: z.array(z.string()).describe('scopes beyond the OIDC ones a registered client may ask for'),
  }).describe('dynamic client registration (RFC 7591), off by default'),
  created_at: epoch, updated_at: epoch,
});

export const userSchema = z.object({
  id: z.string(), tenant: z.string(), username: z.string(), email: z.string().nullable(), email_verified: z.boolean(),
  name: z.string().nullable(), disabled: z.boolean(), must_change_password: z.boolean(), created_at: epoch, updated_at: epoch,
  operator_tenants: z.array(z.string()).nullable().optional().describe('admin tenant only: the tenants this operator manages; null = every tenant'),
});

export const apiSchema = z.object({
  id: z.string(), tenant: z.string(), audience: z.string(), name: z.string(), access_token_ttl: z.number().int().nullable(),
  scopes: z.array(z.object({ name: z.string(), description: z.string() })), created_at: epoch, updated_at: epoch,
});

export const keySchema = z.object({
  kid: z.string(), alg: z.string(), purpose: z.enum(['access', 'id', 'refresh']), status: z.enum(['pending', 'active', 'retiring']),
  created_at: epoch, activates_at: epoch,
});

export const sessionSchema = z.object({
  id: z.string().describe('the OIDC sid'), auth_time: epoch, amr: z.array(z.string()), created_at: epoch, idle_expires_at: epoch, expires_at: epoch,
});

export const grantSchema = z.object({
  id: z.string(), client_id: z.string(), scope: z.string(), created_at: epoch, expires_at: epoch.nullable(),
});

export const personalTokenSchema = z.object({
  id: z.string().describe('its grant id'), name: z.string(), client_id: z.string(), scopes: z.array(z.string()), created_at: epoch, expires_at: epoch,
});

export const auditEventSchema = z.object({
  id: z.string(), type: z.enum(AUDIT_EVENT_TYPES), at: epoch, actor: z.string(), client_id: z.string().nullable(),
  user_id: z.string().nullable(), ip: z.string().nullable(), detail: z.record(z.string(), z.unknown()),
});
