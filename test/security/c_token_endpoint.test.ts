/**
 * SECURITY-CHECKLIST §C — the token endpoint and client authentication: items 23 (wrong or
 * missing credentials → 401 invalid_client with WWW-Authenticate), 24 (constant-time secret
 * comparison), 27 (no-store JSON token responses for every grant), 28 (no scope widening) and
 * 29 (duplicate parameters rejected), black-box through app.inject on every backend. Item 25
 * is in h_throttling.test.ts, item 26 in c_client_authentication.test.ts.
 *
 * The world is the device-flow one (an https deployment, so the device page works), with the
 * clients of the other grants added to it.
 */
import { randomUUID } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretMatchesDigest, digest } from '../../src/crypto/digest.js';
import { createApi } from '../../src/manage/apis.js';
import { createClient } from '../../src/manage/clients.js';
import { BACKENDS, basic, form, FORM_HEADERS } from '../helpers.js';
import { DEVICE_AUTH, DEVICE_GRANT, deviceWorld, ISSUER, PASSWORD, TOKEN, type DeviceWorld } from '../support/device.js';
import { GRANT as EXCHANGE, TYPE } from '../support/token_exchange.js';
import { authUrl, drive, InjectBrowser, isConsentPage, pkce, redirectView, tokenRequest, type TestClient } from './support.js';

const AUTH = '/realms/default/protocol/openid-connect/auth';
const PAR = '/realms/default/protocol/openid-connect/ext/par/request';
const REVOKE = '/realms/default/protocol/openid-connect/revoke';
const INTROSPECT = '/realms/default/protocol/openid-connect/token/introspect';
const REDIRECT = 'https://app.example/cb';
const STATS = 'https://stats.example/';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

const challenged = (res: LightMyRequestResponse) => ({ status: res.statusCode, challenge: res.headers['www-authenticate'], body: res.json() });
const invalidClient = (description: string) => ({ status: 401, challenge: 'Basic realm="default", charset="UTF-8"', body: { error: 'invalid_client', error_description: description } });
const oauth = (res: LightMyRequestResponse) => ({ status: res.statusCode, body: res.json() });
const oauthError = (error: string, description: string, status = 400) => ({ status, body: { error, error_description: description } });

describe.each(BACKENDS)('SECURITY-CHECKLIST C: the token endpoint on %s', (backend) => {
  let w: DeviceWorld;
  /** Confidential (client_secret_basic or _post): code, refresh, client_credentials and password. */
  let web: Required<TestClient>;
  let pub: TestClient;
  let pkj: string;
  let pkjKey: { privateKey: CryptoKey; jwk: JWK };
  let exchanger: Required<TestClient>;

  const post = (url: string, fields: Record<string, string | string[]>, headers: Record<string, string> = {}) =>
    w.t.app.inject({ method: 'POST', url, headers: { ...FORM_HEADERS, ...headers }, payload: form(fields) });
  const now = () => Math.floor(w.clock.ms / 1000);
  const assertion = (key = pkjKey, claims: Record<string, unknown> = {}) =>
    new SignJWT({ iss: pkj, sub: pkj, aud: ISSUER, jti: randomUUID(), iat: now(), exp: now() + 60, ...claims }).setProtectedHeader({ alg: 'ES256', kid: key.jwk.kid! }).sign(key.privateKey);

  /** A code for `client` with PKCE, signed in and consented as alice in a fresh browser. */
  async function code(client: TestClient, scope: string) {
    const { verifier, challenge } = pkce();
    const { res } = await drive(new InjectBrowser(w.t.app), authUrl({ response_type: 'code', client_id: client.id, redirect_uri: REDIRECT, scope, state: 's', code_challenge: challenge, code_challenge_method: 'S256' }, AUTH));
    const got = redirectView(res);
    expect(got.query.code, JSON.stringify(got)).toBeTruthy();
    return { code: got.query.code, verifier };
  }
  const passwordTokens = async (client: TestClient, scope: string) => {
    const res = await tokenRequest(w.t.app, client, { grant_type: 'password', username: 'alice', password: PASSWORD, scope }, TOKEN);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { access_token: string; refresh_token?: string };
  };

  beforeAll(async () => {
    w = await deviceWorld(backend);
    await createApi(w.t.deps, 'default', { audience: STATS, scopes: ['read:stats'] }, 86400);
    const mk = async (input: Parameters<typeof createClient>[2]) => {
      const c = await createClient(w.t.deps, 'default', { redirectUris: [REDIRECT], ...input }, 86400);
      return { id: c.client.clientId, secret: c.secret! };
    };
    web = await mk({ name: 'Avatar Studio', grantTypes: ['authorization_code', 'refresh_token', 'client_credentials', 'password'], scopes: ['read:avatars'] });
    pub = { id: (await mk({ name: 'Public SPA', public: true, grantTypes: ['authorization_code', 'refresh_token'], scopes: ['read:avatars'] })).id };
    exchanger = await mk({ name: 'Gateway', grantTypes: [EXCHANGE], scopes: ['read:avatars', 'write:avatars'], tokenExchangeSubjectClients: ['*'] });
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    pkjKey = { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: 'pkj-1', use: 'sig' } };
    pkj = (await createClient(w.t.deps, 'default', {
      name: 'Key Client', grantTypes: ['client_credentials', DEVICE_GRANT], scopes: ['read:avatars'], tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [pkjKey.jwk] },
    }, 86400)).client.clientId;
  });
  afterAll(() => w?.t.close());

  describe('23', () => {
    it('23. wrong or missing secret → 401 invalid_client with WWW-Authenticate (client_secret_basic)', async () => {
      const cc = { grant_type: 'client_credentials' };
      expect(challenged(await post(TOKEN, cc, { authorization: basic(web.id, `${web.secret}x`) }))).toEqual(invalidClient('client authentication failed'));
      expect(challenged(await post(TOKEN, cc, { authorization: basic(web.id, '') }))).toEqual(invalidClient('client authentication failed'));
      expect(challenged(await post(TOKEN, cc, { authorization: basic(web.id, web.secret.slice(0, -1)) }))).toEqual(invalidClient('client authentication failed'));
      // An unknown client looks exactly like a wrong secret.
      expect(challenged(await post(TOKEN, cc, { authorization: basic('no-such-client', web.secret) }))).toEqual(invalidClient('client authentication failed'));
      // No credentials at all.
      expect(challenged(await post(TOKEN, cc))).toEqual(invalidClient('client authentication is required'));
      // The right secret works (the refusals above are about the secret, not the client).
      expect((await post(TOKEN, cc, { authorization: basic(web.id, web.secret) })).statusCode).toBe(200);
    });

    it('23. wrong or missing secret → 401 invalid_client with WWW-Authenticate (client_secret_post), at every endpoint that authenticates clients', async () => {
      for (const [url, fields] of [
        [TOKEN, { grant_type: 'client_credentials' }],
        [REVOKE, { token: 'x' }],
        [INTROSPECT, { token: 'x' }],
        [PAR, { response_type: 'code', redirect_uri: REDIRECT, scope: 'read:avatars' }],
      ] as [string, Record<string, string>][]) {
        expect({ url, ...challenged(await post(url, { ...fields, client_id: web.id, client_secret: `${web.secret}x` })) }).toEqual({ url, ...invalidClient('client authentication failed') });
        // A confidential client naming itself without its secret.
        expect({ url, ...challenged(await post(url, { ...fields, client_id: web.id })) }).toEqual({ url, ...invalidClient('client authentication failed') });
        expect({ url, status: (await post(url, { ...fields, client_id: web.id, client_secret: web.secret })).statusCode }).toEqual({ url, status: url === PAR ? 201 : 200 });
      }
    });

    it('23. a wrong or missing client assertion → 401 invalid_client with WWW-Authenticate (private_key_jwt)', async () => {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const stranger = { privateKey, jwk: { ...(await exportJWK(publicKey)), kid: 'pkj-1' } };
      const cc = { grant_type: 'client_credentials', client_assertion_type: JWT_BEARER };
      // Signed with another key under the client's kid: the signature fails.
      expect(challenged(await post(TOKEN, { ...cc, client_assertion: await assertion(stranger) }))).toEqual(invalidClient('client assertion signature is invalid'));
      // No assertion: the client_id alone, or a secret it does not have.
      expect(challenged(await post(TOKEN, { grant_type: 'client_credentials', client_id: pkj }))).toEqual(
        invalidClient('the client must authenticate with a client assertion (private_key_jwt)'),
      );
      expect(challenged(await post(TOKEN, { grant_type: 'client_credentials' }, { authorization: basic(pkj, 'guess') }))).toEqual(
        invalidClient('the client must authenticate with a client assertion (private_key_jwt)'),
      );
      expect(challenged(await post(TOKEN, { ...cc, client_assertion: 'not-a-jwt' }))).toEqual(invalidClient('client_assertion is not a well-formed signed JWT'));
      expect((await post(TOKEN, { ...cc, client_assertion: await assertion() })).statusCode).toBe(200);
    });
  });

  describe('24', () => {
    it('24. secrets are compared in constant time: client authentication goes through secretMatchesDigest (timingSafeEqual over SHA-256 digests)', async () => {
      // Code review, pinned: both authentication paths compare the presented secret only through
      // secretMatchesDigest, which hashes it first (fixed length, no common prefix to exploit)
      // and compares with crypto.timingSafeEqual; nothing compares secrets with === or startsWith.
      const { readFileSync } = await import('node:fs');
      const source = (p: string) => readFileSync(new URL(`../../src/${p}`, import.meta.url), 'utf8');
      const clientAuth = source('http/client_auth.ts');
      expect(clientAuth.match(/secretMatchesDigest\(secret, /g)).toHaveLength(2);
      expect(clientAuth).not.toMatch(/secret\w*\s*(?:===|!==|==|!=)\s*(?!undefined\b)[\w'"`]|(?:===|!==|==|!=)\s*[\w.?]*secret|secret\w*\.(?:equals|startsWith|localeCompare)\(/i);
      expect(source('crypto/digest.ts')).toMatch(/timingSafeEqual\(a, b\)/);
      // The other secrets compared in memory: the PKCE verifier's hash, CSRF tokens of the
      // sign-in, account and device pages, and the admin API's signed cursors.
      for (const file of ['grants/authorization_code.ts', 'http/interaction.ts', 'endpoints/account.ts', 'endpoints/device.ts', 'admin/cursor.ts']) {
        expect({ file, constantTime: /timingSafeEqual\(/.test(source(file)) }).toEqual({ file, constantTime: true });
      }

      const stored = digest('the right secret, 43 characters long........');
      expect(secretMatchesDigest('the right secret, 43 characters long........', stored)).toBe(true);
      for (const wrong of ['', 'the right secret, 43 characters long.......', 'the right secret, 43 characters long.........', 'x'.repeat(10_000)]) {
        expect(secretMatchesDigest(wrong, stored)).toBe(false);
      }
      expect(secretMatchesDigest('anything', 'short')).toBe(false);
    });

    it('24. a secret that shares a long prefix with the right one takes no longer to refuse than one that shares none (timing)', async () => {
      // Many alternating in-process attempts, compared pairwise: each "nearly right" attempt
      // with the "unlike" one right after it, so load on a shared 2-core machine (which drifts
      // over seconds) falls on both sides of a pair alike, and the median of the differences is
      // robust to the odd stall. A byte-by-byte comparison of the raw secret would not show here
      // (it is nanoseconds): what this pins is that neither the common prefix nor anything else
      // about a wrong secret changes the answer's cost in a way one could measure over HTTP.
      const attempt = async (secret: string) => {
        const start = performance.now();
        const res = await post(TOKEN, { grant_type: 'client_credentials' }, { authorization: basic(web.id, secret) });
        const ms = performance.now() - start;
        expect(res.statusCode).toBe(401);
        return ms;
      };
      const nearly = `${web.secret.slice(0, -1)}${web.secret.endsWith('A') ? 'B' : 'A'}`;
      const unlike = 'A'.repeat(web.secret.length);
      for (let i = 0; i < 20; i++) await attempt(i % 2 ? nearly : unlike);
      const differences: number[] = [];
      const all: number[] = [];
      for (let i = 0; i < 80; i++) {
        // Alternate which goes first, so a pair's order cannot bias the difference.
        let n: number;
        let f: number;
        if (i % 2) {
          n = await attempt(nearly);
          f = await attempt(unlike);
        } else {
          f = await attempt(unlike);
          n = await attempt(nearly);
        }
        differences.push(n - f);
        all.push(n, f);
      }
      const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
      const [d, typical] = [median(differences), median(all)];
      expect(Math.abs(d), `median difference ${d.toFixed(3)} ms per answer of typically ${typical.toFixed(3)} ms`).toBeLessThanOrEqual(typical * 0.25 + 0.2);
    });
  });

  describe('27', () => {
    /** What every token response must carry (RFC 6749 §5.1): JSON, and nothing may cache it. */
    const headersOf = (res: LightMyRequestResponse) => ({ status: res.statusCode, cacheControl: res.headers['cache-control'], pragma: res.headers.pragma, type: res.headers['content-type'] });
    const NO_STORE = { status: 200, cacheControl: 'no-store', pragma: 'no-cache', type: 'application/json; charset=utf-8' };

    it('27. token responses carry Cache-Control: no-store and a JSON content type, for every grant', async () => {
      const seen: Record<string, ReturnType<typeof headersOf>> = {};
      const { code: c, verifier } = await code(web, 'openid offline_access read:avatars');
      const issued = await tokenRequest(w.t.app, web, { grant_type: 'authorization_code', code: c, redirect_uri: REDIRECT, code_verifier: verifier }, TOKEN);
      seen.authorization_code = headersOf(issued);
      seen.refresh_token = headersOf(await tokenRequest(w.t.app, web, { grant_type: 'refresh_token', refresh_token: issued.json().refresh_token }, TOKEN));
      seen.client_credentials = headersOf(await tokenRequest(w.t.app, web, { grant_type: 'client_credentials' }, TOKEN));
      const user = await passwordTokens(web, 'read:avatars');
      seen.password = headersOf(await tokenRequest(w.t.app, web, { grant_type: 'password', username: 'alice', password: PASSWORD }, TOKEN));
      seen[EXCHANGE] = headersOf(await tokenRequest(w.t.app, exchanger, { grant_type: EXCHANGE, subject_token: user.access_token, subject_token_type: TYPE.access }, TOKEN));
      const device = await w.codes(w.clients.tv, 'read:avatars');
      expect((await w.approve(device.user_code)).statusCode).toBe(200);
      seen[DEVICE_GRANT] = headersOf(await w.poll(w.clients.tv, device.device_code));
      seen.public_client_code = headersOf(await (async () => {
        const p = await code(pub, 'read:avatars');
        return tokenRequest(w.t.app, pub, { grant_type: 'authorization_code', code: p.code, redirect_uri: REDIRECT, code_verifier: p.verifier }, TOKEN);
      })());
      const grants = ['authorization_code', 'refresh_token', 'client_credentials', 'password', EXCHANGE, DEVICE_GRANT, 'public_client_code'];
      expect(seen).toEqual(Object.fromEntries(grants.map((g) => [g, NO_STORE])));
    });

    it('27. error answers of the token endpoint carry no-store and a JSON content type too, and so do the device and PAR answers', async () => {
      const refusals = [
        await tokenRequest(w.t.app, web, { grant_type: 'authorization_code', code: 'nope', redirect_uri: REDIRECT, code_verifier: 'x'.repeat(43) }, TOKEN),
        await post(TOKEN, { grant_type: 'client_credentials' }, { authorization: basic(web.id, 'wrong') }),
        await tokenRequest(w.t.app, web, { grant_type: 'urn:example:unknown' }, TOKEN),
      ];
      // (Pragma is RFC 6749 §5.1's, for successful responses only.)
      expect(refusals.map((r) => ({ ...headersOf(r), status: undefined, pragma: undefined }))).toEqual(Array(3).fill({ ...NO_STORE, status: undefined, pragma: undefined }));
      expect(headersOf(await tokenRequest(w.t.app, w.clients.tv, { scope: 'read:avatars' }, DEVICE_AUTH))).toEqual(NO_STORE);
      const pushed = await tokenRequest(w.t.app, web, { response_type: 'code', client_id: web.id, redirect_uri: REDIRECT, scope: 'read:avatars', code_challenge: pkce().challenge, code_challenge_method: 'S256' }, PAR);
      expect(headersOf(pushed)).toEqual({ ...NO_STORE, status: 201, pragma: undefined });
    });
  });

  describe('28', () => {
    const mayNot = (scope: string) => oauthError('invalid_scope', `the client may not request scope ${scope}`);

    it('28. authorization: a scope the client may not request is refused, and the token request cannot add one', async () => {
      const b = new InjectBrowser(w.t.app);
      const { challenge } = pkce();
      for (const scope of ['read:avatars write:avatars', 'read:stats', 'admin']) {
        const extra = scope.split(' ').find((s) => s !== 'read:avatars')!;
        const res = await b.get(authUrl({ response_type: 'code', client_id: web.id, redirect_uri: REDIRECT, scope, state: 's', code_challenge: challenge, code_challenge_method: 'S256' }, AUTH));
        expect(redirectView(res)).toEqual({
          status: 302, target: REDIRECT, fragment: {},
          query: { error: 'invalid_scope', error_description: `the client may not request scope ${extra}`, state: 's', iss: ISSUER },
        });
      }
      // A scope sent with the code is not the code's: the tokens carry what was granted.
      const { code: c, verifier } = await code(web, 'read:avatars');
      const res = await tokenRequest(w.t.app, web, { grant_type: 'authorization_code', code: c, redirect_uri: REDIRECT, code_verifier: verifier, scope: 'read:avatars write:avatars read:stats' }, TOKEN);
      expect(oauth(res)).toEqual({ status: 200, body: expect.objectContaining({ scope: 'read:avatars' }) });
    });

    it('28. authorization: remembered consent covers only what was granted; asking for more shows the consent page again', async () => {
      const wide = await createClient(w.t.deps, 'default', { name: 'Wide App', redirectUris: [REDIRECT], scopes: ['read:avatars', 'write:avatars'] }, 86400);
      const client = { id: wide.client.clientId, secret: wide.secret! };
      const b = new InjectBrowser(w.t.app);
      const url = (scope: string) => authUrl({ response_type: 'code', client_id: client.id, redirect_uri: REDIRECT, scope, state: 's', code_challenge: pkce().challenge, code_challenge_method: 'S256' }, AUTH);
      const first = await drive(b, url('read:avatars'));
      expect({ consent: first.sawConsent, code: Boolean(redirectView(first.res).query.code) }).toEqual({ consent: true, code: true });
      const again = await drive(b, url('read:avatars'));
      expect({ consent: again.sawConsent, code: Boolean(redirectView(again.res).query.code) }).toEqual({ consent: false, code: true });
      const more = await b.get(url('read:avatars write:avatars'));
      expect(isConsentPage(more)).toBe(true);
    });

    it('28. client_credentials: only scopes the client may request', async () => {
      for (const scope of ['write:avatars', 'read:avatars read:stats', 'admin']) {
        const extra = scope.split(' ').find((s) => s !== 'read:avatars')!;
        expect(oauth(await tokenRequest(w.t.app, web, { grant_type: 'client_credentials', scope }, TOKEN))).toEqual(mayNot(extra));
      }
      expect(oauth(await tokenRequest(w.t.app, web, { grant_type: 'client_credentials', scope: 'offline_access' }, TOKEN))).toEqual(
        oauthError('invalid_scope', 'scope offline_access needs a user and cannot be granted with client_credentials'),
      );
      expect(oauth(await tokenRequest(w.t.app, web, { grant_type: 'client_credentials', scope: 'read:avatars' }, TOKEN))).toEqual({ status: 200, body: expect.objectContaining({ scope: 'read:avatars' }) });
    });

    it('28. naming an API the client holds no scope of (resource or audience, no scope) is invalid_target, not a scope-less token for it', async () => {
      const refused = oauthError('invalid_target', `the client may not obtain tokens for ${JSON.stringify(STATS)}`);
      expect(oauth(await tokenRequest(w.t.app, web, { grant_type: 'client_credentials', resource: STATS }, TOKEN))).toEqual(refused);
      expect(oauth(await tokenRequest(w.t.app, web, { grant_type: 'client_credentials', audience: STATS }, TOKEN))).toEqual(refused);
      expect(oauth(await tokenRequest(w.t.app, web, { grant_type: 'password', username: 'alice', password: PASSWORD, resource: STATS }, TOKEN))).toEqual(refused);
    });

    it('28. password grant: only scopes the client may request', async () => {
      expect(oauth(await tokenRequest(w.t.app, web, { grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'read:avatars write:avatars' }, TOKEN))).toEqual(mayNot('write:avatars'));
    });

    it('28. refresh: a refresh cannot widen the granted scope, even to scopes the client may request', async () => {
      const wide = await createClient(w.t.deps, 'default', { name: 'Wide Refresher', grantTypes: ['password', 'refresh_token'], scopes: ['read:avatars', 'write:avatars'] }, 86400);
      const client = { id: wide.client.clientId, secret: wide.secret! };
      const { refresh_token } = await passwordTokens(client, 'offline_access read:avatars');
      for (const scope of ['read:avatars write:avatars', 'openid', 'read:stats']) {
        const extra = scope.split(' ').find((s) => s !== 'read:avatars')!;
        expect(oauth(await tokenRequest(w.t.app, client, { grant_type: 'refresh_token', refresh_token, scope }, TOKEN))).toEqual(
          oauthError('invalid_scope', `scope ${extra} was not granted to this refresh token`),
        );
      }
      expect(oauth(await tokenRequest(w.t.app, client, { grant_type: 'refresh_token', refresh_token }, TOKEN))).toEqual({ status: 200, body: expect.objectContaining({ scope: 'offline_access read:avatars' }) });
    });

    it('28. token exchange: never beyond the subject token, nor beyond what the exchanging client may request', async () => {
      const { access_token } = await passwordTokens(web, 'read:avatars');
      const exchange = (scope: string, client: TestClient = exchanger) =>
        tokenRequest(w.t.app, client, { grant_type: EXCHANGE, subject_token: access_token, subject_token_type: TYPE.access, scope }, TOKEN);
      expect(oauth(await exchange('read:avatars write:avatars'))).toEqual(oauthError('invalid_scope', 'scope write:avatars is not held by the subject_token'));
      expect(oauth(await exchange('offline_access'))).toEqual(oauthError('invalid_scope', 'scope offline_access cannot be granted by token exchange, which issues no refresh token'));
      const narrow = await createClient(w.t.deps, 'default', { name: 'Narrow Exchanger', grantTypes: [EXCHANGE], scopes: ['read:stats'], tokenExchangeSubjectClients: ['*'] }, 86400);
      expect(oauth(await exchange('read:avatars', { id: narrow.client.clientId, secret: narrow.secret! }))).toEqual(mayNot('read:avatars'));
      expect(oauth(await exchange('read:avatars'))).toEqual({ status: 200, body: expect.objectContaining({ scope: 'read:avatars' }) });
    });

    it('28. device flow: only scopes the client may request', async () => {
      expect(oauth(await tokenRequest(w.t.app, w.clients.console, { scope: 'read:avatars write:avatars' }, DEVICE_AUTH))).toEqual(mayNot('write:avatars'));
    });
  });

  describe('29', () => {
    const repeated = (name: string) => oauthError('invalid_request', `parameter ${name} must not be repeated`);

    it('29. duplicate parameters are rejected at the token endpoint, for every grant and for client authentication', async () => {
      const user = await passwordTokens(web, 'offline_access read:avatars');
      const cases: [Record<string, string | string[]>, string][] = [
        [{ grant_type: ['client_credentials', 'client_credentials'] }, 'grant_type'],
        [{ grant_type: 'client_credentials', scope: ['read:avatars', 'read:avatars'] }, 'scope'],
        [{ grant_type: 'authorization_code', code: ['a', 'b'], redirect_uri: REDIRECT, code_verifier: 'x'.repeat(43) }, 'code'],
        [{ grant_type: 'authorization_code', code: 'a', redirect_uri: [REDIRECT, REDIRECT], code_verifier: 'x'.repeat(43) }, 'redirect_uri'],
        [{ grant_type: 'authorization_code', code: 'a', redirect_uri: REDIRECT, code_verifier: ['x'.repeat(43), 'y'.repeat(43)] }, 'code_verifier'],
        [{ grant_type: 'refresh_token', refresh_token: [user.refresh_token!, user.refresh_token!] }, 'refresh_token'],
        [{ grant_type: 'password', username: ['alice', 'bob'], password: PASSWORD }, 'username'],
        [{ grant_type: 'password', username: 'alice', password: [PASSWORD, 'other'] }, 'password'],
        [{ grant_type: 'client_credentials', client_secret: [web.secret, web.secret] }, 'client_secret'],
        [{ grant_type: 'client_credentials', client_id: [web.id, web.id] }, 'client_id'],
      ];
      for (const [fields, name] of cases) {
        const res = await post(TOKEN, fields, fields.client_secret || fields.client_id ? {} : { authorization: basic(web.id, web.secret) });
        expect({ name, ...oauth(res) }).toEqual({ name, ...repeated(name) });
      }
      expect(oauth(await tokenRequest(w.t.app, exchanger, { grant_type: EXCHANGE, subject_token: user.access_token, subject_token_type: TYPE.access }, TOKEN)).status).toBe(200);
      expect(oauth(await post(TOKEN, { grant_type: EXCHANGE, subject_token: [user.access_token, user.access_token], subject_token_type: TYPE.access }, { authorization: basic(exchanger.id, exchanger.secret) }))).toEqual(repeated('subject_token'));
      expect(oauth(await post(TOKEN, { grant_type: DEVICE_GRANT, device_code: ['a', 'b'], client_id: w.clients.console.id }))).toEqual(repeated('device_code'));
      // The refused requests spent nothing: the refresh token still works.
      expect((await tokenRequest(w.t.app, web, { grant_type: 'refresh_token', refresh_token: user.refresh_token }, TOKEN)).statusCode).toBe(200);
    });

    it('29. duplicate parameters are rejected at introspection, revocation, PAR and device authorization', async () => {
      const { access_token } = await passwordTokens(web, 'read:avatars');
      const auth = { authorization: basic(web.id, web.secret) };
      expect(oauth(await post(INTROSPECT, { token: [access_token, access_token] }, auth))).toEqual(repeated('token'));
      expect(oauth(await post(INTROSPECT, { token: access_token, token_type_hint: ['access_token', 'refresh_token'] }, auth))).toEqual(repeated('token_type_hint'));
      expect(oauth(await post(REVOKE, { token: [access_token, 'other'] }, auth))).toEqual(repeated('token'));
      // The refused revocation revoked nothing.
      expect((await post(INTROSPECT, { token: access_token }, auth)).json()).toMatchObject({ active: true });

      const par = {
        response_type: 'code', client_id: web.id, redirect_uri: REDIRECT, scope: 'read:avatars', state: 's', code_challenge: pkce().challenge, code_challenge_method: 'S256',
        nonce: 'n', prompt: 'login', max_age: '60', login_hint: 'alice', response_mode: 'query', audience: 'https://api.avatars.example/',
      };
      for (const name of Object.keys(par).filter((n) => n !== 'client_id') as (keyof typeof par)[]) {
        expect({ name, ...oauth(await post(PAR, { ...par, [name]: [par[name], par[name]] }, auth)) }).toEqual({ name, ...repeated(name) });
      }
      expect(oauth(await post(DEVICE_AUTH, { client_id: w.clients.console.id, scope: ['read:avatars', 'read:avatars'] }))).toEqual(repeated('scope'));
      expect(oauth(await post(DEVICE_AUTH, { client_id: [w.clients.console.id, w.clients.console.id], scope: 'read:avatars' }))).toEqual(repeated('client_id'));
    });

    it('29. duplicate parameters are rejected at the authorization endpoint: an error page before the client is validated, an error redirect after', async () => {
      const b = new InjectBrowser(w.t.app);
      const params = {
        response_type: 'code', client_id: web.id, redirect_uri: REDIRECT, scope: 'read:avatars', state: 's', code_challenge: pkce().challenge, code_challenge_method: 'S256',
        nonce: 'n', prompt: 'login', max_age: '60', login_hint: 'alice', response_mode: 'query', audience: 'https://api.avatars.example/',
      };
      const withRepeat = (name: keyof typeof params) => {
        const p = new URLSearchParams(params);
        p.append(name, params[name]);
        return `${AUTH}?${p}`;
      };
      for (const name of ['client_id', 'redirect_uri'] as const) {
        const res = await b.get(withRepeat(name));
        expect({ name, status: res.statusCode, location: res.headers.location, alert: /role="alert">([^<]*)</.exec(res.body)?.[1] }).toEqual({
          name, status: 400, location: undefined, alert: `parameter ${name} must not be repeated`,
        });
      }
      for (const name of ['response_type', 'scope', 'code_challenge', 'code_challenge_method', 'nonce', 'prompt', 'max_age', 'login_hint', 'response_mode', 'audience'] as const) {
        expect({ name, ...redirectView(await b.get(withRepeat(name))) }).toEqual({
          name, status: 302, target: REDIRECT, fragment: {},
          query: { error: 'invalid_request', error_description: `parameter ${name} must not be repeated`, state: 's', iss: ISSUER },
        });
      }
      // The same for an authorization request POSTed as a form (OIDC Core §3.1.2.1).
      const posted = await post(AUTH, { ...params, scope: [params.scope, 'read:avatars'] });
      expect(redirectView(posted)).toEqual({
        status: 302, target: REDIRECT, fragment: {},
        query: { error: 'invalid_request', error_description: 'parameter scope must not be repeated', state: 's', iss: ISSUER },
      });
      // A repeated state cannot be echoed: the error goes without it.
      expect(redirectView(await b.get(withRepeat('state')))).toEqual({
        status: 302, target: REDIRECT, fragment: {}, query: { error: 'invalid_request', error_description: 'parameter state must not be repeated', iss: ISSUER },
      });
    });
  });
});
