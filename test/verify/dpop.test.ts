/**
 * DPoP-bound access tokens (RFC 9449). Tessera does not issue them yet, so the tokens come
 * from a stand-in issuer whose key the verifier fetches from a local JWKS, as it would
 * Tessera's. Each check of §4.3 has a case; refusals are compared whole.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessTokenHash } from '../../src/verify/dpop.js';
import { createVerifier, memoryReplayCache, type Verifier, type VerifyRequest } from '../../src/verify/index.js';
import { AVATARS, dpopKey, refusal, standInIssuer } from './support.js';

const URL_ = 'https://api.test/avatars';
const ALGS = 'ES256 ES384 ES512 EdDSA Ed25519 RS256 RS384 RS512 PS256 PS384 PS512';

const dpopChallenge = (error: string, description: string) => `DPoP realm="${AVATARS}", error="${error}", error_description="${description}", algs="${ALGS}"`;
const badProof = (description: string) => refusal(401, dpopChallenge('invalid_dpop_proof', description), 'invalid_dpop_proof', description);
const badToken = (description: string) => refusal(401, dpopChallenge('invalid_token', description), 'invalid_token', description);

describe('DPoP-bound access tokens (RFC 9449 §4.3, §7)', () => {
  let issuer: Awaited<ReturnType<typeof standInIssuer>>;
  let client: Awaited<ReturnType<typeof dpopKey>>;
  let verifier: Verifier;
  let token: string;

  async function outcome(request: Partial<VerifyRequest>, scopes: string[] = ['read:avatars']) {
    try {
      return { token: await verifier.verify({ authorization: `DPoP ${token}`, method: 'GET', url: URL_, ...request }, { scopes }) };
    } catch (err) {
      const response = verifier.errorResponse(err);
      if (!response) throw err;
      return response;
    }
  }
  const proofFor = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, of = client) =>
    of.proof({ htm: 'GET', htu: URL_, ath: accessTokenHash(token), ...claims }, header);

  beforeAll(async () => {
    issuer = await standInIssuer();
    client = await dpopKey();
    verifier = createVerifier({ issuer: issuer.issuer, audience: AVATARS, jwksUri: issuer.jwksUri });
    token = await issuer.mint({ cnf: { jkt: client.jkt } });
  });
  afterAll(async () => {
    await issuer?.close();
  });

  it('accepts a DPoP-bound token with a correct proof', async () => {
    const result = await outcome({ dpop: await proofFor() });
    expect(result).toMatchObject({ token: { format: 'jwt', scheme: 'DPoP', subject: 'user-1', jkt: client.jkt, scopes: ['read:avatars'] } });
  });

  it('accepts a proof whose htu differs only by query, fragment and normalisation', async () => {
    const proof = await proofFor({ htu: 'HTTPS://API.test:443/avatars' });
    expect(await outcome({ dpop: proof, url: `${URL_}?page=2` })).toMatchObject({ token: { scheme: 'DPoP' } });
  });

  it('asks for a proof when none is sent', async () => {
    expect(await outcome({})).toEqual(badProof('a DPoP proof is required with a DPoP-bound access token'));
  });

  it('refuses a DPoP-bound token presented as a bearer token (§7.2)', async () => {
    expect(await outcome({ authorization: `Bearer ${token}`, dpop: await proofFor() })).toEqual(
      badToken('the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof'),
    );
  });

  it('refuses the DPoP scheme for a token that is not bound to a key', async () => {
    const unbound = await issuer.mint({});
    expect(await outcome({ authorization: `DPoP ${unbound}`, dpop: await client.proof({ htm: 'GET', htu: URL_, ath: accessTokenHash(unbound) }) })).toEqual(
      badToken('the access token is not DPoP-bound'),
    );
  });

  it('refuses a proof whose ath is not the hash of this token', async () => {
    expect(await outcome({ dpop: await proofFor({ ath: accessTokenHash('another token') }) })).toEqual(badProof('the DPoP proof ath does not match the access token'));
    expect(await outcome({ dpop: await client.proof({ htm: 'GET', htu: URL_ }) })).toEqual(badProof('the DPoP proof ath does not match the access token'));
  });

  it('accepts a proof once: a replayed jti is refused (§11.1)', async () => {
    const proof = await proofFor();
    expect(await outcome({ dpop: proof })).toMatchObject({ token: { scheme: 'DPoP' } });
    expect(await outcome({ dpop: proof })).toEqual(badProof('the DPoP proof was already used'));
  });

  it('refuses a proof made with another key than the one the token is bound to', async () => {
    const mallory = await dpopKey();
    expect(await outcome({ dpop: await proofFor({}, {}, mallory) })).toEqual(badToken('the access token is bound to another key than the DPoP proof'));
  });

  it('refuses a proof for another method or URL', async () => {
    expect(await outcome({ dpop: await proofFor({ htm: 'POST' }) })).toEqual(badProof('the DPoP proof htm does not match the request method'));
    expect(await outcome({ dpop: await proofFor({ htu: 'https://api.test/other' }) })).toEqual(badProof('the DPoP proof htu does not match the request URL'));
  });

  it('refuses a proof outside the iat window', async () => {
    const now = Math.floor(Date.now() / 1000);
    const description = 'the DPoP proof is too old or from the future (iat)';
    expect(await outcome({ dpop: await proofFor({ iat: now - 120 }) })).toEqual(badProof(description));
    expect(await outcome({ dpop: await proofFor({ iat: now + 60 }) })).toEqual(badProof(description));
  });

  it('refuses proofs that are not dpop+jwt, use an HMAC, or carry a private key', async () => {
    expect(await outcome({ dpop: await proofFor({}, { typ: 'JWT' }) })).toEqual(badProof('the DPoP proof must have typ dpop+jwt'));
    const hmac = await new SignJWT({ htm: 'GET', htu: URL_, iat: Math.floor(Date.now() / 1000), jti: 'x', ath: accessTokenHash(token) })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: client.jwk })
      .sign(new TextEncoder().encode('secret'));
    expect(await outcome({ dpop: hmac })).toEqual(badProof(`the DPoP proof algorithm must be one of ${ALGS}`));
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    expect(await outcome({ dpop: await proofFor({}, { jwk: await exportJWK(privateKey) }) })).toEqual(badProof('the DPoP proof jwk header must be a public key'));
  });

  it('refuses two DPoP headers, and a proof that is not a JWT', async () => {
    const proof = await proofFor();
    expect(await outcome({ dpop: [proof, proof] })).toEqual(badProof('more than one DPoP proof was sent'));
    expect(await outcome({ dpop: `${proof}, ${proof}` })).toEqual(badProof('more than one DPoP proof was sent'));
    expect(await outcome({ dpop: 'not a jwt' })).toEqual(badProof('the DPoP proof is not a JWT'));
  });

  it('refuses a proof whose signature does not verify with its jwk', async () => {
    const [h, p] = (await proofFor()).split('.');
    const [, , otherSignature] = (await proofFor()).split('.');
    expect(await outcome({ dpop: `${h}.${p}.${otherSignature}` })).toEqual(badProof('the DPoP proof signature is invalid'));
  });

  it('answers insufficient_scope in the DPoP scheme for a DPoP request', async () => {
    const description = 'the access token lacks scope write:avatars';
    expect(await outcome({ dpop: await proofFor() }, ['write:avatars'])).toEqual(
      refusal(403, `${dpopChallenge('insufficient_scope', description)}`.replace(`, algs=`, `, scope="write:avatars", algs=`), 'insufficient_scope', description),
    );
  });

  it('refuses bearer tokens altogether when DPoP is required', async () => {
    const strict = createVerifier({ issuer: issuer.issuer, audience: AVATARS, jwksUri: issuer.jwksUri, dpop: { required: true, replayCache: memoryReplayCache() } });
    const unbound = await issuer.mint({});
    const description = 'this API accepts only DPoP-bound access tokens';
    await expect(strict.verify({ authorization: `Bearer ${unbound}`, method: 'GET', url: URL_ })).rejects.toMatchObject({ error: 'invalid_token', description, scheme: 'DPoP' });
    // Without a token the challenge is DPoP's, with its algorithms.
    let refused;
    try {
      await strict.verify({ authorization: undefined, method: 'GET', url: URL_ });
    } catch (err) {
      refused = strict.errorResponse(err);
    }
    expect(refused).toEqual(refusal(401, `DPoP realm="${AVATARS}", algs="${ALGS}"`, 'invalid_token', 'an access token is required'));
  });
});

describe('JWT checks with a key of our own', () => {
  let issuer: Awaited<ReturnType<typeof standInIssuer>>;
  let verifier: Verifier;
  const outcome = async (token: string) => {
    try {
      return { token: await verifier.verify({ authorization: `Bearer ${token}`, method: 'GET', url: URL_ }) };
    } catch (err) {
      return verifier.errorResponse(err);
    }
  };
  const invalid = (description: string) =>
    refusal(401, `Bearer realm="${AVATARS}", error="invalid_token", error_description="${description}"`, 'invalid_token', description);

  beforeAll(async () => {
    issuer = await standInIssuer();
    verifier = createVerifier({ issuer: issuer.issuer, audience: AVATARS, jwksUri: issuer.jwksUri });
  });
  afterAll(async () => {
    await issuer?.close();
  });

  it('refuses another iss, a future nbf, a missing RFC 9068 claim and an unknown cnf', async () => {
    expect(await outcome(await issuer.mint({ iss: 'https://elsewhere.example' }))).toEqual(invalid('the access token was issued by another authorization server'));
    expect(await outcome(await issuer.mint({ nbf: Math.floor(Date.now() / 1000) + 60 }))).toEqual(invalid('the access token is not valid yet'));
    expect(await outcome(await issuer.mint({ client_id: undefined }))).toEqual(invalid('the access token has no client_id claim'));
    expect(await outcome(await issuer.mint({ cnf: { 'x5t#S256': 'abc' } }))).toEqual(invalid('the access token is bound to a key in a way this API cannot check'));
  });

  it('takes application/at+jwt as typ, and nothing else', async () => {
    expect(await outcome(await issuer.mint({}, { typ: 'application/at+jwt' }))).toMatchObject({ token: { format: 'jwt' } });
    expect(await outcome(await issuer.mint({}, { typ: 'JWT' }))).toEqual(invalid('the token is not an access token (typ must be at+jwt)'));
  });
});
