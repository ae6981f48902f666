/**
 * `private_key_jwt` client authentication (RFC 7523 §2.2) as a user would meet it: the client
 * is registered with `tessera client create --token-endpoint-auth-method private_key_jwt`
 * (`--jwks FILE` or `--jwks-uri URL`), and openid-client's `PrivateKeyJwt` signs the
 * assertions for client credentials, introspection and revocation against a started server.
 * Needs the compiled dist/ (`npm test` builds it first).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify, type JWK } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';
import { runTessera, startServer, type TesseraServer } from './support/server.js';

const ISSUED_AT = expect.any(Number);

describe.each(BACKENDS)('private_key_jwt with openid-client against a started server on %s', (backend) => {
  let server: TesseraServer;
  let dir: string;
  let jwksHost: Server;
  let hostedKeys: { keys: JWK[] } = { keys: [] };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-pkj-'));
    jwksHost = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify(hostedKeys)));
    await new Promise<void>((r) => jwksHost.listen(0, '127.0.0.1', r));
    // http://localhost:PORT: loopback development, so the server may fetch a jwks_uri on loopback.
    server = await startServer({ backend });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    jwksHost?.closeAllConnections();
    await new Promise((r) => jwksHost?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  async function keyPair(alg: string, kid: string) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
  }

  async function issueAndCheck(clientId: string, auth: client.ClientAuth) {
    const config = await client.discovery(new URL(server.issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
    expect(config.serverMetadata()).toMatchObject({
      token_endpoint_auth_methods_supported: expect.arrayContaining(['private_key_jwt']),
      token_endpoint_auth_signing_alg_values_supported: expect.arrayContaining(['ES256', 'PS256', 'EdDSA']),
    });
    const tokens = await client.clientCredentialsGrant(config, { scope: 'tenant:level' });
    expect(tokens).toMatchObject({ token_type: 'bearer', expires_in: 3600, scope: 'tenant:level' });
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${server.issuer}/protocol/openid-connect/certs`)), {
      issuer: server.issuer, audience: `${server.issuer}/api`, typ: 'at+jwt',
    });
    expect(payload).toMatchObject({ sub: clientId, client_id: clientId, scope: 'tenant:level', iat: ISSUED_AT });

    // Introspection and revocation authenticate the same way (RFC 7662 §2.1, RFC 7009 §2.1).
    expect(await client.tokenIntrospection(config, tokens.access_token)).toMatchObject({ active: true, client_id: clientId, scope: 'tenant:level', iss: server.issuer });
    await client.tokenRevocation(config, tokens.access_token);
    expect(await client.tokenIntrospection(config, tokens.access_token)).toEqual({ active: false });
  }

  it('registers a client with --jwks FILE and no secret, and authenticates with PrivateKeyJwt (ES256)', async () => {
    const { privateKey, jwk } = await keyPair('ES256', 'svc-2026');
    const file = join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [jwk] }));
    const svc = await server.cli(
      'client', 'create', '--tenant', 'default', '--name', 'Keyed Service', '--grant-types', 'client_credentials', '--scopes', 'tenant:level',
      '--token-endpoint-auth-method', 'private_key_jwt', '--jwks', file,
    );
    expect(svc).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] }, client_assertion_audience_token_endpoint: false });
    expect(svc.client_secret).toBeUndefined();
    await issueAndCheck(svc.client_id, client.PrivateKeyJwt({ key: privateKey, kid: jwk.kid }));

    // A secret does not work for it, whatever secret is tried.
    const res = await fetch(`${server.issuer}/protocol/openid-connect/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${svc.client_id}:guessed`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    expect({ status: res.status, challenge: res.headers.get('www-authenticate'), body: await res.json() }).toEqual({
      status: 401, challenge: 'Basic realm="default", charset="UTF-8"',
      body: { error: 'invalid_client', error_description: 'the client must authenticate with a client assertion (private_key_jwt)' },
    });
  });

  it('registers a client with --jwks-uri URL and authenticates with keys fetched from it (PS256)', async () => {
    const { privateKey, jwk } = await keyPair('PS256', 'rsa-2026');
    hostedKeys = { keys: [jwk] };
    const uri = `http://127.0.0.1:${(jwksHost.address() as AddressInfo).port}/jwks.json`;
    const svc = await server.cli(
      'client', 'create', '--tenant', 'default', '--name', 'Remote Keys', '--grant-types', 'client_credentials', '--scopes', 'tenant:level',
      '--token-endpoint-auth-method', 'private_key_jwt', '--jwks-uri', uri,
    );
    expect(svc).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: uri });
    expect(svc.client_secret).toBeUndefined();
    await issueAndCheck(svc.client_id, client.PrivateKeyJwt({ key: privateKey, kid: jwk.kid }));
  });

  it('refuses to register a private_key_jwt client without keys', async () => {
    const r = await runTessera(server.cliEnv, ['client', 'create', '--tenant', 'default', '--name', 'No Keys', '--grant-types', 'client_credentials', '--token-endpoint-auth-method', 'private_key_jwt']);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'tessera client create: a private_key_jwt client needs its public keys: give jwks or a jwks URI\n' });
  });
});
