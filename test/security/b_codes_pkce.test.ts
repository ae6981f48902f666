/**
 * SECURITY-CHECKLIST §B — authorization codes and PKCE (items 14–22), black-box through
 * app.inject on every backend, with a hand-moved clock.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { createClient } from '../../src/manage/clients.js';
import { createUser } from '../../src/manage/users.js';
import { storageKey } from '../../src/tokens/opaque.js';
import { BACKENDS, FakeClock, startTestApp, type TestApp } from '../helpers.js';
import {
  authUrl, drive, formOf, InjectBrowser, invalidGrant, ISSUER, jsonView, parseLocation, PASSWORD, pkce, redirectView, tokenRequest, USERINFO, type TestClient,
} from './support.js';

const REG = 'https://app.example/cb';
const REG2 = 'https://app.example/other';

describe.each(BACKENDS)('SECURITY-CHECKLIST B: authorization codes and PKCE on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  let conf: TestClient;
  let opaque: TestClient;
  let pub: TestClient;
  let other: TestClient;
  /** A browser signed in as alice, which has consented to every client above. */
  let b: InjectBrowser;

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    const mk = async (input: Parameters<typeof createClient>[2]) => {
      const c = await createClient(t.deps, 'default', { redirectUris: [REG, REG2], scopes: ['read:avatars'], ...input }, 86400);
      return { id: c.client.clientId, secret: c.secret };
    };
    conf = await mk({ name: 'Confidential JWT' });
    opaque = await mk({ name: 'Confidential opaque', accessTokenFormat: 'opaque' });
    pub = await mk({ name: 'Public SPA', public: true });
    other = await mk({ name: 'Other' });
    await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
    b = new InjectBrowser(t.app);
    for (const c of [conf, opaque, pub, other]) {
      const { res } = await drive(b, authUrl({ response_type: 'code', client_id: c.id, redirect_uri: REG, scope: 'openid read:avatars', code_challenge: pkce().challenge, code_challenge_method: 'S256' }));
      expect(res.statusCode).toBe(303);
    }
  });
  afterAll(() => t?.close());

  /** A fresh code for the client (the session and consent are in place: no page on the way). */
  async function codeFor(client: TestClient, extra: Record<string, string | undefined> = {}): Promise<string> {
    const res = await b.get(authUrl({ response_type: 'code', client_id: client.id, redirect_uri: REG, scope: 'openid read:avatars', state: 'st', ...extra }));
    const view = redirectView(res);
    expect(view.status, JSON.stringify(view)).toBe(302);
    expect(view.query.code, JSON.stringify(view)).toBeTruthy();
    return view.query.code;
  }

  const redeem = (client: TestClient, code: string, extra: Record<string, string | undefined> = {}) =>
    tokenRequest(t.app, client, { grant_type: 'authorization_code', code, redirect_uri: REG, ...extra });

  const userinfo = (token: string) => t.app.inject({ url: USERINFO, headers: { authorization: `Bearer ${token}` } });

  const REVOKED_AT_USERINFO = {
    status: 401,
    challenge: 'Bearer realm="default", error="invalid_token", error_description="the access token is invalid, expired or revoked"',
    body: { error: 'invalid_token', error_description: 'the access token is invalid, expired or revoked' },
  };
  const userinfoView = (res: Awaited<ReturnType<typeof userinfo>>) => ({ status: res.statusCode, challenge: res.headers['www-authenticate'], body: res.json() });

  describe('14', () => {
    it('14. a code used twice → invalid_grant, and every token issued from it stops working (opaque access token)', async () => {
      const { verifier, challenge } = pkce();
      const code = await codeFor(opaque, { code_challenge: challenge, code_challenge_method: 'S256' });
      const first = await redeem(opaque, code, { code_verifier: verifier });
      expect(first.statusCode).toBe(200);
      const { access_token: accessToken, id_token: idToken } = first.json();
      expect(accessToken).toMatch(/^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
      expect(idToken).toBeTruthy();
      expect((await userinfo(accessToken)).statusCode).toBe(200);

      const second = await redeem(opaque, code, { code_verifier: verifier });
      expect(jsonView(second)).toEqual(invalidGrant('authorization code was already used'));
      expect(second.headers['cache-control']).toBe('no-store');
      expect(userinfoView(await userinfo(accessToken))).toEqual(REVOKED_AT_USERINFO);
      // a third attempt is still refused, and the grant stays revoked
      expect(jsonView(await redeem(opaque, code, { code_verifier: verifier }))).toEqual(invalidGrant('authorization code was already used'));
      expect((await userinfo(accessToken)).statusCode).toBe(401);
    });

    it('14. a code used twice → invalid_grant, even with a wrong verifier or another redirect_uri the second time (opaque)', async () => {
      const { verifier, challenge } = pkce();
      const code = await codeFor(opaque, { code_challenge: challenge, code_challenge_method: 'S256' });
      const first = await redeem(opaque, code, { code_verifier: verifier });
      const token = first.json().access_token;
      // the replay an attacker makes with a stolen code: no verifier at all
      expect(jsonView(await redeem(opaque, code))).toEqual(invalidGrant('authorization code was already used'));
      expect(userinfoView(await userinfo(token))).toEqual(REVOKED_AT_USERINFO);
    });

    it('14. a code used twice → invalid_grant, and its grant is revoked (JWT access token)', async () => {
      const code = await codeFor(conf);
      const first = await redeem(conf, code);
      expect(first.statusCode).toBe(200);
      const grantId = (await t.storage.artifacts.find('authorization_code', storageKey(code)))!.grantId!;
      expect((await t.storage.grants.get(grantId))!.revokedAt).toBeNull();
      expect(jsonView(await redeem(conf, code))).toEqual(invalidGrant('authorization code was already used'));
      // The grant behind the code is revoked, so nothing more can be derived from it, and its JWT
      // access token, whose jti names the grant, is refused wherever Tessera checks tokens
      // (userinfo, introspection, validate).
      expect((await t.storage.grants.get(grantId))!.revokedAt).toBe(Math.floor(clock.ms / 1000));
      expect(userinfoView(await userinfo(first.json().access_token))).toEqual(REVOKED_AT_USERINFO);
      expect(first.json().refresh_token).toBeUndefined();
    });
  });

  describe('14 (concurrent)', () => {
    it('14. a code used twice → every token issued from it stops working, also when the uses race (the winner\'s token is revoked too)', async () => {
      const results = [];
      for (let round = 0; round < 5; round++) {
        const { verifier, challenge } = pkce();
        const code = await codeFor(opaque, { code_challenge: challenge, code_challenge_method: 'S256' });
        const responses = await Promise.all(Array.from({ length: 20 }, () => redeem(opaque, code, { code_verifier: verifier })));
        const tokens = responses.filter((r) => r.statusCode === 200).map((r) => r.json().access_token as string);
        // every replay revoked the grant; whatever token was issued from the code must be dead now
        const live = [];
        for (const token of tokens) if ((await userinfo(token)).statusCode !== 401) live.push(token.slice(0, 12));
        results.push({ round, live });
      }
      expect(results).toEqual(Array.from({ length: 5 }, (_, round) => ({ round, live: [] })));
    });
  });

  describe('15', () => {
    it('15. a code presented by another client fails', async () => {
      const code = await codeFor(conf);
      expect(jsonView(await redeem(other, code))).toEqual(invalidGrant('authorization code is invalid'));
      const { verifier, challenge } = pkce();
      const pubCode = await codeFor(pub, { code_challenge: challenge, code_challenge_method: 'S256' });
      // a confidential client with a stolen public client's code and verifier
      expect(jsonView(await redeem(other, pubCode, { code_verifier: verifier }))).toEqual(invalidGrant('authorization code is invalid'));
      // a public client naming itself with another client's code
      expect(jsonView(await redeem(pub, code))).toEqual(invalidGrant('authorization code is invalid'));
      // a code of an unknown value
      expect(jsonView(await redeem(conf, `${code.slice(0, -1)}${code.endsWith('A') ? 'B' : 'A'}`))).toEqual(invalidGrant('authorization code is invalid'));
    });
  });

  describe('16', () => {
    it('16. an expired code fails (lifetime ≤ 60 s)', async () => {
      const late = await codeFor(conf);
      clock.advance(61);
      expect(jsonView(await redeem(conf, late))).toEqual(invalidGrant('authorization code has expired'));

      const atSixty = await codeFor(conf);
      clock.advance(60);
      expect(jsonView(await redeem(conf, atSixty))).toEqual(invalidGrant('authorization code has expired'));

      const inTime = await codeFor(conf);
      clock.advance(59);
      expect((await redeem(conf, inTime)).statusCode).toBe(200);
    });
  });

  describe('17', () => {
    const errorRedirect = (description: string, state = 'st') => ({
      status: 302, target: REG, query: { error: 'invalid_request', error_description: description, state, iss: ISSUER }, fragment: {},
    });

    it('17. code_challenge_method=plain is refused', async () => {
      const { verifier } = pkce();
      const cases = [
        { client: conf, method: 'plain', challenge: verifier },
        { client: pub, method: 'plain', challenge: verifier },
        { client: conf, method: 'PLAIN', challenge: verifier },
        { client: conf, method: 's256', challenge: pkce().challenge },
        { client: conf, method: 'S512', challenge: pkce().challenge },
      ];
      const results = [];
      for (const c of cases) {
        const res = await b.get(authUrl({ response_type: 'code', client_id: c.client.id, redirect_uri: REG, state: 'st', code_challenge: c.challenge, code_challenge_method: c.method }));
        results.push({ method: c.method, view: redirectView(res) });
      }
      expect(results).toEqual(cases.map((c) => ({ method: c.method, view: errorRedirect(`code_challenge_method ${c.method} is not allowed; use S256`) })));
      // a challenge without a method defaults to plain in RFC 7636: refused as well
      const noMethod = await b.get(authUrl({ response_type: 'code', client_id: pub.id, redirect_uri: REG, state: 'st', code_challenge: pkce().challenge }));
      expect(redirectView(noMethod)).toEqual(errorRedirect('code_challenge_method is required (S256)'));
      // a plain-style challenge (a 64-character verifier) under S256 is not a SHA-256 value
      const plainAsS256 = await b.get(authUrl({ response_type: 'code', client_id: pub.id, redirect_uri: REG, state: 'st', code_challenge: 'a'.repeat(64), code_challenge_method: 'S256' }));
      expect(redirectView(plainAsS256)).toEqual(errorRedirect('code_challenge must be a base64url SHA-256 value (43 characters)'));
    });

    it('17. a public client without PKCE is refused', async () => {
      for (const extra of [{}, { code_challenge_method: 'S256' }, { code_challenge: '' }]) {
        const res = await b.get(authUrl({ response_type: 'code', client_id: pub.id, redirect_uri: REG, state: 'st', ...extra }));
        expect({ extra, view: redirectView(res) }).toEqual({ extra, view: errorRedirect('PKCE is required for public clients: send code_challenge with code_challenge_method S256') });
      }
      // also before sign-in: the refusal does not depend on a session
      const res = await t.app.inject({ url: authUrl({ response_type: 'code', client_id: pub.id, redirect_uri: REG, state: 'st' }) });
      expect(redirectView(res)).toEqual(errorRedirect('PKCE is required for public clients: send code_challenge with code_challenge_method S256'));
    });
  });

  describe('18', () => {
    it('18. missing or wrong code_verifier → invalid_grant', async () => {
      for (const client of [pub, conf]) {
        const { verifier, challenge } = pkce();
        const code = await codeFor(client, { code_challenge: challenge, code_challenge_method: 'S256' });
        const results = {
          missing: jsonView(await redeem(client, code)),
          empty: jsonView(await redeem(client, code, { code_verifier: '' })),
          wrong: jsonView(await redeem(client, code, { code_verifier: pkce().verifier })),
          // the challenge itself, as a plain downgrade would send
          challengeAsVerifier: jsonView(await redeem(client, code, { code_verifier: challenge })),
          truncated: jsonView(await redeem(client, code, { code_verifier: verifier.slice(0, -1) })),
          padded: jsonView(await redeem(client, code, { code_verifier: `${verifier} ` })),
        };
        expect(results).toEqual({
          missing: invalidGrant('code_verifier is missing'),
          empty: invalidGrant('code_verifier is missing'),
          wrong: invalidGrant('code_verifier does not match the code_challenge'),
          challengeAsVerifier: invalidGrant('code_verifier does not match the code_challenge'),
          truncated: invalidGrant('code_verifier does not match the code_challenge'),
          padded: invalidGrant('code_verifier does not match the code_challenge'),
        });
        // the right verifier still works: failed attempts did not hand the code to anyone
        expect((await redeem(client, code, { code_verifier: verifier })).statusCode).toBe(200);
      }
    });
  });

  describe('19', () => {
    it('19. a code_verifier sent when no challenge was sent → rejected (downgrade)', async () => {
      const code = await codeFor(conf);
      expect(jsonView(await redeem(conf, code, { code_verifier: pkce().verifier }))).toEqual(
        invalidGrant('code_verifier was sent but the authorization request had no code_challenge'),
      );
    });
  });

  describe('20', () => {
    it('20. redirect_uri differing between authorization and token request → rejected', async () => {
      const mismatch = invalidGrant('redirect_uri does not match the authorization request');
      const code = await codeFor(conf);
      const results = {
        otherRegistered: jsonView(await redeem(conf, code, { redirect_uri: REG2 })),
        missing: jsonView(await redeem(conf, code, { redirect_uri: undefined })),
        trailingSlash: jsonView(await redeem(conf, code, { redirect_uri: `${REG}/` })),
        caseChanged: jsonView(await redeem(conf, code, { redirect_uri: 'https://APP.example/cb' })),
        unregistered: jsonView(await redeem(conf, code, { redirect_uri: 'https://evil.example/cb' })),
      };
      expect(results).toEqual({ otherRegistered: mismatch, missing: mismatch, trailingSlash: mismatch, caseChanged: mismatch, unregistered: mismatch });
      expect((await redeem(conf, code)).statusCode).toBe(200);

      // authorized for REG2, redeemed with REG
      const code2 = await codeFor(conf, { redirect_uri: REG2 });
      expect(jsonView(await redeem(conf, code2))).toEqual(mismatch);
      expect((await redeem(conf, code2, { redirect_uri: REG2 })).statusCode).toBe(200);
    });

    it('20. redirect_uri differing between authorization and token request → rejected (a loopback URI on another port)', async () => {
      const native = await createClient(t.deps, 'default', { name: 'Native', public: true, redirectUris: ['http://127.0.0.1/cb'], consent: 'skip' }, 86400);
      const client = { id: native.client.clientId };
      const { verifier, challenge } = pkce();
      const url = authUrl({ response_type: 'code', client_id: client.id, redirect_uri: 'http://127.0.0.1:5000/cb', state: 'st', code_challenge: challenge, code_challenge_method: 'S256' });
      const { res } = await drive(b, url);
      const code = parseLocation(res.headers.location).query.code;
      expect(code).toBeTruthy();
      expect(jsonView(await tokenRequest(t.app, client, { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:6000/cb', code_verifier: verifier })))
        .toEqual(invalidGrant('redirect_uri does not match the authorization request'));
      expect(jsonView(await tokenRequest(t.app, client, { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1/cb', code_verifier: verifier })))
        .toEqual(invalidGrant('redirect_uri does not match the authorization request'));
      expect((await tokenRequest(t.app, client, { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1:5000/cb', code_verifier: verifier })).statusCode).toBe(200);
    });
  });

  describe('21', () => {
    /** 43 base64url characters = 258 bits of encoding around 256 random bits. */
    const B64_256 = /^[A-Za-z0-9_-]{43}$/;
    const OPAQUE = /^[0-9a-f]{12}([A-Za-z0-9_-]{43})$/;
    /** Share of 1 bits in the decoded random parts: about one half for a uniform source. */
    const onesShare = (values: string[]) => {
      let ones = 0;
      let bits = 0;
      for (const v of values) {
        for (const byte of Buffer.from(v, 'base64url')) {
          for (let i = 0; i < 8; i++) ones += (byte >> i) & 1;
          bits += 8;
        }
      }
      return { bits, share: ones / bits };
    };
    const randomPart = (v: string) => OPAQUE.exec(v)?.[1] ?? v;

    it('21. codes, tokens and secrets carry ≥128 bits of entropy', async () => {
      const codes: string[] = [];
      for (let i = 0; i < 12; i++) codes.push(await codeFor(conf));
      const opaqueTokens: string[] = [];
      const jtis: string[] = [];
      for (let i = 0; i < 8; i++) {
        opaqueTokens.push((await redeem(opaque, await codeFor(opaque))).json().access_token);
        jtis.push(decodeJwt((await redeem(conf, await codeFor(conf))).json().access_token).jti as string);
      }
      const secrets: string[] = [];
      for (let i = 0; i < 8; i++) secrets.push((await createClient(t.deps, 'default', { name: `Entropy ${i}` }, 86400)).secret!);
      const csrfs: string[] = [];
      const interactions: string[] = [];
      const bindings: string[] = [];
      const sessions: string[] = [];
      for (let i = 0; i < 6; i++) {
        const fresh = new InjectBrowser(t.app);
        const login = await fresh.get(authUrl({ response_type: 'code', client_id: conf.id, redirect_uri: REG, scope: 'read:avatars' }));
        const f = formOf(login.body);
        csrfs.push(f.fields.csrf);
        interactions.push(f.fields.interaction);
        bindings.push(fresh.cookies.get('tessera_browser_default')!);
        await fresh.post(new URL(f.action).pathname, { ...f.fields, username: 'alice', password: PASSWORD });
        sessions.push(fresh.cookies.get('tessera_session_default')!);
      }

      const formats = {
        codes: codes.every((v) => OPAQUE.test(v)),
        opaqueTokens: opaqueTokens.every((v) => OPAQUE.test(v)),
        interactions: interactions.every((v) => OPAQUE.test(v)),
        sessions: sessions.every((v) => OPAQUE.test(v)),
        secrets: secrets.every((v) => B64_256.test(v)),
        csrfs: csrfs.every((v) => B64_256.test(v)),
        bindings: bindings.every((v) => B64_256.test(v)),
        // identifiers: 22 characters, the first of 62 values, the rest base64url: 5.95 + 21 × 6 ≈ 132 bits;
        // a user grant's JWT carries its grant's identifier first ("{grant}.{random}", access_token.ts)
        jtis: jtis.every((v) => /^[A-Za-z0-9][A-Za-z0-9_-]{21}\.[A-Za-z0-9][A-Za-z0-9_-]{21}$/.test(v)),
      };
      expect(formats).toEqual({ codes: true, opaqueTokens: true, interactions: true, sessions: true, secrets: true, csrfs: true, bindings: true, jtis: true });

      const all = [...codes, ...opaqueTokens, ...interactions, ...sessions, ...secrets, ...csrfs, ...bindings, ...jtis];
      expect(new Set(all).size).toBe(all.length);
      // no two random parts share a 16-character run (a weak or repeating source would)
      const parts = [...codes, ...opaqueTokens, ...interactions, ...sessions].map(randomPart).concat(secrets, csrfs, bindings);
      const runs = new Map<string, number>();
      parts.forEach((p, i) => {
        for (let j = 0; j + 16 <= p.length; j += 8) {
          const seen = runs.get(p.slice(j, j + 16));
          expect(seen === undefined || seen === i).toBe(true);
          runs.set(p.slice(j, j + 16), i);
        }
      });
      // the bits look uniform: with ~13,000 bits, σ of the share of ones is 0.0044; allow 0.5 ± 0.025 (> 5 σ)
      const { bits, share } = onesShare(parts.map((p) => p.slice(0, 42)));
      expect(bits).toBeGreaterThan(12_000);
      expect(Math.abs(share - 0.5)).toBeLessThan(0.025);
    });
  });

  describe('22', () => {
    it('22. N concurrent redemptions of one code → exactly one success', async () => {
      // Many rounds: the interleavings that break this are rare (seen about once in 40 rounds on PostgreSQL).
      for (let round = 0; round < 40; round++) {
        const { verifier, challenge } = pkce();
        const code = await codeFor(opaque, { code_challenge: challenge, code_challenge_method: 'S256' });
        const responses = await Promise.all(Array.from({ length: 20 }, () => redeem(opaque, code, { code_verifier: verifier })));
        const ok = responses.filter((r) => r.statusCode === 200);
        const refused = responses.filter((r) => r.statusCode !== 200).map(jsonView);
        expect({ round, successes: ok.length }).toEqual({ round, successes: 1 });
        expect(refused).toEqual(Array.from({ length: 19 }, () => invalidGrant('authorization code was already used')));
      }
    });

    it('22. N concurrent redemptions of one code → exactly one success, also when storage is slow (deterministic interleaving)', async () => {
      // A slow database read (50 ms on the grant lookup) makes the rare interleaving of the test
      // above certain: the redemption that consumed the code must still succeed while the others,
      // seen as replays, revoke the grant.
      const grants = t.storage.grants;
      const get = grants.get.bind(grants);
      grants.get = async (id: string) => {
        await new Promise((r) => setTimeout(r, 50));
        return get(id);
      };
      try {
        const { verifier, challenge } = pkce();
        const code = await codeFor(opaque, { code_challenge: challenge, code_challenge_method: 'S256' });
        const responses = await Promise.all(Array.from({ length: 20 }, () => redeem(opaque, code, { code_verifier: verifier })));
        expect(responses.map(jsonView).sort((x, y) => x.status - y.status)).toEqual([
          { status: 200, body: expect.objectContaining({ access_token: expect.any(String) }) },
          ...Array.from({ length: 19 }, () => invalidGrant('authorization code was already used')),
        ]);
      } finally {
        grants.get = get;
      }
    });
  });
});
