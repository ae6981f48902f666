/** Records as the rest of the server sees them, independent of the backend. */

export interface Tenant {
  id: string;
  displayName: string;
  /** `aud` of access tokens whose request selects no API; null = the built-in default. */
  defaultAudience: string | null;
  createdAt: number;
  updatedAt: number;
}

export type AccessTokenFormat = 'jwt' | 'opaque';

export interface Client {
  tenantId: string;
  clientId: string;
  name: string;
  /** SHA-256 digest of the secret; null for public clients. */
  secretDigest: string | null;
  tokenEndpointAuthMethod: string;
  grantTypes: string[];
  redirectUris: string[];
  postLogoutRedirectUris: string[];
  corsOrigins: string[];
  /** Scopes the client may request. */
  scopes: string[];
  accessTokenFormat: AccessTokenFormat;
  accessTokenTtl: number | null;
  consent: 'required' | 'skip';
  webPage: boolean;
  sessionRefreshTokens: boolean;
  jwks: object | null;
  jwksUri: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface ApiScope {
  name: string;
  description: string;
}

/** A resource server ("audience") and the scopes it defines. */
export interface Api {
  tenantId: string;
  id: string;
  audience: string;
  name: string;
  accessTokenTtl: number | null;
  scopes: ApiScope[];
  createdAt: number;
  updatedAt: number;
}

export type KeyPurpose = 'access' | 'id';

export interface SigningKeyRecord {
  tenantId: string;
  kid: string;
  alg: string;
  purpose: KeyPurpose;
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
  createdAt: number;
  /** Published from createdAt; signs from activatesAt (after the JWKS cache lifetime). */
  activatesAt: number;
  revokedAt: number | null;
  /** Insertion order within the tenant, assigned by the store. */
  seq?: number;
}

/** One user (or the client itself) + client + consent. Every code and token has one. */
export interface Grant {
  id: string;
  tenantId: string;
  clientId: string;
  /** The user's id; null for a client acting on its own behalf (client_credentials). */
  subject: string | null;
  scope: string;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
}

export type ArtifactKind = 'authorization_code' | 'refresh_token' | 'device_code' | 'par_request' | 'dpop_jti';

/** A single-use value, stored by the digest of its value. */
export interface Artifact {
  digest: string;
  tenantId: string;
  kind: ArtifactKind;
  grantId: string | null;
  clientId: string | null;
  data: Record<string, unknown>;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

/** An opaque access token, stored by digest. */
export interface AccessTokenRecord {
  /** `storageKey(token)`: the token's time prefix and SHA-256 digest (tokens/opaque.ts). */
  digest: string;
  tenantId: string;
  grantId: string;
  clientId: string;
  subject: string;
  scope: string;
  audience: string[];
  issuedAt: number;
  expiresAt: number;
  revokedAt: number | null;
}
