/**
 * SECURITY-CHECKLIST §D — refresh tokens. Items 30–33 are in test/refresh.test.ts and
 * test/refresh_grace.test.ts; item 34 (sender-constrained refresh tokens, RFC 9449 §5) is
 * here, black-box through app.inject on every backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/manage/clients.js';
import { createUser } from '../../src/manage/users.js';
import { BACKENDS, FakeClock, PUBLIC_URL, startTestApp, type TestApp } from '../helpers.js';
import { authorizeCode, dpopKey, dpopTokenRequest, fetchNonce, makeProof, type DpopKey } from '../support/dpop.js';
import { InjectBrowser, invalidGrant, jsonView, PASSWORD, TOKEN, type TestClient } from './support.js';

const REDIRECT = 'https://app.example/cb';

describe.each(BACKENDS)('SECURITY-CHECKLIST D: refresh tokens on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  let spa: TestClient;
  let holder: DpopKey;
  let attacker: DpopKey;
  let nonce: string;

  const proof = (key: DpopKey) => makeProof(key, { htm: 'POST', htu: `${PUBLIC_URL}${TOKEN}`, iat: Math.floor(clock.ms / 1000), nonce });
  const refresh = async (refreshToken: string, key: DpopKey | undefined) =>
    dpopTokenRequest(t.app, spa, { grant_type: 'refresh_token', refresh_token: refreshToken }, key && (await proof(key)), TOKEN);

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    const c = await createClient(t.deps, 'default', { name: 'Public SPA', public: true, redirectUris: [REDIRECT], grantTypes: ['authorization_code', 'refresh_token'] }, 86400);
    spa = { id: c.client.clientId };
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
    [holder, attacker] = await Promise.all([dpopKey(), dpopKey()]);
    nonce = await fetchNonce(t.app, spa, holder, Math.floor(clock.ms / 1000));
  });
  afterAll(() => t?.close());

  describe('34', () => {
    it('34. sender-constrained (DPoP) refresh tokens reject a different key', async () => {
      const { code, verifier } = await authorizeCode(new InjectBrowser(t.app), spa.id, REDIRECT, 'offline_access');
      const issued = await dpopTokenRequest(t.app, spa, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, await proof(holder), TOKEN);
      expect({ status: issued.statusCode, type: issued.json().token_type }).toEqual({ status: 200, type: 'DPoP' });
      const stolen = issued.json().refresh_token;

      // Another key, or no key at all, is refused, and neither spends the token.
      expect(jsonView(await refresh(stolen, attacker))).toEqual(invalidGrant('the DPoP proof was made with another key than the refresh token is bound to'));
      expect(jsonView(await refresh(stolen, undefined))).toEqual(invalidGrant('the refresh token is bound to a DPoP key: send a DPoP proof made with it'));
      const own = await refresh(stolen, holder);
      expect({ status: own.statusCode, type: own.json().token_type }).toEqual({ status: 200, type: 'DPoP' });

      // The successor is bound to the same key.
      expect(jsonView(await refresh(own.json().refresh_token, attacker))).toEqual(invalidGrant('the DPoP proof was made with another key than the refresh token is bound to'));
      expect((await refresh(own.json().refresh_token, holder)).statusCode).toBe(200);
    });
  });
});
