import type { GrantHandler } from './types.js';
import { clientCredentials } from './client_credentials.js';

/** Every grant the token endpoint serves, by `grant_type`. Add a grant by adding a file here. */
export const grants: ReadonlyMap<string, GrantHandler> = new Map([clientCredentials].map((g) => [g.grantType, g]));

export type { GrantHandler, GrantContext } from './types.js';
