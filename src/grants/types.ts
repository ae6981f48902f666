import type { FastifyRequest } from 'fastify';
import type { SenderBinding } from '../dpop/binding.js';
import type { AuthenticatedClient } from '../http/client_auth.js';
import type { TenantContext } from '../http/context.js';
import type { FormParams } from '../http/form.js';
import type { TokenResponse } from '../tokens/response.js';

/** What a grant handler gets: the tenant, the authenticated client, and only its own parameters. */
export interface GrantContext extends TenantContext {
  client: AuthenticatedClient;
  params: FormParams;
  request: FastifyRequest;
  /** The key of the request's DPoP proof (RFC 9449 §5); what is issued is bound to it. */
  sender?: SenderBinding;
}

/** One grant type of the token endpoint (DESIGN.md §2), registered in `grants/index.ts`. */
export interface GrantHandler {
  grantType: string;
  /** The request parameters this grant reads; the endpoint passes it no others. */
  parameters: readonly string[];
  /** Parameters that may be given more than once (RFC 8707 `resource`). */
  repeatable?: readonly string[];
  handle(ctx: GrantContext): Promise<TokenResponse>;
}
