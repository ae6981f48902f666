import type { GrantHandler } from './types.js';
import { authorizationCode } from './authorization_code.js';
import { clientCredentials } from './client_credentials.js';
import { deviceCode } from './device_code.js';
import { password } from './password.js';
import { refreshToken } from './refresh_token.js';
import { tokenExchange } from './token_exchange.js';

/** Every grant the token endpoint serves, by `grant_type`. Add a grant by adding a file here. */
export const grants: ReadonlyMap<string, GrantHandler> = new Map([authorizationCode, clientCredentials, refreshToken, password, deviceCode, tokenExchange].map((g) => [g.grantType, g]));

export type { GrantHandler, GrantContext } from './types.js';
