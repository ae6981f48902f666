/**
 * `tessera/verify`: the resource-server kit. An API checks the access tokens Tessera issues
 * with it — JWTs against the tenant's published keys (RFC 9068 §4), opaque tokens by
 * introspection (RFC 7662), DPoP-bound tokens with their proofs (RFC 9449) — and refuses
 * requests as RFC 6750 §3 says. Depends on jose and node only; the framework adapters are
 * typed structurally, so express and hono are not needed to use the rest.
 *
 *   import { createVerifier, expressAuth } from 'tessera/verify';
 *   const verifier = createVerifier({ issuer: 'http://localhost:9000/realms/default', audience: 'https://api.example.com/' });
 *   app.get('/avatars', expressAuth(verifier, { scopes: ['read:avatars'] }), (req, res) => res.json(req.accessToken));
 */
export { createVerifier, type Verifier, type VerifyOptions, type VerifyRequest, type VerifyTokenOptions } from './verifier.js';
export type { VerifierOptions, FetchLike } from './options.js';
export type { AccessToken } from './access_token.js';
export { VerifyError, type VerifyErrorCode, type AuthScheme, type ErrorResponse } from './errors.js';
export { memoryReplayCache, type ReplayCache } from './replay.js';
export type { ServerEndpoints } from './discovery.js';
export type { DpopRequest } from './dpop.js';
export type { MiddlewareOptions } from './middleware.js';
export { fastifyAuth, fastifyAuthPlugin, type FastifyAuthPluginOptions } from './fastify.js';
export { expressAuth, type ExpressRequestLike, type ExpressResponseLike, type ExpressNext } from './express.js';
export { honoAuth, type HonoContextLike } from './hono.js';
export {
  closeWhenExpired,
  offeredProtocols,
  rejectUpgrade,
  selectProtocol,
  TOKEN_EXPIRED_CLOSE_CODE,
  TOKEN_PROTOCOL,
  upgradeToken,
  verifyUpgrade,
  type SocketLike,
  type UpgradeRequestLike,
  type UpgradeToken,
  type UpgradeTokenOptions,
  type WebSocketLike,
} from './websocket.js';
