import type { FastifyRequest } from 'fastify';
import { auditDpopFailure, auditRefusal } from '../audit_refusals.js';
import { OAuthError } from '../errors.js';
import { bearerError, headerBearerToken } from '../http/bearer.js';
import type { TenantContext } from '../http/context.js';
import { DPOP_ALGS, verifyProof } from './proof.js';
import { rememberProof } from './replay.js';

/** An access token as a request to a resource (userinfo, validate) presents it. */
export interface PresentedToken {
  token: string;
  scheme: 'Bearer' | 'DPoP';
}

type ResourceErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | 'invalid_dpop_proof';

/**
 * The token of the Authorization header: `Bearer` (RFC 6750 §2.1) or `DPoP` (RFC 9449 §7.1),
 * schemes case-insensitive (SECURITY-CHECKLIST 47).
 */
export function headerAccessToken(req: FastifyRequest): PresentedToken | undefined {
  const bearer = headerBearerToken(req);
  if (bearer) return { token: bearer, scheme: 'Bearer' };
  const header = req.headers.authorization;
  const token = header && /^dpop\s+/i.test(header) ? header.replace(/^dpop\s+/i, '').trim() : undefined;
  return token ? { token, scheme: 'DPoP' } : undefined;
}

/**
 * A resource's refusal, challenged in the scheme the request used (RFC 9449 §7.1: a DPoP
 * request gets a `DPoP` challenge naming the accepted algorithms; RFC 6750 §3 otherwise).
 */
export function resourceError(ctx: TenantContext, scheme: PresentedToken['scheme'], error: ResourceErrorCode, description: string, tokenGiven = true): OAuthError {
  if (scheme === 'Bearer' && error !== 'invalid_dpop_proof') return bearerError(ctx, error, description, tokenGiven);
  const challenge = `DPoP realm="${ctx.tenant.id}", error="${error}", error_description="${description}", algs="${DPOP_ALGS.join(' ')}"`;
  const status = error === 'insufficient_scope' ? 403 : error === 'invalid_request' ? 400 : 401;
  return new OAuthError(error, description, { status, headers: { 'www-authenticate': challenge } });
}

/**
 * RFC 9449 §7: a DPoP-bound token (`cnf.jkt`) is used only with the DPoP scheme and a proof
 * of its key for this request — its method and URL, this token (`ath`), fresh and not seen
 * before. A bearer token must not claim the DPoP scheme, and a bound one must not be sent as
 * a bearer token (§7.2). Nonces are not required at resources: the token already names the
 * key, `ath` ties the proof to it, and the `iat` window with the shared replay record bounds
 * pre-made proofs; a nonce round trip on every API call would buy little more.
 */
export async function checkSenderConstraint(ctx: TenantContext, req: FastifyRequest, presented: PresentedToken, bound: { jkt?: string; clientId: string }): Promise<void> {
  if (bound.jkt === undefined) {
    if (presented.scheme === 'DPoP') throw resourceError(ctx, 'DPoP', 'invalid_token', 'the access token is not DPoP-bound');
    return;
  }
  if (presented.scheme !== 'DPoP') throw resourceError(ctx, 'DPoP', 'invalid_token', 'the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof');
  const refuse = (description: string) => {
    const err = resourceError(ctx, 'DPoP', 'invalid_dpop_proof', description);
    auditDpopFailure(ctx, req, bound.clientId, err);
    return err;
  };
  const proof = await verifyProof(ctx, { header: req.headers.dpop, method: req.method, url: req.url }, { refuse, accessToken: presented.token });
  if (proof.jkt !== bound.jkt) {
    const err = resourceError(ctx, 'DPoP', 'invalid_token', 'the access token is bound to another key than the DPoP proof');
    auditRefusal(ctx, req, 'security.dpop_refused', { reason: err.description, clientId: bound.clientId, detail: { replay: false, path: req.routeOptions?.url } });
    throw err;
  }
  await rememberProof(ctx, proof, bound.clientId, refuse);
}
