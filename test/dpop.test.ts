/**
 * RFC 9449 DPoP at the token endpoint: proof validation (§4.3), server nonces (§8), bound
 * access tokens (§5, §6) and clients that must use DPoP (§5.2). In-process on every backend,
 * with a hand-moved clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../src/manage/apis.js';
import { createClient } from '../src/manage/clients.js';
import { BACKENDS, FakeClock, PUBLIC_URL, startTestApp, type TestApp } from './helpers.js';
import { ISSUER, jsonView, TOKEN, verifyJwt, type TestClient } from './security/support.js';
import { dpopKey, dpopTokenRequest, makeProof, rawJws, type DpopKey, type ProofClaims } from './support/dpop.js';

const API = 'https://api.loomai.com/';
const TOKEN_URL = `${PUBLIC_URL}${TOKEN}`;
const INTROSPECT = '/realms/default/protocol/openid-connect/token/introspect';
const NONCE = expect.stringMatching(/^[A-Za-z0-9_-]{43}$/);

describe.each(BACKENDS)('DPoP at the token endpoint on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  let svc: TestClient;
  let svcOpaque: TestClient;
  let bound: TestClient;
  let key: DpopKey;
  let other: DpopKey;
  /** The nonce the server handed out last. */
  let nonce: string;

  const now = () => Math.floor(clock.ms / 1000);
  const claims = (extra: Partial<ProofClaims> = {}): ProofClaims => ({ htm: 'POST', htu: TOKEN_URL, iat: now(), nonce, ...extra });
  const cc = (client: TestClient, dpop: string | string[] | undefined, url = TOKEN) =>
    dpopTokenRequest(t.app, client, { grant_type: 'client_credentials', scope: 'read:avatars' }, dpop, url);
  const refused = (description: string) => ({ status: 400, body: { error: 'invalid_dpop_proof', error_description: description } });

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    await createApi(t.deps, 'default', { audience: API, scopes: ['read:avatars'] }, 86400);
    const mk = async (input: Parameters<typeof createClient>[2]): Promise<TestClient> => {
      const c = await createClient(t.deps, 'default', { grantTypes: ['client_credentials'], scopes: ['read:avatars'], ...input }, 86400);
      return { id: c.client.clientId, secret: c.secret };
    };
    svc = await mk({ name: 'Service' });
    svcOpaque = await mk({ name: 'Opaque Service', accessTokenFormat: 'opaque' });
    bound = await mk({ name: 'Always DPoP', dpopBoundAccessTokens: true });
    [key, other] = await Promise.all([dpopKey('ES256'), dpopKey('EdDSA')]);
    nonce = (await cc(svc, await makeProof(key, claims({ nonce: undefined })))).headers['dpop-nonce'] as string;
  });
  afterAll(() => t?.close());

  describe('nonces (RFC 9449 §8)', () => {
    it('asks for a nonce with use_dpop_nonce and a DPoP-Nonce header; the retry with it gets a DPoP token', async () => {
      const first = await cc(svc, await makeProof(key, claims({ nonce: undefined })));
      expect({ ...jsonView(first), nonce: first.headers['dpop-nonce'] }).toEqual({
        status: 400, body: { error: 'use_dpop_nonce', error_description: 'the authorization server requires a nonce in the DPoP proof' }, nonce: NONCE,
      });
      const retry = await cc(svc, await makeProof(key, claims({ nonce: first.headers['dpop-nonce'] as string })));
      expect({ ...jsonView(retry), nonce: retry.headers['dpop-nonce'] }).toEqual({
        status: 200,
        body: { access_token: expect.any(String), token_type: 'DPoP', expires_in: 3600, scope: 'read:avatars', 'not-before-policy': 0 },
        nonce: first.headers['dpop-nonce'],
      });
    });

    it('refuses an unknown nonce, keeps accepting one from the previous window, and hands out a new one in the next', async () => {
      const unknown = await cc(svc, await makeProof(key, claims({ nonce: 'x'.repeat(43) })));
      expect(jsonView(unknown)).toEqual({ status: 400, body: { error: 'use_dpop_nonce', error_description: 'the DPoP proof nonce is stale or unknown' } });
      expect(unknown.headers['dpop-nonce']).toBe(nonce);

      const issued = nonce;
      clock.advance(300);
      const previous = await cc(svc, await makeProof(key, claims({ nonce: issued })));
      expect(previous.statusCode, previous.body).toBe(200);
      expect(previous.headers['dpop-nonce']).not.toBe(issued);
      clock.advance(300);
      const stale = await cc(svc, await makeProof(key, claims({ nonce: issued })));
      expect(jsonView(stale)).toEqual({ status: 400, body: { error: 'use_dpop_nonce', error_description: 'the DPoP proof nonce is stale or unknown' } });
      nonce = stale.headers['dpop-nonce'] as string;
      expect(nonce).not.toBe(issued);
      expect((await cc(svc, await makeProof(key, claims()))).statusCode).toBe(200);
    });
  });

  describe('bound access tokens (§5, §6)', () => {
    it('puts cnf.jkt, the RFC 7638 thumbprint of the proof key, into a JWT access token', async () => {
      const res = await cc(svc, await makeProof(key, claims()));
      expect(res.statusCode, res.body).toBe(200);
      const { payload } = await verifyJwt(t.app, res.json().access_token, clock.ms, { typ: 'at+jwt' });
      expect(payload).toEqual({
        iss: ISSUER, sub: svc.id, aud: API, client_id: svc.id, scope: 'read:avatars', iat: now(), exp: now() + 3600, jti: expect.any(String), cnf: { jkt: key.jkt },
      });
    });

    it('introspects a bound JWT and a bound opaque token as token_type DPoP with cnf.jkt; a bearer token stays Bearer', async () => {
      for (const client of [svc, svcOpaque]) {
        // EdDSA, and its fully-specified name Ed25519 (RFC 9864) that oauth4webapi uses.
        const token = (await cc(client, await makeProof(other, claims(), client === svcOpaque ? { alg: 'Ed25519' } : {}))).json().access_token;
        const res = await dpopTokenRequest(t.app, client, { token }, undefined, INTROSPECT);
        expect(jsonView(res)).toEqual({
          status: 200,
          body: {
            active: true, scope: 'read:avatars', client_id: client.id, sub: client.id, aud: API, exp: now() + 3600, iat: now(), iss: ISSUER,
            token_type: 'DPoP', ...(client === svc && { jti: expect.any(String) }), cnf: { jkt: other.jkt },
          },
        });
      }
      const bearer = (await cc(svcOpaque, undefined)).json();
      expect(bearer.token_type).toBe('Bearer');
      const res = await dpopTokenRequest(t.app, svcOpaque, { token: bearer.access_token }, undefined, INTROSPECT);
      expect(res.json()).toEqual({
        active: true, scope: 'read:avatars', client_id: svcOpaque.id, sub: svcOpaque.id, aud: API, exp: now() + 3600, iat: now(), iss: ISSUER, token_type: 'Bearer',
      });
    });

    it('refuses a client registered with dpop_bound_access_tokens that sends no proof, and serves it with one', async () => {
      expect(jsonView(await cc(bound, undefined))).toEqual(refused('this client must send a DPoP proof with every token request'));
      const res = await cc(bound, await makeProof(key, claims()));
      expect({ status: res.statusCode, type: res.json().token_type }).toEqual({ status: 200, type: 'DPoP' });
    });

    it('accepts a proof for the alias the client called (/oauth/token), not one for the canonical URL sent there', async () => {
      const alias = await cc(svc, await makeProof(key, claims({ htu: `${PUBLIC_URL}/oauth/token` })), '/oauth/token');
      expect({ status: alias.statusCode, type: alias.json().token_type }).toEqual({ status: 200, type: 'DPoP' });
      const canonical = await cc(svc, await makeProof(key, claims()), '/oauth/token');
      expect(jsonView(canonical)).toEqual(refused('the DPoP proof htu does not match the request URL'));
    });
  });

  describe('proof validation (§4.3), each refused with invalid_dpop_proof', () => {
    it('refuses two DPoP headers', async () => {
      const [a, b] = await Promise.all([makeProof(key, claims()), makeProof(key, claims())]);
      expect(jsonView(await cc(svc, [a, b]))).toEqual(refused('more than one DPoP proof was sent'));
    });

    it('refuses a value that is not a JWT', async () => {
      expect(jsonView(await cc(svc, 'not-a-jwt'))).toEqual(refused('the DPoP proof is not a JWT'));
    });

    it('refuses a proof without typ, and one with typ JWT', async () => {
      expect(jsonView(await cc(svc, await makeProof(key, claims(), { typ: undefined })))).toEqual(refused('the DPoP proof must have typ dpop+jwt'));
      expect(jsonView(await cc(svc, await makeProof(key, claims(), { typ: 'JWT' })))).toEqual(refused('the DPoP proof must have typ dpop+jwt'));
    });

    it('refuses alg none, HS256 and any algorithm off the list', async () => {
      const algs = 'ES256 ES384 ES512 EdDSA Ed25519 RS256 RS384 RS512 PS256 PS384 PS512';
      const none = rawJws({ alg: 'none', typ: 'dpop+jwt', jwk: key.publicJwk }, { ...claims(), jti: 'j-none' });
      expect(jsonView(await cc(svc, none))).toEqual(refused(`the DPoP proof algorithm must be one of ${algs}`));
      const hs = rawJws({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0' } }, { ...claims(), jti: 'j-hs' }, 'c2lnbmF0dXJl');
      expect(jsonView(await cc(svc, hs))).toEqual(refused(`the DPoP proof algorithm must be one of ${algs}`));
    });

    it('refuses a proof without a jwk header, and one whose jwk holds the private key', async () => {
      expect(jsonView(await cc(svc, await makeProof(key, claims(), { jwk: undefined })))).toEqual(refused('the DPoP proof has no jwk header'));
      expect(jsonView(await cc(svc, await makeProof(key, claims(), { jwk: key.privateJwk })))).toEqual(refused('the DPoP proof jwk header must be a public key'));
    });

    it('refuses a jwk that is no usable public key, and a key that does not suit the alg', async () => {
      const invalid = refused('the DPoP proof jwk header is not a valid public key');
      for (const jwk of [{ ...key.publicJwk, x: 'AAAA' }, { kty: 'AKP', alg: 'ML-DSA-44', pub: 'AAAA' }, { kty: '__proto__' }, { ...key.publicJwk, y: 7 }]) {
        expect({ jwk, ...jsonView(await cc(svc, await makeProof(key, claims(), { jwk }))) }).toEqual({ jwk, ...invalid });
      }
      const rsa = await dpopKey('RS256');
      expect(jsonView(await cc(svc, await makeProof(rsa, claims(), { jwk: key.publicJwk })))).toEqual(refused('the DPoP proof is invalid'));
    });

    it('refuses a signature the jwk does not verify', async () => {
      const forged = await makeProof({ ...key, privateKey: (await dpopKey('ES256')).privateKey }, claims());
      expect(jsonView(await cc(svc, forged))).toEqual(refused('the DPoP proof signature is invalid'));
    });

    it('refuses a proof without jti, htm, htu or iat', async () => {
      for (const claim of ['jti', 'htm', 'htu', 'iat']) {
        const proof = await makeProof(key, claims({ [claim]: undefined }));
        expect({ claim, ...jsonView(await cc(svc, proof)) }).toEqual({ claim, ...refused(`the DPoP proof has no ${claim} claim`) });
      }
    });

    it('refuses a wrong htm and a wrong htu', async () => {
      expect(jsonView(await cc(svc, await makeProof(key, claims({ htm: 'GET' }))))).toEqual(refused('the DPoP proof htm does not match the request method'));
      for (const htu of [`${PUBLIC_URL}/realms/default/protocol/openid-connect/userinfo`, `https://tessera.test${TOKEN}`, 'not a url']) {
        expect({ htu, ...jsonView(await cc(svc, await makeProof(key, claims({ htu })))) }).toEqual({ htu, ...refused('the DPoP proof htu does not match the request URL') });
      }
    });

    it('accepts an htu that differs only in case of scheme and host, a default port, or a query', async () => {
      for (const htu of [`HTTP://TESSERA.TEST${TOKEN}`, `http://tessera.test:80${TOKEN}`, `${TOKEN_URL}?x=1`]) {
        expect({ htu, status: (await cc(svc, await makeProof(key, claims({ htu })))).statusCode }).toEqual({ htu, status: 200 });
      }
    });

    it('refuses an iat more than 60 s old or ahead, and accepts one at the edges', async () => {
      const bad = refused('the DPoP proof is too old or from the future (iat)');
      expect(jsonView(await cc(svc, await makeProof(key, claims({ iat: now() - 61 }))))).toEqual(bad);
      expect(jsonView(await cc(svc, await makeProof(key, claims({ iat: now() + 61 }))))).toEqual(bad);
      expect((await cc(svc, await makeProof(key, claims({ iat: now() - 60 })))).statusCode).toBe(200);
      expect((await cc(svc, await makeProof(key, claims({ iat: now() + 60 })))).statusCode).toBe(200);
    });

    it('refuses a replayed jti, also when the first use was with another client', async () => {
      const proof = await makeProof(key, claims());
      expect((await cc(svc, proof)).statusCode).toBe(200);
      expect(jsonView(await cc(svc, proof))).toEqual(refused('the DPoP proof was already used'));
      expect(jsonView(await cc(bound, proof))).toEqual(refused('the DPoP proof was already used'));
    });

    it('lets exactly one of 10 concurrent requests with one proof through', async () => {
      const proof = await makeProof(key, claims());
      const results = await Promise.all(Array.from({ length: 10 }, () => cc(svc, proof)));
      expect(results.map((r) => r.statusCode).sort()).toEqual([200, ...Array(9).fill(400)]);
    });
  });
});
