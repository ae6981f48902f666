import type { FastifyReply, FastifyRequest } from 'fastify';
import { auditDpopFailure } from '../audit_refusals.js';
import { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import type { Client } from '../storage/types.js';
import { currentNonce, isCurrentNonce } from './nonce.js';
import { verifyProof } from './proof.js';
import { rememberProof } from './replay.js';

/**
 * The key a token request proved possession of (RFC 9449 §5). Carried in the grant context:
 * `issueAccessToken` binds every access token to it (`cnf.jkt`) and `issueRefreshToken` binds
 * refresh tokens of public clients, so every grant is sender-constrained without code of its own.
 */
export interface SenderBinding {
  /** RFC 7638 SHA-256 thumbprint of the proof's public key. */
  jkt: string;
}

const refuse = (description: string) => new OAuthError('invalid_dpop_proof', description);

/**
 * The DPoP proof of a token request, checked (RFC 9449 §4.3), or undefined when the request
 * has none (the bearer path: one header read). Nonces are always required here (§8): a
 * proof without the current one is `use_dpop_nonce`, and every answer to a DPoP request
 * carries the current nonce in `DPoP-Nonce`. A client registered with
 * `dpop_bound_access_tokens` (§5.2) must send a proof.
 */
export async function tokenRequestSender(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, client: Client): Promise<SenderBinding | undefined> {
  try {
    return await checkedSender(ctx, req, reply, client);
  } catch (err) {
    auditDpopFailure(ctx, req, client.clientId, err);
    throw err;
  }
}

async function checkedSender(ctx: TenantContext, req: FastifyRequest, reply: FastifyReply, client: Client): Promise<SenderBinding | undefined> {
  const header = req.headers.dpop;
  if (header === undefined) {
    if (client.dpopBoundAccessTokens) throw refuse('this client must send a DPoP proof with every token request');
    return undefined;
  }
  const nonce = await currentNonce(ctx);
  reply.header('dpop-nonce', nonce);
  const proof = await verifyProof(ctx, { header, method: req.method, url: req.url }, {
    refuse,
    nonce: async (value) => {
      if (await isCurrentNonce(ctx, value)) return;
      throw new OAuthError('use_dpop_nonce', value === undefined ? 'the authorization server requires a nonce in the DPoP proof' : 'the DPoP proof nonce is stale or unknown', {
        headers: { 'dpop-nonce': nonce },
      });
    },
  });
  await rememberProof(ctx, proof, client.clientId, refuse);
  return { jkt: proof.jkt };
}

/**
 * A token request for something bound to a key — a refresh token of a public client (RFC 9449
 * §5, SECURITY-CHECKLIST 34), a code whose authorization request named `dpop_jkt` (§10) —
 * must prove that very key; otherwise `invalid_grant`.
 */
export function assertSameKey(sender: SenderBinding | undefined, jkt: string | undefined, what: 'refresh token' | 'authorization code' | 'subject_token' | 'actor_token'): void {
  if (jkt === undefined) return;
  if (!sender) throw new OAuthError('invalid_grant', `the ${what} is bound to a DPoP key: send a DPoP proof made with it`);
  if (sender.jkt !== jkt) throw new OAuthError('invalid_grant', `the DPoP proof was made with another key than the ${what} is bound to`);
}
