/**
 * RFC 8693 token exchange as oauth4webapi drives it against `tessera start` (DESIGN.md §1
 * "Client libraries that must work unchanged"): found through RFC 8414 discovery, sent with
 * `genericTokenEndpointRequest` and checked by `processGenericTokenEndpointResponse`; the
 * issued token verified with jose against the published JWKS. Provisioned with the CLI.
 * Needs the compiled dist/ (`npm test` builds it first).
 */
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';
import { startServer, type TesseraServer, waitForScope } from './support/server.js';
import { createUser, type CreatedUser } from './support/users.js';

const AVATARS = 'https://api.loomai.com/';
const BILLING = 'https://billing.example/';
const GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const ALICE = { username: 'alice', password: 'correct horse battery' };
const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe.each(BACKENDS)('oauth4webapi: token exchange on %s', (backend) => {
  let server: TesseraServer;
  let alice: CreatedUser;
  let app: { client_id: string; client_secret: string };
  let gateway: { client_id: string; client_secret: string };

  beforeAll(async () => {
    server = await startServer({ backend, publicUrl: (port) => `http://127.0.0.1:${port}` });
    try {
      await server.cli('api', 'create', '--tenant', 'default', '--audience', AVATARS, '--scope', 'read:avatars=Read your avatars', '--scope', 'write:avatars');
      await server.cli('api', 'create', '--tenant', 'default', '--audience', BILLING, '--scope', 'read:billing');
      [app, alice] = await Promise.all([
        server.cli('client', 'create', '--tenant', 'default', '--name', 'Avatar Studio', '--grant-types', 'password', '--scopes', 'read:avatars write:avatars'),
        createUser(server, ALICE),
      ]);
      gateway = await server.cli(
        'client', 'create', '--tenant', 'default', '--name', 'Gateway', '--grant-types', `${GRANT},client_credentials`, '--scopes', 'read:avatars',
        '--token-exchange-subject-client', app.client_id,
      );
      await waitForScope(server.issuer, 'read:billing');
    } catch (err) {
      await server.stop();
      throw err;
    }
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('exchanges a user token for a delegated token of another client, act and all', async () => {
    const issuer = new URL(server.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    expect(as.grant_types_supported).toContain(GRANT);

    const appClient: oauth.Client = { client_id: app.client_id };
    const signedIn = await oauth.processGenericTokenEndpointResponse(
      as, appClient,
      await oauth.genericTokenEndpointRequest(as, appClient, oauth.ClientSecretBasic(app.client_secret), 'password', { ...ALICE, scope: 'read:avatars write:avatars' }, insecure),
    );
    const gw: oauth.Client = { client_id: gateway.client_id };
    const auth = oauth.ClientSecretBasic(gateway.client_secret);
    const actor = await oauth.processClientCredentialsResponse(as, gw, await oauth.clientCredentialsGrantRequest(as, gw, auth, {}, insecure));

    const response = await oauth.genericTokenEndpointRequest(as, gw, auth, GRANT, {
      subject_token: signedIn.access_token, subject_token_type: ACCESS_TOKEN, actor_token: actor.access_token, actor_token_type: ACCESS_TOKEN, audience: AVATARS,
    }, insecure);
    const exchanged = await oauth.processGenericTokenEndpointResponse(as, gw, response);
    // Narrowed to what gateway may request: write:avatars is alice's grant to app, not gateway's.
    expect(exchanged).toEqual({
      access_token: expect.any(String), issued_token_type: ACCESS_TOKEN, token_type: 'bearer', expires_in: 3600, scope: 'read:avatars', 'not-before-policy': 0,
    });

    const { payload, protectedHeader } = await jwtVerify(exchanged.access_token, createRemoteJWKSet(new URL(as.jwks_uri!)), {
      issuer: as.issuer, audience: AVATARS, typ: 'at+jwt',
    });
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload).toEqual({
      iss: as.issuer, sub: alice.id, aud: AVATARS, client_id: gateway.client_id, scope: 'read:avatars', act: { sub: gateway.client_id },
      iat: expect.any(Number), exp: payload.iat! + 3600, jti: expect.stringMatching(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/),
    });
  });

  it('surfaces a refusal as an OAuth error the library understands', async () => {
    const issuer = new URL(server.issuer);
    const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }));
    const gw: oauth.Client = { client_id: gateway.client_id };
    const auth = oauth.ClientSecretBasic(gateway.client_secret);
    const own = await oauth.processClientCredentialsResponse(as, gw, await oauth.clientCredentialsGrantRequest(as, gw, auth, {}, insecure));
    const response = await oauth.genericTokenEndpointRequest(as, gw, auth, GRANT, { subject_token: own.access_token, subject_token_type: ACCESS_TOKEN, audience: BILLING }, insecure);
    await expect(oauth.processGenericTokenEndpointResponse(as, gw, response)).rejects.toMatchObject({
      code: 'OAUTH_RESPONSE_BODY_ERROR', status: 400, error: 'invalid_target',
      cause: { error: 'invalid_target', error_description: `the client may not obtain tokens for "${BILLING}" by token exchange` },
    });
  });
});
