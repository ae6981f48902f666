import type { FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.js';
import type { TenantContext } from './context.js';

/** RFC 6750 §3: the challenge names the realm, and the error once a token was presented. */
export function bearerError(ctx: TenantContext, error: 'invalid_request' | 'invalid_token' | 'insufficient_scope', description: string, tokenGiven: boolean) {
  const params = [`realm="${ctx.tenant.id}"`, ...(tokenGiven || error !== 'invalid_token' ? [`error="${error}"`, `error_description="${description}"`] : [])];
  return new OAuthError(error, description, { status: error === 'insufficient_scope' ? 403 : error === 'invalid_request' ? 400 : 401, headers: { 'www-authenticate': `Bearer ${params.join(', ')}` } });
}

/**
 * The token of an `Authorization: Bearer` header (RFC 6750 §2.1). The scheme is
 * case-insensitive (RFC 9110 §11.1, SECURITY-CHECKLIST 47); a token in the URL query is
 * never looked at (RFC 9700 §4.3.2, checklist 46).
 */
export function headerBearerToken(req: FastifyRequest): string | undefined {
  const header = req.headers.authorization;
  return header && /^bearer\s+/i.test(header) ? header.replace(/^bearer\s+/i, '').trim() || undefined : undefined;
}
