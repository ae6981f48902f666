/**
 * Dynamic client registration from the outside: an operator turns it on and makes an initial
 * access token with the `tessera` CLI, then oauth4webapi (`dynamicClientRegistrationRequest`)
 * registers a client against a started server and uses it for the client_credentials grant.
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';
import { runTessera, startServer, within, type TesseraServer } from './support/server.js';

const insecure = { [oauth.allowInsecureRequests]: true } as const;

describe.each(BACKENDS)('dynamic client registration with the CLI and oauth4webapi on %s', (backend) => {
  let server: TesseraServer;

  beforeAll(async () => {
    server = await startServer({ backend, publicUrl: (port) => `http://127.0.0.1:${port}` });
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('turns registration on with tenant update, registers with an initial access token, and the client gets tokens', async () => {
    const tenant = await server.cli('tenant', 'update', 'default', '--dcr', 'on', '--dcr-allowed-grant-types', 'client_credentials', '--dcr-scopes', 'read:photos');
    expect(tenant.dcr).toEqual({
      enabled: true, open: false, grant_types: ['client_credentials'],
      allow_consent_skip: false, allow_web_page: false, allow_password: false, allow_token_exchange: false, scopes: ['read:photos'],
    });
    const iat = await server.cli('dcr', 'token', 'create', '--tenant', 'default', '--max-uses', '1', '--expires-in', '600');
    expect(iat).toEqual({
      id: expect.any(String), tenant: 'default', token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expires_at: iat.created_at + 600, max_uses: 1, uses: 0, revoked: false,
      created_at: expect.any(Number),
    });

    const issuer = new URL(server.issuer);
    const as = await within(5000, async () => {
      const meta = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));
      return meta.registration_endpoint ? meta : undefined;
    });
    expect(as?.registration_endpoint).toBe(`${server.issuer}/clients-registrations/openid-connect`);

    const response = await oauth.dynamicClientRegistrationRequest(as!, { client_name: 'Photo backend', grant_types: ['client_credentials'], scope: 'read:photos' }, { ...insecure, initialAccessToken: iat.token });
    const client = await oauth.processDynamicClientRegistrationResponse(response);
    expect(client).toMatchObject({ client_name: 'Photo backend', grant_types: ['client_credentials'], scope: 'read:photos', client_secret_expires_at: 0 });

    const tokenResponse = await oauth.clientCredentialsGrantRequest(as!, client, oauth.ClientSecretBasic(client.client_secret as string), { scope: 'read:photos' }, insecure);
    const tokens = await oauth.processClientCredentialsResponse(as!, client, tokenResponse);
    expect(tokens).toMatchObject({ token_type: 'bearer', scope: 'read:photos' });

    // The token was single-use; a second registration with it is refused, as is one with a revoked token.
    const again = await oauth.dynamicClientRegistrationRequest(as!, { grant_types: ['client_credentials'] }, { ...insecure, initialAccessToken: iat.token });
    expect(again.status).toBe(401);
    const other = await server.cli('dcr', 'token', 'create', '--tenant', 'default');
    expect(await server.cli('dcr', 'token', 'revoke', '--tenant', 'default', '--', other.id)).toEqual({ revoked: { id: other.id } });
    const revoked = await oauth.dynamicClientRegistrationRequest(as!, { grant_types: ['client_credentials'] }, { ...insecure, initialAccessToken: other.token });
    expect(revoked.status).toBe(401);
    const list = await server.cli('dcr', 'token', 'list', '--tenant', 'default');
    expect(list.tokens.map((t: { id: string; uses: number; revoked: boolean }) => [t.id, t.uses, t.revoked]).sort()).toEqual([[iat.id, 1, false], [other.id, 0, true]].sort());

    const bad = await runTessera(server.cliEnv, ['tenant', 'update', 'default', '--dcr-allow', 'everything', '--json']);
    expect(bad).toEqual({ code: 1, stdout: '', stderr: 'tessera tenant update: unknown --dcr-allow value everything (known: consent-skip, web-page, password, token-exchange)\n' });
  }, 60_000);
});
