/**
 * SECURITY-CHECKLIST §G item 59 (and item 28 for personal tokens): the personal tokens a
 * user issues on the account page are capped in lifetime and scope — never beyond what the
 * user could consent to — and are opaque. Black-box through the account page, the validate
 * endpoint and an API's introspection, on every backend.
 */
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiWithSecret } from '../../src/manage/apis.js';
import { createClient } from '../../src/manage/clients.js';
import { updateTenant } from '../../src/manage/tenants.js';
import { createUser } from '../../src/manage/users.js';
import type { User } from '../../src/storage/types.js';
import { BACKENDS, basic, FakeClock, form, FORM_HEADERS, startTestApp, type TestApp } from '../helpers.js';
import { formOf, InjectBrowser, mainOf, PASSWORD, pathOf } from './support.js';

/** A deployment's public URL is https (DESIGN.md §1); the account page is a redirect URI of its own tenant. */
const PUBLIC = 'https://tessera.test';
const ISSUER = `${PUBLIC}/realms/default`;
const ACCOUNT = '/realms/default/account';
const VALIDATE = '/realms/default/protocol/openid-connect/validate';
const INTROSPECT = '/realms/default/protocol/openid-connect/token/introspect';
const API = 'https://api.avatars.example/';
const DAY = 86400;

const textOf = (html: string): string => mainOf(html).replace(/<style[^>]*>[^<]*<\/style>/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
const csrfOf = (html: string): string => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? '(no csrf)';
const newTokenOf = (html: string): string | undefined => /<textarea id="new-token"[^>]*>([^<]*)<\/textarea>/.exec(html)?.[1];
const listedTokens = (html: string): number => (html.match(/name="token_id"/g) ?? []).length;

describe.each(BACKENDS)('SECURITY-CHECKLIST G: personal tokens on %s', (backend) => {
  const clock = new FakeClock();
  let t: TestApp;
  let alice: User;
  let api: { id: string; secret: string };
  let studio: { id: string; secret: string };

  beforeAll(async () => {
    t = await startTestApp(backend, { clock, config: { publicUrl: PUBLIC } });
    const made = await createApiWithSecret(t.deps, 'default', { audience: API, name: 'Avatars', scopes: ['read:avatars=Read your avatars', 'write:avatars=Change your avatars'] }, DAY);
    api = { id: made.api.id, secret: made.secret };
    // A client with scopes of its own (tenant-level, and one no API defines): a personal token gets none of them.
    const c = await createClient(t.deps, 'default', { name: 'Avatar Studio', redirectUris: ['https://app.example/cb'], scopes: ['read:avatars', 'tenant:level'] }, DAY);
    studio = { id: c.client.clientId, secret: c.secret! };
    alice = await createUser(t.deps, 'default', { username: 'alice', password: PASSWORD });
  });
  afterAll(() => t?.close());

  /** Opens the account page in a fresh browser and signs in on the login page it leads to. */
  async function signIn(): Promise<{ b: InjectBrowser; page: LightMyRequestResponse }> {
    const b = new InjectBrowser(t.app);
    const start = await b.get(ACCOUNT);
    const login = await b.get(pathOf(start.headers.location as string));
    const lf = formOf(login.body);
    const back = await b.post(pathOf(lf.action), { ...lf.fields, username: 'alice', password: PASSWORD });
    expect(back.statusCode).toBe(303);
    expect((await b.get(pathOf(back.headers.location as string))).headers.location).toBe(`${ISSUER}/account`);
    const page = await b.get(ACCOUNT);
    expect(page.statusCode).toBe(200);
    return { b, page };
  }

  /** POSTs the create-token form (a tampered one if need be: `scope` may repeat, any value). */
  const createToken = (b: InjectBrowser, page: string, fields: [string, string][]) =>
    t.app.inject({
      method: 'POST', url: ACCOUNT, payload: new URLSearchParams([['csrf', csrfOf(page)], ['action', 'create_token'], ...fields]).toString(),
      headers: { ...FORM_HEADERS, cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
  const validate = (token: string) => t.app.inject({ method: 'GET', url: VALIDATE, headers: { authorization: `Bearer ${token}` } });
  const introspect = (token: string) =>
    t.app.inject({ method: 'POST', url: INTROSPECT, headers: { ...FORM_HEADERS, authorization: basic(api.id, api.secret) }, payload: form({ token }) });
  const now = () => Math.floor(clock.ms / 1000);
  const count = async (b: InjectBrowser) => listedTokens((await b.get(ACCOUNT)).body);

  it('59. personal tokens a user issues are capped in lifetime and scope (never beyond what the user could consent to), and are opaque', async () => {
    const { b, page } = await signIn();
    const before = await count(b);
    // Lifetime: at most 90 days; a tampered form asking for more (or nothing) is refused.
    for (const days of ['91', '3650', '0']) {
      const res = await createToken(b, page.body, [['name', 'Too long'], ['scope', 'read:avatars'], ['days', days]]);
      expect({ days, status: res.statusCode, token: newTokenOf(res.body) }).toEqual({ days, status: 400, token: undefined });
      expect(textOf(res.body)).toContain('The lifetime must be from 60 seconds to 90 days (7776000 seconds).');
    }
    // Scope: only what an API of the tenant defines — no OIDC or offline scope, no scope of a
    // client's own, nothing made up.
    for (const scope of ['openid', 'offline_access', 'tenant:level', 'admin']) {
      const res = await createToken(b, page.body, [['name', 'Too wide'], ['scope', 'read:avatars'], ['scope', scope], ['days', '30']]);
      expect({ scope, status: res.statusCode, token: newTokenOf(res.body) }).toEqual({ scope, status: 400, token: undefined });
      expect(textOf(res.body)).toContain(`Scope ${scope} is not defined by an API of tenant default: a personal token carries API scopes only.`);
    }
    const none = await createToken(b, page.body, [['name', 'Nothing'], ['days', '30']]);
    expect(textOf(none.body)).toContain('Choose at least one scope.');
    expect(await count(b)).toBe(before);

    // At the cap: issued, opaque (not a JWT: nothing to decode), for this user and the API.
    const res = await createToken(b, page.body, [['name', 'Longest'], ['scope', 'read:avatars'], ['days', '90']]);
    expect(res.statusCode).toBe(200);
    const value = newTokenOf(res.body)!;
    expect(value).toMatch(/^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/);
    expect((await validate(value)).json()).toEqual({ client_id: 'tessera.personal-tokens.default', sub: alice.id, scopes: ['read:avatars'], expires_in: 90 * DAY });
    expect(jsonOf(await introspect(value))).toEqual({
      status: 200,
      body: {
        active: true, scope: 'read:avatars', client_id: 'tessera.personal-tokens.default', sub: alice.id, aud: API, iat: now(), exp: now() + 90 * DAY,
        iss: ISSUER, token_type: 'Bearer',
      },
    });
    // It stops working when the 90 days are over.
    clock.advance(90 * DAY);
    expect((await validate(value)).statusCode).toBe(401);
    expect(jsonOf(await introspect(value))).toEqual({ status: 200, body: { active: false } });
  });

  it("59. a tenant's lower cap holds too", async () => {
    await updateTenant(t.deps, 'default', { personalTokenMaxDays: 7 });
    try {
      const { b, page } = await signIn();
      const long = await createToken(b, page.body, [['name', 'Eight days'], ['scope', 'read:avatars'], ['days', '8']]);
      expect({ status: long.statusCode, token: newTokenOf(long.body) }).toEqual({ status: 400, token: undefined });
      expect(textOf(long.body)).toContain('The lifetime must be from 60 seconds to 7 days (604800 seconds).');
      const ok = await createToken(b, page.body, [['name', 'Seven days'], ['scope', 'read:avatars'], ['days', '7']]);
      expect((await validate(newTokenOf(ok.body)!)).json()).toMatchObject({ expires_in: 7 * DAY });
    } finally {
      await updateTenant(t.deps, 'default', { personalTokenMaxDays: 90 });
    }
  });

  it('28. a personal token carries exactly the scopes chosen: a tampered form cannot add one, and the token cannot be widened afterwards', async () => {
    const { b, page } = await signIn();
    const res = await createToken(b, page.body, [['name', 'Reader'], ['scope', 'read:avatars'], ['days', '30']]);
    const value = newTokenOf(res.body)!;
    expect((await validate(value)).json()).toMatchObject({ scopes: ['read:avatars'] });
    expect((await introspect(value)).json()).toMatchObject({ active: true, scope: 'read:avatars' });
    // A scope with the right name under another spelling is still not one an API defines.
    for (const scope of ['READ:AVATARS', 'read:avatars write:avatars', 'read:avatars,write:avatars', ' write:avatars']) {
      const bad = await createToken(b, page.body, [['name', 'Sneaky'], ['scope', scope], ['days', '30']]);
      expect({ scope, status: bad.statusCode, token: newTokenOf(bad.body) }).toEqual({ scope, status: 400, token: undefined });
    }
    // A personal token is no refresh token: no client can trade it for a wider token.
    const asRefresh = await t.app.inject({
      method: 'POST', url: '/realms/default/protocol/openid-connect/token', headers: { ...FORM_HEADERS, authorization: basic(studio.id, studio.secret) },
      payload: form({ grant_type: 'refresh_token', refresh_token: value, scope: 'read:avatars write:avatars' }),
    });
    expect(jsonOf(asRefresh)).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: 'refresh token is invalid' } });
    expect((await validate(value)).json()).toMatchObject({ scopes: ['read:avatars'] });
  });
});

const jsonOf = (res: LightMyRequestResponse) => ({ status: res.statusCode, body: res.json() });
