/**
 * The verifier against a real Tessera: discovery, JWKS and introspection over HTTP, tokens
 * from the token endpoint. Every refusal is compared whole: status, headers, body.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVerifier, type Verifier, type VerifierOptions } from '../../src/verify/index.js';
import { FakeClock } from '../helpers.js';
import { freePort } from '../support/server.js';
import { AVATARS, bearer, PASSWORD, refusal, tesseraWorld, type TesseraWorld } from './support.js';

/** What `verify` answers: the token, or the response a middleware would send. */
async function outcome(verifier: Verifier, authorization: string | undefined, scopes: string[] = ['read:avatars']) {
  try {
    return { token: await verifier.verify({ authorization, method: 'GET', url: 'http://api.test/avatars' }, { scopes }) };
  } catch (err) {
    const response = verifier.errorResponse(err);
    if (!response) throw err;
    return response;
  }
}

const invalidToken = (description: string) => refusal(401, bearer('invalid_token', description), 'invalid_token', description);

describe('the verifier against Tessera', () => {
  const clock = new FakeClock(Date.now());
  let w: TesseraWorld;
  let verifier: Verifier;
  const make = (options: Partial<VerifierOptions> = {}) => createVerifier({ issuer: w.issuer, audience: AVATARS, now: () => clock.now(), ...options });

  beforeAll(async () => {
    w = await tesseraWorld({ clock });
    verifier = make({ introspection: { clientId: w.api.id, clientSecret: w.api.secret } });
  });
  afterAll(async () => {
    await w?.close();
  });

  it('finds the JWKS and introspection endpoints from the issuer URL alone', async () => {
    expect(await verifier.endpoints()).toEqual({
      jwksUri: `${w.issuer}/protocol/openid-connect/certs`,
      introspectionEndpoint: `${w.issuer}/protocol/openid-connect/token/introspect`,
    });
  });

  it('accepts a JWT access token with the required scope and returns what it says', async () => {
    const token = await w.serviceToken();
    const claims = decodeJwt(token);
    expect(await outcome(verifier, `Bearer ${token}`)).toEqual({
      token: {
        format: 'jwt', scheme: 'Bearer', issuer: w.issuer, subject: w.clients.service.id, clientId: w.clients.service.id,
        audience: [AVATARS], scopes: ['read:avatars'], expiresAt: claims.iat! + 3600, issuedAt: claims.iat, jti: claims.jti, jkt: undefined,
        claims,
      },
    });
  });

  it('takes the scheme in any case', async () => {
    const token = await w.serviceToken();
    expect(await outcome(verifier, `bEaReR ${token}`)).toMatchObject({ token: { subject: w.clients.service.id } });
  });

  it('answers a request without a token with a bare challenge (RFC 6750 §3.1)', async () => {
    const challenge = `Bearer realm="${AVATARS}"`;
    expect(await outcome(verifier, undefined)).toEqual(refusal(401, challenge, 'invalid_token', 'an access token is required'));
    // Another scheme is no token for this API either.
    expect(await outcome(verifier, `Basic ${Buffer.from('a:b').toString('base64')}`)).toEqual(refusal(401, challenge, 'invalid_token', 'an access token is required'));
  });

  it('refuses a malformed authorization header with invalid_request', async () => {
    const description = 'the Bearer authorization header is malformed';
    expect(await outcome(verifier, 'Bearer two words')).toEqual(refusal(400, bearer('invalid_request', description), 'invalid_request', description));
    const empty = 'the Bearer authorization header has no token';
    expect(await outcome(verifier, 'Bearer')).toEqual(refusal(400, bearer('invalid_request', empty), 'invalid_request', empty));
  });

  it('refuses a token of the right keys but another issuer', async () => {
    const elsewhere = make({ issuer: `http://localhost:${w.port}/realms/default`, jwksUri: `${w.issuer}/protocol/openid-connect/certs` });
    expect(await outcome(elsewhere, `Bearer ${await w.serviceToken()}`)).toEqual(invalidToken('the access token was issued by another authorization server'));
  });

  it('refuses to use metadata that names another issuer (RFC 8414 §3.3)', async () => {
    const misnamed = make({ issuer: `http://localhost:${w.port}/realms/default` });
    expect(await outcome(misnamed, `Bearer ${await w.serviceToken()}`)).toEqual(
      refusal(500, undefined, 'server_error', `the metadata at http://localhost:${w.port}/realms/default/.well-known/openid-configuration names issuer "${w.issuer}", not http://localhost:${w.port}/realms/default`),
    );
  });

  it('refuses a token meant for another API', async () => {
    const other = make({ audience: 'https://stats.example/' });
    const description = 'the access token is not meant for this API';
    // The realm is the API's own audience unless configured.
    const challenge = `Bearer realm="https://stats.example/", error="invalid_token", error_description="${description}"`;
    expect(await outcome(other, `Bearer ${await w.serviceToken()}`, [])).toEqual(refusal(401, challenge, 'invalid_token', description));
  });

  it('accepts a token a few seconds past exp (clock skew) and refuses it after', async () => {
    const token = await w.serviceToken();
    const exp = decodeJwt(token).exp!;
    const start = clock.ms;
    try {
      clock.ms = (exp + 4) * 1000;
      expect(await outcome(verifier, `Bearer ${token}`)).toMatchObject({ token: { expiresAt: exp } });
      clock.ms = (exp + 6) * 1000;
      expect(await outcome(verifier, `Bearer ${token}`)).toEqual(invalidToken('the access token has expired'));
    } finally {
      clock.ms = start;
    }
  });

  it('never takes a refresh token or an ID token for an access token (RFC 9068 §4 typ)', async () => {
    const res = await w.tokens(w.clients.app, { grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'openid offline_access read:avatars' });
    expect(Object.keys(res).sort()).toEqual(['access_token', 'expires_in', 'id_token', 'not-before-policy', 'refresh_token', 'scope', 'token_type']);
    const notAccess = invalidToken('the token is not an access token (typ must be at+jwt)');
    expect(await outcome(verifier, `Bearer ${res.refresh_token}`)).toEqual(notAccess);
    expect(await outcome(verifier, `Bearer ${res.id_token}`)).toEqual(notAccess);
    // The access token of the same response is fine, with the user as its subject.
    expect(await outcome(verifier, `Bearer ${res.access_token}`)).toMatchObject({ token: { subject: decodeJwt(res.access_token).sub, clientId: w.clients.app.id } });
  });

  it('refuses a token signed by a key the issuer does not publish', async () => {
    const acmeToken = await w.serviceToken(w.acme, 'read:avatars', 'acme');
    expect(await outcome(verifier, `Bearer ${acmeToken}`)).toEqual(invalidToken('the access token was signed by an unknown key'));
  });

  it('refuses a token whose signature was tampered with', async () => {
    const [h, p, s] = (await w.serviceToken()).split('.');
    const forged = [h, Buffer.from(JSON.stringify({ ...decodeJwt(`${h}.${p}.${s}`), scope: 'read:avatars write:avatars' })).toString('base64url'), s].join('.');
    expect(await outcome(verifier, `Bearer ${forged}`)).toEqual(invalidToken('the access token signature is invalid'));
  });

  it('answers a missing scope with 403 insufficient_scope naming the scopes needed', async () => {
    const description = 'the access token lacks scope write:avatars';
    expect(await outcome(verifier, `Bearer ${await w.serviceToken()}`, ['read:avatars', 'write:avatars'])).toEqual(
      refusal(403, bearer('insufficient_scope', description, ', scope="read:avatars write:avatars"'), 'insufficient_scope', description),
    );
  });

  describe('opaque tokens (RFC 7662 introspection)', () => {
    it('accepts an active opaque token with what introspection says', async () => {
      const token = await w.serviceToken(w.clients.opaque);
      const now = Math.floor(clock.now() / 1000);
      expect(await outcome(verifier, `Bearer ${token}`)).toEqual({
        token: {
          format: 'opaque', scheme: 'Bearer', issuer: w.issuer, subject: w.clients.opaque.id, clientId: w.clients.opaque.id,
          audience: [AVATARS], scopes: ['read:avatars'], expiresAt: now + 3600, issuedAt: now, jti: undefined, jkt: undefined,
          claims: { active: true, scope: 'read:avatars', client_id: w.clients.opaque.id, sub: w.clients.opaque.id, aud: AVATARS, exp: now + 3600, iat: now, iss: w.issuer, token_type: 'Bearer' },
        },
      });
    });

    it('refuses a revoked opaque token at once when answers are not cached', async () => {
      const uncached = make({ introspection: { clientId: w.api.id, clientSecret: w.api.secret, cacheSeconds: 0 } });
      const token = await w.serviceToken(w.clients.opaque);
      expect(await outcome(uncached, `Bearer ${token}`)).toMatchObject({ token: { format: 'opaque' } });
      await w.revoke(w.clients.opaque, token);
      expect(await outcome(uncached, `Bearer ${token}`)).toEqual(invalidToken('the access token is not active (unknown, expired or revoked)'));
    });

    it('reuses an answer for cacheSeconds, but never past the token exp', async () => {
      const cached = make({ introspection: { clientId: w.api.id, clientSecret: w.api.secret, cacheSeconds: 7200 } });
      const token = await w.serviceToken(w.clients.opaque);
      expect(await outcome(cached, `Bearer ${token}`)).toMatchObject({ token: { format: 'opaque' } });
      await w.revoke(w.clients.opaque, token);
      // Within the window the cached answer stands: the price of not asking on every request.
      expect(await outcome(cached, `Bearer ${token}`)).toMatchObject({ token: { format: 'opaque' } });
      const start = clock.ms;
      try {
        clock.advance(3601);
        expect(await outcome(cached, `Bearer ${token}`)).toEqual(invalidToken('the access token is not active (unknown, expired or revoked)'));
      } finally {
        clock.ms = start;
      }
    });

    it('refuses an unknown opaque token', async () => {
      expect(await outcome(verifier, 'Bearer 0123456789abcdefNotATokenAtAll')).toEqual(invalidToken('the access token is not active (unknown, expired or revoked)'));
    });

    it('refuses opaque tokens when the API has no introspection credentials', async () => {
      const jwtOnly = make();
      expect(await outcome(jwtOnly, `Bearer ${await w.serviceToken(w.clients.opaque)}`)).toEqual(
        invalidToken('the access token is not a JWT, and this API does not introspect opaque tokens'),
      );
    });

    it('answers 500 when the authorization server refuses the API credentials', async () => {
      const wrong = make({ introspection: { clientId: w.api.id, clientSecret: 'not-the-secret' } });
      expect(await outcome(wrong, `Bearer ${await w.serviceToken(w.clients.opaque)}`)).toEqual(
        refusal(500, undefined, 'server_error', 'the authorization server refused the API credentials used for introspection'),
      );
    });
  });

  it('answers 503 while the authorization server cannot be reached, and recovers', async () => {
    let up = false;
    const flaky = make({ fetch: (url, init) => (up ? fetch(url, init) : Promise.reject(new TypeError('fetch failed'))) });
    const token = await w.serviceToken();
    expect(await outcome(flaky, `Bearer ${token}`)).toEqual(refusal(503, undefined, 'temporarily_unavailable', 'the authorization server could not be reached'));
    // A failed discovery is not remembered: the same verifier works once the server answers.
    up = true;
    expect(await outcome(flaky, `Bearer ${token}`)).toMatchObject({ token: { format: 'jwt' } });
  });

  it('answers 503 when the key set cannot be fetched', async () => {
    const port = await freePort();
    const noKeys = make({ jwksUri: `http://127.0.0.1:${port}/certs` });
    expect(await outcome(noKeys, `Bearer ${await w.serviceToken()}`)).toEqual(
      refusal(503, undefined, 'temporarily_unavailable', 'the authorization server keys could not be fetched'),
    );
  });
});
