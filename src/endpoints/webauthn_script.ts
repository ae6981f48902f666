import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TenantContext } from '../http/context.js';

/**
 * The passkey script of the sign-in and account pages (`/resources/webauthn.js`, Keycloak's
 * place for static resources). It is not TypeScript, so tsc does not copy it: it is read from
 * the package's src/ui/static/, reached from src/ and from dist/ alike (same depth).
 */
const FILE = fileURLToPath(new URL('../../src/ui/static/webauthn.js', import.meta.url));
let body: Buffer | undefined;

/** Pages load it with their CSP nonce (`<script nonce src>`): no inline code, nothing from elsewhere. */
export const WEBAUTHN_SCRIPT_PATH = '/resources/webauthn.js';

export async function webauthnScriptEndpoint(_ctx: TenantContext, _req: FastifyRequest, reply: FastifyReply) {
  body ??= readFileSync(FILE);
  return reply
    .header('content-type', 'text/javascript; charset=utf-8')
    .header('x-content-type-options', 'nosniff')
    .header('cache-control', 'public, max-age=3600')
    .send(body);
}
