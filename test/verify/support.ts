/**
 * The world of the resource-server kit's tests: a real Tessera (in process, listening on a
 * free loopback port, so the verifier fetches discovery, JWKS and introspection over HTTP),
 * with the avatars API, clients of each kind and a user; and a stand-in authorization server
 * with a key of its own, for tokens Tessera does not issue yet (DPoP-bound ones).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { expect } from 'vitest';
import type { Clock } from '../../src/clock.js';
import { createApiWithSecret } from '../../src/manage/apis.js';
import { createClient } from '../../src/manage/clients.js';
import { createTenant } from '../../src/manage/tenants.js';
import { createUser } from '../../src/manage/users.js';
import type { ErrorResponse } from '../../src/verify/index.js';
import { basic, startTestApp } from '../helpers.js';
import { freePort } from '../support/server.js';

export const AVATARS = 'https://api.loomai.com/';
export const PASSWORD = 'correct horse battery';

export interface Credentials {
  id: string;
  secret: string;
}

/**
 * Tessera on SQLite only: the verifier talks HTTP to it and never touches storage, which the
 * rest of the suite covers on both backends.
 */
export async function tesseraWorld(options: { clock?: Clock } = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const t = await startTestApp('sqlite', { clock: options.clock, config: { publicUrl: base } });
  try {
    await t.app.listen({ port, host: '127.0.0.1' });
  } catch (err) {
    await t.close();
    throw err;
  }
  const issuer = `${base}/realms/default`;
  const avatars = await createApiWithSecret(t.deps, 'default', { audience: AVATARS, scopes: ['read:avatars', 'write:avatars'] }, 86400);
  const client = async (tenant: string, input: Parameters<typeof createClient>[2]): Promise<Credentials> => {
    const c = await createClient(t.deps, tenant, { scopes: ['read:avatars', 'write:avatars'], ...input }, 86400);
    return { id: c.client.clientId, secret: c.secret! };
  };
  const clients = {
    /** client_credentials, JWT access tokens. */
    service: await client('default', { name: 'Service', grantTypes: ['client_credentials'] }),
    /** client_credentials, opaque access tokens. */
    opaque: await client('default', { name: 'Opaque service', grantTypes: ['client_credentials'], accessTokenFormat: 'opaque' }),
    /** Password grant with refresh tokens: an access, a refresh and an ID token. */
    app: await client('default', { name: 'Avatar CLI', grantTypes: ['password', 'refresh_token'] }),
  };
  await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
  await createTenant(t.deps, { id: 'acme' });
  await createApiWithSecret(t.deps, 'acme', { audience: AVATARS, scopes: ['read:avatars'] }, 86400);
  const acme = await client('acme', { name: 'Acme service', grantTypes: ['client_credentials'], scopes: ['read:avatars'] });

  /** A token-endpoint request over HTTP, as an app makes it; the token response. */
  async function tokens(c: Credentials, params: Record<string, string>, tenant = 'default'): Promise<Record<string, any>> {
    const res = await fetch(`${base}/realms/${tenant}/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { authorization: basic(c.id, c.secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params),
    });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    return body;
  }
  const serviceToken = async (c: Credentials = clients.service, scope = 'read:avatars', tenant = 'default'): Promise<string> =>
    (await tokens(c, { grant_type: 'client_credentials', scope }, tenant)).access_token;

  async function revoke(c: Credentials, token: string): Promise<void> {
    const res = await fetch(`${base}/realms/default/protocol/openid-connect/revoke`, {
      method: 'POST',
      headers: { authorization: basic(c.id, c.secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }),
    });
    expect(res.status).toBe(200);
  }

  return {
    t, base, issuer, port, clients, acme,
    api: { id: avatars.api.id, secret: avatars.secret },
    tokens, serviceToken, revoke,
    close: () => t.close(),
  };
}

export type TesseraWorld = Awaited<ReturnType<typeof tesseraWorld>>;

/** A small HTTP server on a free port (the OS picks it); `close` ends it and its connections. */
export async function listen(server: Server): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A stand-in authorization server: one ES256 key published at `{url}/jwks`, and a minting
 * function for access tokens with any claims — DPoP-bound ones (`cnf.jkt`) in particular.
 */
export async function standInIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const kid = 'stand-in-1';
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const server = await listen(
    createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.url === '/jwks' ? { keys: [jwk] } : { error: 'not_found' }));
    }),
  );
  const issuer = `${server.url}/issuer`;
  async function mint(claims: JWTPayload, header: { typ?: string } = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: issuer, aud: AVATARS, sub: 'user-1', client_id: 'client-1', scope: 'read:avatars', iat: now, exp: now + 300, jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'ES256', kid, typ: header.typ ?? 'at+jwt' })
      .sign(privateKey);
  }
  return { issuer, jwksUri: `${server.url}/jwks`, mint, close: server.close };
}

/** A client's DPoP key, and proofs made with it (RFC 9449 §4.2). */
export async function dpopKey(alg: 'ES256' | 'EdDSA' = 'ES256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk: JWK = await exportJWK(publicKey);
  const jkt = await calculateJwkThumbprint(jwk, 'sha256');
  async function proof(claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT({ jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
      .setProtectedHeader({ alg, typ: 'dpop+jwt', jwk, ...header })
      .sign(privateKey);
  }
  return { jwk, jkt, proof, privateKey };
}

/** An error response as the tests compare it whole. */
export const refusal = (status: number, challenge: string | undefined, error: string, description: string): ErrorResponse => ({
  status,
  headers: {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    ...(challenge !== undefined && { 'www-authenticate': challenge }),
  },
  body: { error, error_description: description } as ErrorResponse['body'],
});

/** `WWW-Authenticate: Bearer …` for an error of the avatars API (the realm is its audience). */
export const bearer = (error: string, description: string, extra = '') =>
  `Bearer realm="${AVATARS}", error="${error}", error_description="${description}"${extra}`;
