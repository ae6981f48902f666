/**
 * Scale-out (issue 10): two `tessera start` processes on one database behind one public URL,
 * with no sticky sessions (test/support/two_nodes.ts). A flow started on one node completes on the other, a
 * revocation on one holds on the other at once, and every count and replay cache that guards
 * the protocol — client rate limits, the failed-client-authentication throttle, DPoP proof
 * and client-assertion jtis — is one across the nodes (DESIGN.md §2 "Storage and scale-out").
 * On PostgreSQL (the scale-out backend) and on SQLite, whose file several processes on one
 * machine may share (docs/deployment.md).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeJwt, exportJWK, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';
import { dpopKey, makeProof } from './support/dpop.js';
import { AUTH, clientPost, INTROSPECT, jsonView, type Node, PASSWORD, REVOKE, startTwoNodes, TOKEN, type TwoNodes, UserAgent, VALIDATE } from './support/two_nodes.js';

const API = 'https://api.avatars.example/';
const REDIRECT = 'https://app.example/cb';
const SCOPE = 'openid offline_access read:avatars';
const nowSeconds = () => Math.floor(Date.now() / 1000);
const recent = () => expect.toSatisfy((v: unknown) => Number.isInteger(v) && Math.abs((v as number) - nowSeconds()) < 120, 'a time in seconds close to now');
const INVALID_TOKEN = {
  status: 401,
  challenge: 'Bearer realm="default", error="invalid_token", error_description="the access token is invalid, expired or revoked"',
  body: { error: 'invalid_token', error_description: 'the access token is invalid, expired or revoked' },
};
const INACTIVE = { status: 200, cacheControl: 'no-store', body: { active: false } };

interface Client {
  client_id: string;
  client_secret?: string;
}

describe.each(BACKENDS)('two nodes on one %s database', (backend) => {
  let n: TwoNodes;
  let a: Node;
  let b: Node;
  let aliceId: string;
  let web: Client;
  let opaque: Client;
  let svc: Client;
  let metered: Client;
  let guarded: Client;
  let signer: Client;
  let jwksDir: string;
  let signingKey: CryptoKey;

  beforeAll(async () => {
    // A low per-client limit to reach, and a per-address one out of the way: every request comes from 127.0.0.1.
    n = await startTwoNodes(backend, { TESSERA_CLIENT_AUTH_FAILURES_PER_CLIENT: '4', TESSERA_CLIENT_AUTH_FAILURES_PER_IP: '1000' });
    ({ a, b } = n);
    try {
      await n.cli('api', 'create', '--tenant', 'default', '--audience', API, '--scope', 'read:avatars=Read your avatars');
      const keys = await generateKeyPair('ES256', { extractable: true });
      signingKey = keys.privateKey;
      jwksDir = mkdtempSync(join(tmpdir(), 'tessera-scaleout-'));
      writeFileSync(join(jwksDir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
      const code = ['--redirect-uri', REDIRECT, '--grant-types', 'authorization_code,refresh_token', '--scopes', 'read:avatars'];
      const service = ['--grant-types', 'client_credentials', '--scopes', 'read:avatars'];
      [web, opaque, svc, metered, guarded, signer, { id: aliceId }] = await Promise.all([
        n.cli('client', 'create', '--tenant', 'default', '--name', 'Avatar Studio', ...code),
        n.cli('client', 'create', '--tenant', 'default', '--name', 'Opaque App', ...code, '--access-token-format', 'opaque'),
        n.cli('client', 'create', '--tenant', 'default', '--name', 'Service', ...service),
        n.cli('client', 'create', '--tenant', 'default', '--name', 'Metered', ...service, '--rate-limit', '4/1h'),
        n.cli('client', 'create', '--tenant', 'default', '--name', 'Guarded', ...service),
        n.cli('client', 'create', '--tenant', 'default', '--name', 'Signer', ...service, '--token-endpoint-auth-method', 'private_key_jwt', '--jwks', join(jwksDir, 'jwks.json')),
        n.user('alice'),
      ]);
    } catch (err) {
      await n.stop();
      throw err;
    }
  }, 120_000);

  afterAll(async () => {
    await n?.stop();
    if (jwksDir) rmSync(jwksDir, { recursive: true, force: true });
  });

  /**
   * A person through the pages, each step on the node named (a load balancer without sticky
   * sessions): the authorization request, the sign-in form, and the consent form when asked.
   * Returns the redirect's parameters and the PKCE verifier.
   */
  async function authorize(client: Client, steps: { auth: Node; login: Node; consent: Node }) {
    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const ua = new UserAgent();
    const query = new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, scope: SCOPE, state: 'st', nonce: 'nn', code_challenge: challenge, code_challenge_method: 'S256' });
    const login = await ua.get(steps.auth, `${AUTH}?${query}`);
    let res = await ua.submit(steps.login, login, { username: 'alice', password: PASSWORD });
    if (res.status === 200) res = await ua.submit(steps.consent, res, { decision: 'allow' });
    expect(res.status, await res.clone().text()).toBe(303);
    const location = new URL(res.headers.get('location')!);
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT);
    return { params: Object.fromEntries(location.searchParams), verifier };
  }

  /** The code flow started on A (sign-in posted to B), the code redeemed at B: the token response. */
  async function tokensFor(client: Client): Promise<Record<string, string>> {
    const { params, verifier } = await authorize(client, { auth: a, login: b, consent: a });
    const res = await clientPost(b, TOKEN, client, { grant_type: 'authorization_code', code: params.code, redirect_uri: REDIRECT, code_verifier: verifier });
    expect(res.status).toBe(200);
    return res.json();
  }

  const validate = async (node: Node, token: string) => {
    const res = await fetch(node.url(VALIDATE), { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, challenge: res.headers.get('www-authenticate'), body: await res.json() };
  };

  it('completes a code flow across nodes: authorize on A, sign in on B, consent on A, the code redeemed at B, the refresh at A', async () => {
    const { params, verifier } = await authorize(web, { auth: a, login: b, consent: a });
    // RFC 9207: the one issuer, whichever node answered.
    expect(params).toEqual({ code: expect.stringMatching(/^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/), state: 'st', iss: n.issuer, session_state: expect.any(String) });

    const redeemed = await clientPost(b, TOKEN, web, { grant_type: 'authorization_code', code: params.code, redirect_uri: REDIRECT, code_verifier: verifier });
    const tokens = (await jsonView(redeemed)).body;
    expect({ status: redeemed.status, cacheControl: redeemed.headers.get('cache-control'), body: tokens }).toEqual({
      status: 200, cacheControl: 'no-store',
      body: { access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, refresh_token: expect.any(String), scope: SCOPE, id_token: expect.any(String) },
    });
    // Issued by B, verified with the keys A publishes: one key set for the tenant.
    const jwks = createLocalJWKSet(await (await fetch(a.url(`${n.issuer}/protocol/openid-connect/certs`))).json());
    const { payload: access } = await jwtVerify(tokens.access_token, jwks, { issuer: n.issuer, audience: API, typ: 'at+jwt' });
    expect(access).toMatchObject({ sub: aliceId, client_id: web.client_id, scope: SCOPE });
    const { payload: id } = await jwtVerify(tokens.id_token, jwks, { issuer: n.issuer, audience: web.client_id });
    expect(id).toMatchObject({ sub: aliceId, nonce: 'nn', auth_time: recent() });

    const introspected = await clientPost(a, INTROSPECT, web, { token: tokens.access_token });
    expect(await jsonView(introspected)).toEqual({
      status: 200, cacheControl: 'no-store',
      body: { active: true, scope: SCOPE, client_id: web.client_id, sub: aliceId, aud: access.aud, exp: access.exp, iat: access.iat, iss: n.issuer, token_type: 'Bearer', jti: access.jti },
    });

    const refreshed = await clientPost(a, TOKEN, web, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    expect(await jsonView(refreshed)).toEqual({
      status: 200, cacheControl: 'no-store',
      body: { access_token: expect.any(String), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, refresh_token: expect.any(String), scope: SCOPE, id_token: expect.any(String) },
    });
    // The rotated-out token is spent on every node (RFC 9700 §4.14.2).
    expect(await jsonView(await clientPost(b, TOKEN, web, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }))).toEqual({
      status: 400, cacheControl: 'no-store', body: { error: 'invalid_grant', error_description: 'refresh token was already used' },
    });
  });

  it.each([
    ['a JWT', () => web],
    ['an opaque', () => opaque],
  ])('sees the revocation of %s access token at B at once at A: introspection inactive, validate 401', async (_kind, client) => {
    const tokens = await tokensFor(client());
    expect((await validate(a, tokens.access_token)).status).toBe(200);
    // RFC 7009 §2.2: 200 with an empty body.
    const revoked = await clientPost(b, REVOKE, client(), { token: tokens.access_token });
    expect({ status: revoked.status, body: await revoked.text() }).toEqual({ status: 200, body: '' });
    expect(await jsonView(await clientPost(a, INTROSPECT, client(), { token: tokens.access_token }))).toEqual(INACTIVE);
    expect(await validate(a, tokens.access_token)).toEqual(INVALID_TOKEN);
  });

  it('sees a refresh token revoked at B at once at A: inactive, its grant gone, a refresh refused with invalid_grant', async () => {
    const tokens = await tokensFor(web);
    const revoked = await clientPost(b, REVOKE, web, { token: tokens.refresh_token, token_type_hint: 'refresh_token' });
    expect({ status: revoked.status, body: await revoked.text() }).toEqual({ status: 200, body: '' });
    expect(await jsonView(await clientPost(a, INTROSPECT, web, { token: tokens.refresh_token }))).toEqual(INACTIVE);
    // RFC 7009 §2.1: revoking a refresh token ends its grant, the access token with it.
    expect(await jsonView(await clientPost(a, INTROSPECT, web, { token: tokens.access_token }))).toEqual(INACTIVE);
    expect(await validate(a, tokens.access_token)).toEqual(INVALID_TOKEN);
    expect(await jsonView(await clientPost(a, TOKEN, web, { grant_type: 'refresh_token', refresh_token: tokens.refresh_token }))).toEqual({
      status: 400, cacheControl: 'no-store', body: { error: 'invalid_grant', error_description: 'refresh token was revoked' },
    });
  });

  it("counts a client's rate limit once across both nodes: 2 on A and 2 on B are served, the 5th on either is 429", async () => {
    const request = (node: Node) => clientPost(node, TOKEN, metered, { grant_type: 'client_credentials' });
    for (const node of [a, a, b, b]) expect({ node: node.name, status: (await request(node)).status }).toEqual({ node: node.name, status: 200 });
    for (const node of [a, b]) {
      const res = await request(node);
      // RFC 6585 §4: 429 with Retry-After; the window (1 hour) started at the first request.
      expect({ node: node.name, retryAfter: Number(res.headers.get('retry-after')) > 3000, ...(await jsonView(res)) }).toEqual({
        node: node.name, retryAfter: true, status: 429, cacheControl: 'no-store',
        body: { error: 'too_many_requests', error_description: "the client's rate limit of 4 requests per 3600 seconds is reached" },
      });
    }
  });

  it('counts failed client authentications across nodes, each node learning of the block at its own next failure (N − 1 slack)', async () => {
    const wrong = { client_id: guarded.client_id, client_secret: 'not-the-secret' };
    const attempt = async (node: Node, client: Client) => {
      const res = await clientPost(node, TOKEN, client, { grant_type: 'client_credentials' });
      return { node: node.name, status: res.status, body: await res.json() };
    };
    const unauthorized = (node: Node) => ({ node: node.name, status: 401, body: { error: 'invalid_client', error_description: 'client authentication failed' } });
    const blocked = (node: Node) => ({ node: node.name, status: 429, body: { error: 'too_many_requests', error_description: expect.stringMatching(/^too many failed client authentications; try again in \d+ seconds$/) } });
    const served = (node: Node) => ({ node: node.name, status: 200, body: expect.objectContaining({ token_type: 'Bearer' }) });
    // Failures 1–4 (the limit), two on each node, all counted in the shared store; B counted the 4th.
    for (const node of [a, a, b, b]) expect(await attempt(node, wrong)).toEqual(unauthorized(node));
    // B knows: even the right secret is refused (docs/security.md), so the limit cannot test guesses.
    expect(await attempt(b, guarded)).toEqual(blocked(b));
    // A has not failed since the limit was reached: it still serves the right secret (the documented slack)…
    expect(await attempt(a, guarded)).toEqual(served(a));
    // …and its next failure is counted past the limit: 429, and A refuses from then on too.
    expect(await attempt(a, wrong)).toEqual(blocked(a));
    expect(await attempt(a, guarded)).toEqual(blocked(a));
  });

  it('refuses at B a DPoP proof already used at A; a nonce from A is good at B (RFC 9449 §11.1, §8)', async () => {
    const key = await dpopKey();
    const htu = `${n.issuer}/protocol/openid-connect/token`;
    const first = await clientPost(a, TOKEN, svc, { grant_type: 'client_credentials' }, { dpop: await makeProof(key, { htm: 'POST', htu, iat: nowSeconds() }) });
    expect(await jsonView(first)).toEqual({ status: 400, cacheControl: 'no-store', body: { error: 'use_dpop_nonce', error_description: 'the authorization server requires a nonce in the DPoP proof' } });
    const nonce = first.headers.get('dpop-nonce')!;

    const proof = await makeProof(key, { htm: 'POST', htu, iat: nowSeconds(), nonce });
    const used = await jsonView(await clientPost(a, TOKEN, svc, { grant_type: 'client_credentials' }, { dpop: proof }));
    expect(used).toEqual({
      status: 200, cacheControl: 'no-store', body: { access_token: expect.any(String), token_type: 'DPoP', 'not-before-policy': 0, expires_in: 3600, scope: 'read:avatars' },
    });
    // RFC 9449 §6.1: bound to the proof's key.
    expect(decodeJwt(used.body.access_token)).toMatchObject({ cnf: { jkt: key.jkt } });
    expect(await jsonView(await clientPost(b, TOKEN, svc, { grant_type: 'client_credentials' }, { dpop: proof }))).toEqual({
      status: 400, cacheControl: 'no-store', body: { error: 'invalid_dpop_proof', error_description: 'the DPoP proof was already used' },
    });
    const fresh = await clientPost(b, TOKEN, svc, { grant_type: 'client_credentials' }, { dpop: await makeProof(key, { htm: 'POST', htu, iat: nowSeconds(), nonce }) });
    expect(fresh.status).toBe(200);
  });

  it('refuses at B a private_key_jwt client assertion whose jti A has seen (RFC 7523 §3 item 7)', async () => {
    const assertion = await new SignJWT({ jti: randomBytes(16).toString('base64url') })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(signer.client_id).setSubject(signer.client_id).setAudience(n.issuer)
      .setIssuedAt().setExpirationTime('60s').sign(signingKey);
    const fields = { grant_type: 'client_credentials', client_id: signer.client_id, client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion };
    const post = (node: Node) => fetch(node.url(TOKEN), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields) });
    expect((await jsonView(await post(a))).status).toBe(200);
    expect(await jsonView(await post(b))).toEqual({
      status: 401, cacheControl: 'no-store', body: { error: 'invalid_client', error_description: 'client assertion was already used (its jti was seen before)' },
    });
  });

  it('started both nodes at once on the migrated database and ran all of the above without an error in either log', () => {
    // pino levels: 50 error, 60 fatal. The first start's work (default tenant, keys) raced and neither node failed.
    const errors = (node: Node) => node.server.output().split('\n').filter((line) => /"level":(50|60)/.test(line));
    expect({ a: errors(a), b: errors(b) }).toEqual({ a: [], b: [] });
  });
});
