/**
 * SECURITY-CHECKLIST §C — client authentication with `private_key_jwt` (item 26; RFC 7523
 * §2.2 and §3, OIDC Core §9), black-box through app.inject on every backend. The server runs
 * on a plain-http loopback public URL (local development), so a jwks_uri may point at the
 * loopback JWKS server this file starts; everything else about the outbound rules holds.
 */
import { createPublicKey, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LightMyRequestResponse } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { clearFetchedJwks, jwksFetchSettings } from '../../src/http/client_jwks.js';
import type { Resolver } from '../../src/http/outbound.js';
import { createClient, updateClient } from '../../src/manage/clients.js';
import { BACKENDS, basic, FakeClock, form, FORM_HEADERS, startTestApp, type TestApp } from '../helpers.js';

const DEV_PUBLIC_URL = 'http://localhost:9000';
const ISSUER = `${DEV_PUBLIC_URL}/realms/default`;
const TOKEN_ENDPOINT = `${ISSUER}/protocol/openid-connect/token`;
const TOKEN = '/realms/default/protocol/openid-connect/token';
const REVOKE = '/realms/default/protocol/openid-connect/revoke';
const INTROSPECT = '/realms/default/protocol/openid-connect/token/introspect';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ALGS = 'RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA';
const POLICY = { publicUrl: DEV_PUBLIC_URL };

interface Signer {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signer(alg: string, kid: string): Promise<Signer> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'EdDSA' && { crv: 'Ed25519' }) });
  return { alg, kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig' } };
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A JWKS server on loopback: documents by path, and how often each was fetched. */
class JwksHost {
  server!: Server;
  docs = new Map<string, { status?: number; body: string; delayMs?: number; headers?: Record<string, string> }>();
  hits = new Map<string, number>();

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const path = req.url ?? '';
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
      const doc = this.docs.get(path);
      if (!doc) return res.writeHead(404).end();
      setTimeout(() => res.writeHead(doc.status ?? 200, { 'content-type': 'application/json', ...doc.headers }).end(doc.body), doc.delayMs ?? 0);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${path}`;
  }

  publish(path: string, keys: JWK[]): void {
    this.docs.set(path, { body: JSON.stringify({ keys }) });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const view = (res: LightMyRequestResponse) => ({ status: res.statusCode, challenge: res.headers['www-authenticate'], body: res.json() });
const refused = (description: string) => ({ status: 401, challenge: 'Basic realm="default", charset="UTF-8"', body: { error: 'invalid_client', error_description: description } });
const badRequest = (description: string) => ({ status: 400, challenge: undefined, body: { error: 'invalid_request', error_description: description } });
const ISSUED = { status: 200, challenge: undefined, body: { access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, scope: 'tenant:level' } };

describe.each(BACKENDS)('SECURITY-CHECKLIST C: client authentication with private_key_jwt on %s', (backend) => {
  const clock = new FakeClock(Date.UTC(2026, 2, 1));
  let t: TestApp;
  let host: JwksHost;
  let es: Signer;
  let es2: Signer;
  let rsa: Signer;
  let ed: Signer;
  /** Registered for private_key_jwt with an inline JWKS of es, rsa and ed. */
  let inline: string;
  /** The same, with --assertion-aud-token-endpoint. */
  let compat: string;
  /** A client_secret_basic client. */
  let secretClient: { id: string; secret: string };

  const now = () => Math.floor(clock.ms / 1000);

  /** A client assertion: valid unless `claims` (undefined removes a claim) or `header` say otherwise. */
  function assertion(clientId: string, key: Signer = es, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
    const payload: Record<string, unknown> = { iss: clientId, sub: clientId, aud: ISSUER, jti: randomUUID(), iat: now(), exp: now() + 60, ...claims };
    for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
    return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);
  }

  const post = (url: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
    t.app.inject({ method: 'POST', url, headers: { ...FORM_HEADERS, ...headers }, payload: form(fields) });
  const withAssertion = (jwt: string, extra: Record<string, string> = {}, url = TOKEN) =>
    post(url, { ...(url === TOKEN && { grant_type: 'client_credentials' }), client_assertion_type: JWT_BEARER, client_assertion: jwt, ...extra });

  const makeKeyClient = async (name: string, keys: { jwks?: object; jwksUri?: string }, extra: object = {}) =>
    (await createClient(t.deps, 'default', { name, grantTypes: ['client_credentials'], scopes: ['tenant:level'], tokenEndpointAuthMethod: 'private_key_jwt', ...keys, ...extra }, 86400, POLICY)).client.clientId;

  beforeAll(async () => {
    [es, es2, rsa, ed] = await Promise.all([signer('ES256', 'es-1'), signer('ES256', 'es-2'), signer('PS256', 'rsa-1'), signer('EdDSA', 'ed-1')]);
    host = await new JwksHost().start();
    t = await startTestApp(backend, { clock, config: { publicUrl: DEV_PUBLIC_URL } });
    inline = await makeKeyClient('Inline Keys', { jwks: { keys: [es.jwk, rsa.jwk, ed.jwk] } });
    compat = await makeKeyClient('Token Endpoint Audience', { jwks: { keys: [es.jwk] } }, { assertionAudienceTokenEndpoint: true });
    const made = await createClient(t.deps, 'default', { name: 'Secret', grantTypes: ['client_credentials'], scopes: ['tenant:level'] }, 86400, POLICY);
    secretClient = { id: made.client.clientId, secret: made.secret! };
  });
  afterAll(async () => {
    await t?.close();
    await host?.close();
  });
  afterEach(() => {
    jwksFetchSettings.resolver = undefined;
    jwksFetchSettings.timeoutMs = 2000;
    clearFetchedJwks();
  });

  it('26. private_key_jwt: a replayed jti, a missing sub, an expired exp, a wrong aud, alg none or HS256-with-public-key are rejected', async () => {
    // A replayed jti: the first use succeeds, the second is refused.
    const once = await assertion(inline);
    expect(view(await withAssertion(once))).toEqual(ISSUED);
    expect(view(await withAssertion(once))).toEqual(refused('client assertion was already used (its jti was seen before)'));
    // The same jti in a fresh assertion is a replay too.
    const jti = randomUUID();
    expect(view(await withAssertion(await assertion(inline, es, { jti })))).toEqual(ISSUED);
    expect(view(await withAssertion(await assertion(inline, es, { jti })))).toEqual(refused('client assertion was already used (its jti was seen before)'));

    // A missing sub (RFC 7523 §3 item 2), with and without client_id in the body.
    expect(view(await withAssertion(await assertion(inline, es, { sub: undefined })))).toEqual(refused('client assertion has no sub claim'));
    expect(view(await withAssertion(await assertion(inline, es, { sub: undefined }), { client_id: inline }))).toEqual(refused('client assertion has no sub claim'));

    // An expired exp (§3 item 4), beyond the 30 s leeway.
    expect(view(await withAssertion(await assertion(inline, es, { iat: now() - 120, exp: now() - 31 })))).toEqual(refused('client assertion has expired'));

    // A wrong aud (§3 item 3): another server, an alias of this one, the tenant-less base URL.
    for (const aud of ['https://other.example/realms/default', `${DEV_PUBLIC_URL}/auth/realms/default`, DEV_PUBLIC_URL, `${ISSUER}/`]) {
      expect(view(await withAssertion(await assertion(inline, es, { aud })))).toEqual(refused(`client assertion aud must be the issuer ${ISSUER}`));
    }

    // alg none: no signature at all.
    const claims = { iss: inline, sub: inline, aud: ISSUER, jti: randomUUID(), iat: now(), exp: now() + 60 };
    const unsigned = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    expect(view(await withAssertion(unsigned))).toEqual(refused(`client assertion alg "none" is not accepted; use one of ${ALGS}`));

    // HS256 keyed with the client's public key (PEM and JWK forms): anyone has that key.
    const pem = (createPublicKey({ key: es.jwk as never, format: 'jwk' }) as KeyObject).export({ type: 'spki', format: 'pem' }) as string;
    for (const secret of [pem, JSON.stringify(es.jwk)]) {
      const hs = await new SignJWT({ ...claims, jti: randomUUID() }).setProtectedHeader({ alg: 'HS256', kid: es.kid }).sign(new TextEncoder().encode(secret));
      expect(view(await withAssertion(hs))).toEqual(refused(`client assertion alg "HS256" is not accepted; use one of ${ALGS}`));
    }
    // Nothing refused above was recorded: a refused assertion's jti stays unused.
    expect(view(await withAssertion(await assertion(inline, es, { jti: claims.jti })))).toEqual(ISSUED);
  });

  it('accepts assertions verified with the inline jwks (ES256, PS256, EdDSA) at the token, revocation and introspection endpoints', async () => {
    for (const key of [es, rsa, ed]) expect(view(await withAssertion(await assertion(inline, key)))).toEqual(ISSUED);
    // client_id in the body is allowed when it matches (RFC 7523 §3 item 2).
    const res = await withAssertion(await assertion(inline), { client_id: inline });
    expect(view(res)).toEqual(ISSUED);
    const token = res.json().access_token as string;

    const introspected = await withAssertion(await assertion(inline, ed), { token }, INTROSPECT);
    expect({ status: introspected.statusCode, body: introspected.json() }).toEqual({
      status: 200,
      body: { active: true, scope: 'tenant:level', client_id: inline, sub: inline, aud: `${ISSUER}/api`, exp: now() + 3600, iat: now(), iss: ISSUER, token_type: 'Bearer', jti: expect.any(String) },
    });
    const revoked = await withAssertion(await assertion(inline, rsa), { token }, REVOKE);
    expect({ status: revoked.statusCode, body: revoked.body }).toEqual({ status: 200, body: '' });
    const after = await withAssertion(await assertion(inline), { token }, INTROSPECT);
    expect(after.json()).toEqual({ active: false });
  });

  it('fetches a jwks_uri, keeps it, and refetches on an unknown kid at most every 30 seconds', async () => {
    host.publish('/rotating.json', [es.jwk]);
    const remote = await makeKeyClient('Remote Keys', { jwksUri: host.url('/rotating.json') });
    expect(view(await withAssertion(await assertion(remote, es)))).toEqual(ISSUED);
    expect(view(await withAssertion(await assertion(remote, es)))).toEqual(ISSUED);
    expect(host.hits.get('/rotating.json')).toBe(1);

    // The client rotates to es-2. Right after a fetch, an unknown kid does not refetch.
    host.publish('/rotating.json', [es.jwk, es2.jwk]);
    expect(view(await withAssertion(await assertion(remote, es2)))).toEqual(refused('no key of the client has kid "es-2" and fits alg ES256'));
    expect(host.hits.get('/rotating.json')).toBe(1);
    // 30 s later it does, once, and the new key works at once.
    clock.advance(30);
    expect(view(await withAssertion(await assertion(remote, es2)))).toEqual(ISSUED);
    expect(view(await withAssertion(await assertion(remote, es2)))).toEqual(ISSUED);
    expect(host.hits.get('/rotating.json')).toBe(2);
    // A kid nobody has costs one refetch per 30 s, however often it is sent.
    clock.advance(30);
    for (let i = 0; i < 3; i++) {
      expect(view(await withAssertion(await assertion(remote, es, {}, { kid: 'nobody' })))).toEqual(refused('no key of the client has kid "nobody" and fits alg ES256'));
    }
    expect(host.hits.get('/rotating.json')).toBe(3);
    // The document is fetched again when its 5 minutes are over, kid known or not.
    clock.advance(300);
    expect(view(await withAssertion(await assertion(remote, es)))).toEqual(ISSUED);
    expect(host.hits.get('/rotating.json')).toBe(4);
  });

  it('57. a jwks_uri is fetched only under the outbound rules: public addresses, no redirects, a short timeout, a size limit, and a failure is kept for 5 s', async () => {
    const failed = (reason: string) => refused(`the client's jwks_uri could not be fetched: ${reason}`);
    const resolveTo = (address: string): Resolver => async () => [{ address, family: address.includes(':') ? 6 : 4 }];

    const privateHost = await makeKeyClient('Private Host', { jwksUri: 'https://keys.internal.example/jwks.json' });
    jwksFetchSettings.resolver = resolveTo('10.0.0.8');
    expect(view(await withAssertion(await assertion(privateHost)))).toEqual(failed('the host resolves to a private address (10.0.0.8)'));
    // A failure is remembered for 5 s, so assertions that merely name the client cost no request each.
    clock.advance(5);
    jwksFetchSettings.resolver = resolveTo('169.254.169.254');
    expect(view(await withAssertion(await assertion(privateHost)))).toEqual(failed('the host resolves to a private address (169.254.169.254)'));

    const missing = await makeKeyClient('Missing Document', { jwksUri: host.url('/missing.json') });
    for (let i = 0; i < 3; i++) expect(view(await withAssertion(await assertion(missing)))).toEqual(failed('answered 404'));
    expect(host.hits.get('/missing.json')).toBe(1);
    clock.advance(5);
    expect(view(await withAssertion(await assertion(missing)))).toEqual(failed('answered 404'));
    expect(host.hits.get('/missing.json')).toBe(2);

    host.docs.set('/moved.json', { status: 302, body: '', headers: { location: host.url('/rotating.json') } });
    const moved = await makeKeyClient('Moved', { jwksUri: host.url('/moved.json') });
    expect(view(await withAssertion(await assertion(moved)))).toEqual(failed('answered 302; redirects are not followed'));

    host.docs.set('/slow.json', { body: JSON.stringify({ keys: [es.jwk] }), delayMs: 1000 });
    const slow = await makeKeyClient('Slow', { jwksUri: host.url('/slow.json') });
    jwksFetchSettings.timeoutMs = 200;
    expect(view(await withAssertion(await assertion(slow)))).toEqual(failed('timed out'));

    host.docs.set('/big.json', { body: JSON.stringify({ keys: [es.jwk], padding: 'x'.repeat(70_000) }) });
    const big = await makeKeyClient('Big', { jwksUri: host.url('/big.json') });
    expect(view(await withAssertion(await assertion(big)))).toEqual(failed('the response is larger than 65536 bytes'));

    host.docs.set('/html.json', { body: '<html>keys</html>' });
    const html = await makeKeyClient('Not JSON', { jwksUri: host.url('/html.json') });
    expect(view(await withAssertion(await assertion(html)))).toEqual(failed('the response is not JSON'));

    // Registration refuses what could never be fetched.
    const register = (jwksUri: string, policy = POLICY) =>
      createClient(t.deps, 'default', { name: 'Bad URI', grantTypes: ['client_credentials'], tokenEndpointAuthMethod: 'private_key_jwt', jwksUri }, 86400, policy);
    await expect(register('http://keys.example/jwks.json')).rejects.toThrow(
      "jwks URI http://keys.example/jwks.json must use https (http is allowed only on a loopback host while the server's own public URL is http on loopback)",
    );
    await expect(register(host.url('/rotating.json'), { publicUrl: 'https://auth.example.com' })).rejects.toThrow(/^jwks URI http:\/\/127\.0\.0\.1:\d+\/rotating\.json must use https/);
    await expect(register('https://10.1.2.3/jwks.json')).rejects.toThrow('jwks URI https://10.1.2.3/jwks.json names a private address; the server calls nothing there');
    await expect(register('https://user:pw@keys.example/jwks.json')).rejects.toThrow('jwks URI https://user:pw@keys.example/jwks.json must not contain user information');
  });

  it('accepts the token endpoint URL as aud only for a client switched to it, and never an alias URL', async () => {
    expect(view(await withAssertion(await assertion(inline, es, { aud: TOKEN_ENDPOINT })))).toEqual(refused(`client assertion aud must be the issuer ${ISSUER}`));
    expect(view(await withAssertion(await assertion(compat, es, { aud: TOKEN_ENDPOINT })))).toEqual(ISSUED);
    expect(view(await withAssertion(await assertion(compat, es, { aud: ISSUER })))).toEqual(ISSUED);
    const either = refused(`client assertion aud must be the issuer ${ISSUER} or the token endpoint ${TOKEN_ENDPOINT}`);
    for (const aud of [`${DEV_PUBLIC_URL}/auth/realms/default/protocol/openid-connect/token`, `${DEV_PUBLIC_URL}/oauth/token`, `${DEV_PUBLIC_URL}/oauth2/token`, 'https://other.example/token']) {
      expect(view(await withAssertion(await assertion(compat, es, { aud })))).toEqual(either);
    }
  });

  it('refuses aud as an array, unless the client is switched and every member is the issuer or the token endpoint', async () => {
    const single = refused(`client assertion aud must be a single string, the issuer ${ISSUER}`);
    expect(view(await withAssertion(await assertion(inline, es, { aud: [ISSUER] })))).toEqual(single);
    expect(view(await withAssertion(await assertion(inline, es, { aud: [ISSUER, 'https://attacker.example'] })))).toEqual(single);
    expect(view(await withAssertion(await assertion(inline, es, { aud: undefined })))).toEqual(refused(`client assertion aud must be the issuer ${ISSUER}`));
    const either = refused(`client assertion aud must be the issuer ${ISSUER} or the token endpoint ${TOKEN_ENDPOINT}`);
    expect(view(await withAssertion(await assertion(compat, es, { aud: [ISSUER, 'https://attacker.example'] })))).toEqual(either);
    expect(view(await withAssertion(await assertion(compat, es, { aud: [] })))).toEqual(either);
    expect(view(await withAssertion(await assertion(compat, es, { aud: [ISSUER, TOKEN_ENDPOINT] })))).toEqual(ISSUED);
  });

  it('refuses an exp more than 300 seconds ahead, and a missing exp or jti, a future nbf or iat', async () => {
    expect(view(await withAssertion(await assertion(inline, es, { exp: now() + 331 })))).toEqual(refused('client assertion exp is more than 300 seconds ahead'));
    expect(view(await withAssertion(await assertion(inline, es, { exp: now() + 86400 })))).toEqual(refused('client assertion exp is more than 300 seconds ahead'));
    expect(view(await withAssertion(await assertion(inline, es, { exp: now() + 300 })))).toEqual(ISSUED);
    // Within the leeway for clock differences, either way.
    expect(view(await withAssertion(await assertion(inline, es, { exp: now() - 29 })))).toEqual(ISSUED);
    expect(view(await withAssertion(await assertion(inline, es, { exp: undefined })))).toEqual(refused('client assertion has no exp claim'));
    expect(view(await withAssertion(await assertion(inline, es, { exp: String(now() + 60) })))).toEqual(refused('client assertion has no exp claim'));
    expect(view(await withAssertion(await assertion(inline, es, { jti: undefined })))).toEqual(refused('client assertion has no jti claim'));
    expect(view(await withAssertion(await assertion(inline, es, { nbf: now() + 31 })))).toEqual(refused('client assertion is not valid yet (nbf)'));
    expect(view(await withAssertion(await assertion(inline, es, { iat: now() + 31 })))).toEqual(refused('client assertion iat is in the future'));
    expect(view(await withAssertion(await assertion(inline, es, { nbf: now() + 29, iat: now() + 29 })))).toEqual(ISSUED);
  });

  it('refuses an assertion signed by a key the client did not register, or with a broken signature', async () => {
    const stranger = await signer('ES256', es.kid);
    expect(view(await withAssertion(await assertion(inline, stranger)))).toEqual(refused('client assertion signature is invalid'));
    const jwt = await assertion(inline);
    const [h, p, s] = jwt.split('.');
    const tampered = `${h}.${b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: inline, scope: 'admin' })}.${s}`;
    expect(view(await withAssertion(tampered))).toEqual(refused('client assertion signature is invalid'));
    expect(view(await withAssertion(await assertion(inline, es2)))).toEqual(refused('no key of the client has kid "es-2" and fits alg ES256'));
    // The header may name no kid: every key that fits the alg is tried.
    expect(view(await withAssertion(await assertion(inline, es, {}, { kid: undefined })))).toEqual(ISSUED);
    expect(view(await withAssertion('not.a.jwt'))).toEqual(refused('client_assertion is not a well-formed signed JWT'));
  });

  it('a private_key_jwt client cannot use a secret, nor a secret client an assertion; the method must match the registration', async () => {
    const mustAssert = refused('the client must authenticate with a client assertion (private_key_jwt)');
    const cc = { grant_type: 'client_credentials' };
    expect(view(await post(TOKEN, cc, { authorization: basic(inline, 'guessed-secret') }))).toEqual(mustAssert);
    expect(view(await post(TOKEN, { ...cc, client_id: inline, client_secret: 'guessed-secret' }))).toEqual(mustAssert);
    expect(view(await post(TOKEN, { ...cc, client_id: inline }))).toEqual(mustAssert);
    expect(view(await post(INTROSPECT, { token: 'x' }, { authorization: basic(inline, '') }))).toEqual(mustAssert);

    // An assertion for the secret client, signed with a key registered to another client.
    expect(view(await withAssertion(await assertion(secretClient.id)))).toEqual(refused('the client is not registered for private_key_jwt authentication'));
    expect(view(await withAssertion(await assertion('no-such-client')))).toEqual(refused('client authentication failed'));
    // The secret client keeps working with its secret.
    expect(view(await post(TOKEN, cc, { authorization: basic(secretClient.id, secretClient.secret) }))).toEqual(ISSUED);
  });

  it('refuses a client_id that does not match, a second credential, and another assertion type', async () => {
    const jwt = await assertion(inline);
    expect(view(await withAssertion(jwt, { client_id: compat }))).toEqual(refused('client_id does not match the client assertion sub'));
    expect(view(await withAssertion(await assertion(inline, es, { iss: compat })))).toEqual(refused('client assertion iss and sub must both be the client_id'));
    expect(view(await withAssertion(jwt, { client_secret: 'x' }))).toEqual(badRequest('client_secret and client_assertion must not be used together'));
    expect(view(await post(TOKEN, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER, client_assertion: jwt }, { authorization: basic(inline, 'x') }))).toEqual(
      badRequest('client credentials were given both in the authorization header and as a client assertion'),
    );
    expect(view(await post(TOKEN, { grant_type: 'client_credentials', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer', client_assertion: jwt }))).toEqual(
      refused(`client_assertion_type must be ${JWT_BEARER}`),
    );
    expect(view(await post(TOKEN, { grant_type: 'client_credentials', client_assertion: jwt }))).toEqual(refused('client_assertion_type is required with client_assertion'));
    expect(view(await post(TOKEN, { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER }))).toEqual(refused('client_assertion is required with client_assertion_type'));
    // None of these used up the assertion.
    expect(view(await withAssertion(jwt))).toEqual(ISSUED);
  });

  it('26. the same assertion presented 20 times at once succeeds exactly once', async () => {
    const jwt = await assertion(inline);
    const results = await Promise.all(Array.from({ length: 20 }, () => withAssertion(jwt)));
    const views = results.map(view);
    expect(views.filter((v) => v.status === 200)).toEqual([ISSUED]);
    expect(views.filter((v) => v.status !== 200)).toEqual(Array(19).fill(refused('client assertion was already used (its jti was seen before)')));
  });

  it('registration: a private_key_jwt client gets no secret, needs its keys, and cannot switch to or from a secret', async () => {
    const made = await createClient(t.deps, 'default', { name: 'Keys Only', grantTypes: ['client_credentials'], tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [es.jwk] } }, 86400, POLICY);
    expect({ secret: made.secret, secretDigest: made.client.secretDigest, method: made.client.tokenEndpointAuthMethod }).toEqual({ secret: undefined, secretDigest: null, method: 'private_key_jwt' });
    await expect(
      createClient(t.deps, 'default', { name: 'No Keys', grantTypes: ['client_credentials'], tokenEndpointAuthMethod: 'private_key_jwt' }, 86400, POLICY),
    ).rejects.toThrow('a private_key_jwt client needs its public keys: give jwks or a jwks URI');
    await expect(updateClient(t.deps, 'default', made.client.clientId, { tokenEndpointAuthMethod: 'client_secret_basic' }, 86400, POLICY)).rejects.toThrow(
      'a client cannot change between a secret and private_key_jwt; create a new client',
    );
    await expect(updateClient(t.deps, 'default', secretClient.id, { tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [es.jwk] } }, 86400, POLICY)).rejects.toThrow(
      'a client cannot change between a secret and private_key_jwt; create a new client',
    );
    await expect(updateClient(t.deps, 'default', made.client.clientId, { tokenEndpointAuthMethod: 'none' }, 86400, POLICY)).rejects.toThrow(
      'a client cannot change between public and confidential; create a new client',
    );
    // No secret does not make it public: a code request without PKCE goes on to the login page.
    const web = await makeKeyClient('Keys Web', { jwks: { keys: [es.jwk] } }, { grantTypes: ['authorization_code'], redirectUris: ['https://app.example/cb'] });
    const query = new URLSearchParams({ response_type: 'code', client_id: web, redirect_uri: 'https://app.example/cb', scope: 'openid', state: 's', nonce: 'n' });
    const page = await t.app.inject({ url: `/realms/default/protocol/openid-connect/auth?${query}` });
    expect({ status: page.statusCode, login: page.body.includes('name="password"') }).toEqual({ status: 200, login: true });
  });
});
