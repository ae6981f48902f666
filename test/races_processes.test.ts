/**
 * Races across processes (issue 11, DESIGN.md §2): 100 concurrent redemptions of one
 * single-use artifact — an authorization code, a refresh token (no grace window), an approved
 * device code, a PAR request_uri — split 50/50 over two `tessera start` processes on one
 * PostgreSQL database. Each request is built first and all are fired at once; exactly one
 * succeeds, every other gets the artifact's "already used" error, and the store holds one
 * grant with one set of tokens. On PostgreSQL, and on SQLite with both processes on one file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../src/storage/database.js';
import { BACKENDS } from './helpers.js';
import {
  AUTH, clientPost, DEVICE_AUTH, DEVICE_GRANT, DEVICE_PAGE, INTROSPECT, type Node, PAR, PASSWORD, startTwoNodes, TOKEN, type TwoNodes, UserAgent,
} from './support/two_nodes.js';

const API = 'https://api.avatars.example/';
const REDIRECT = 'https://app.example/cb';
const SCOPE = 'offline_access read:avatars';
const RACERS = 100;
const OPAQUE = /^[0-9a-f]{12}[A-Za-z0-9_-]{43}$/;
const TOKENS = { access_token: expect.stringMatching(OPAQUE), token_type: 'Bearer', 'not-before-policy': 0, expires_in: 3600, refresh_token: expect.any(String), scope: SCOPE };
const invalidGrant = (description: string) => ({ status: 400, body: { error: 'invalid_grant', error_description: description } });

interface Client {
  client_id: string;
  client_secret: string;
}

interface Answer {
  status: number;
  location?: string | null;
  body: unknown;
}

/**
 * Fires the requests at once (every fetch starts in one synchronous loop, before any answer can
 * arrive); each answer read whole: status, Location, and the JSON body or the page's error message.
 */
async function race(requests: (() => Promise<Response>)[]): Promise<Answer[]> {
  return Promise.all(
    requests.map(async (send) => {
      const res = await send();
      const text = await res.text();
      if (res.headers.get('content-type')?.startsWith('application/json')) return { status: res.status, body: JSON.parse(text) };
      return { status: res.status, location: res.headers.get('location'), body: /<p class="error" role="alert">([^<]*)<\/p>/.exec(text)?.[1] ?? text.slice(0, 200) };
    }),
  );
}

/** 50 requests for each node, interleaved: A, B, A, B… */
const split = (make: (node: Node) => () => Promise<Response>, a: Node, b: Node) => Array.from({ length: RACERS }, (_, i) => make(i % 2 ? b : a));

describe.each(BACKENDS)('100 concurrent redemptions over two processes on %s', (backend) => {
  let n: TwoNodes;
  let a: Node;
  let b: Node;
  let db: Db;
  const clients = {} as Record<'code' | 'refresh' | 'device' | 'par' | 'portal', Client>;

  beforeAll(async () => {
    n = await startTwoNodes(backend);
    ({ a, b } = n);
    try {
      await n.cli('api', 'create', '--tenant', 'default', '--audience', API, '--scope', 'read:avatars=Read your avatars');
      // Opaque access tokens: each one is a row, so the store shows what was issued.
      const common = ['--scopes', 'read:avatars', '--access-token-format', 'opaque', '--refresh-grace-seconds', '0'];
      const code = ['--redirect-uri', REDIRECT, '--grant-types', 'authorization_code,refresh_token', '--consent', 'skip', ...common];
      const made = await Promise.all([
        n.cli('client', 'create', '--tenant', 'default', '--name', 'Code App', ...code),
        n.cli('client', 'create', '--tenant', 'default', '--name', 'Refresh App', ...code),
        n.cli('client', 'create', '--tenant', 'default', '--name', 'TV', '--grant-types', `${DEVICE_GRANT},refresh_token`, ...common),
        n.cli('client', 'create', '--tenant', 'default', '--name', 'PAR App', ...code),
        n.cli('client', 'create', '--tenant', 'default', '--name', 'Portal', ...code),
        n.user('alice'),
      ]);
      [clients.code, clients.refresh, clients.device, clients.par, clients.portal] = made;
      // A third reader of the store, as an operator's query would be.
      db = openDatabase(n.database.url);
    } catch (err) {
      await n.stop();
      throw err;
    }
  }, 120_000);

  afterAll(async () => {
    await db?.close();
    await n?.stop();
  });

  /** Follows redirects on `node` (at most 10) until a page that is not one; signs in on a login page. */
  async function browse(ua: UserAgent, node: Node, first: Response): Promise<Response> {
    let res = first;
    for (let hops = 0; hops < 10; hops++) {
      if (res.status >= 300 && res.status < 400) {
        const location = res.headers.get('location')!;
        if (location.startsWith(REDIRECT)) return res;
        res = await ua.get(node, location);
      } else if (res.status === 200 && (await res.clone().text()).includes('name="password"')) {
        res = await ua.submit(node, res, { username: 'alice', password: PASSWORD });
      } else {
        return res;
      }
    }
    throw new Error('more than 10 redirects');
  }

  const pkce = () => {
    const verifier = randomBytes(32).toString('base64url');
    return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
  };
  const authQuery = (client: Client, challenge: string) =>
    new URLSearchParams({ response_type: 'code', client_id: client.client_id, redirect_uri: REDIRECT, scope: SCOPE, state: 'st', code_challenge: challenge, code_challenge_method: 'S256' });

  /** A fresh code for `client`: the request on A, the sign-in on B. */
  async function codeFor(client: Client, ua = new UserAgent()) {
    const { verifier, challenge } = pkce();
    const res = await browse(ua, b, await ua.get(a, `${AUTH}?${authQuery(client, challenge)}`));
    const location = new URL(res.headers.get('location')!);
    expect(Object.fromEntries(location.searchParams)).toEqual({ code: expect.any(String), state: 'st', iss: n.issuer, session_state: expect.any(String) });
    return { code: location.searchParams.get('code')!, verifier };
  }

  const redeem = (node: Node, client: Client, code: string, verifier: string) =>
    clientPost(node, TOKEN, client, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier });

  /** What the store holds for a client: its grants and, per grant, the tokens issued in it. */
  async function storeOf(client: Client) {
    const k = db.kysely;
    const count = sql<number>`cast(count(*) as integer)`.as('n');
    const grants = await k.selectFrom('grants').select(['id', 'revoked_at']).where('client_id', '=', client.client_id).execute();
    const tokens = await k.selectFrom('access_tokens').select(['grant_id', count]).where('client_id', '=', client.client_id).groupBy('grant_id').execute();
    const refresh = await k.selectFrom('artifacts').select(['grant_id', count]).where('client_id', '=', client.client_id).where('kind', '=', 'refresh_token').groupBy('grant_id').execute();
    return {
      grants: grants.map((g) => ({ revoked: g.revoked_at !== null })),
      accessTokens: tokens.map((r) => Number(r.n)),
      refreshTokens: refresh.map((r) => Number(r.n)),
      oneGrant: new Set([...grants.map((g) => g.id), ...tokens.map((r) => r.grant_id), ...refresh.map((r) => r.grant_id)]).size === 1,
    };
  }

  const introspect = async (client: Client, token: string) => (await clientPost(a, INTROSPECT, client, { token })).json();

  it('redeems one authorization code exactly once; the 99 replays are refused and revoke what it issued (RFC 6749 §4.1.2)', async () => {
    const { code, verifier } = await codeFor(clients.code);
    const answers = await race(split((node) => () => redeem(node, clients.code, code, verifier), a, b));
    const winners = answers.filter((r) => r.status === 200);
    expect(winners).toEqual([{ status: 200, body: TOKENS }]);
    expect(answers.filter((r) => r.status !== 200)).toEqual(Array(RACERS - 1).fill(invalidGrant('authorization code was already used')));
    expect(await storeOf(clients.code)).toEqual({ grants: [{ revoked: true }], accessTokens: [1], refreshTokens: [1], oneGrant: true });
    // The winner's tokens may have been written after a replay ended the grant: dead all the same, as every check reads the grant.
    const won = winners[0].body as { access_token: string; refresh_token: string };
    expect(await introspect(clients.code, won.access_token)).toEqual({ active: false });
    expect(await (await clientPost(b, TOKEN, clients.code, { grant_type: 'refresh_token', refresh_token: won.refresh_token })).json()).toEqual(invalidGrant('refresh token was revoked').body);
  }, 60_000);

  it('rotates one refresh token exactly once without a grace window; the 99 replays are refused and end the grant (RFC 9700 §4.14.2)', async () => {
    const { code, verifier } = await codeFor(clients.refresh);
    const issued = await redeem(b, clients.refresh, code, verifier);
    expect(issued.status).toBe(200);
    const { refresh_token: refreshToken } = await issued.json();
    const answers = await race(split((node) => () => clientPost(node, TOKEN, clients.refresh, { grant_type: 'refresh_token', refresh_token: refreshToken }), a, b));
    const winners = answers.filter((r) => r.status === 200);
    expect(winners).toEqual([{ status: 200, body: TOKENS }]);
    // A replay that finds the grant already ended by another replay is told so; either way invalid_grant.
    const losers = answers.filter((r) => r.status !== 200);
    expect(losers).toEqual(losers.map((r) => ((r.body as { error_description: string }).error_description === 'refresh token was revoked' ? invalidGrant('refresh token was revoked') : invalidGrant('refresh token was already used'))));
    expect(losers.length).toBe(RACERS - 1);
    // The code's tokens and the one rotation's, in the one grant, which the replays ended: the winner's tokens are dead too.
    expect(await storeOf(clients.refresh)).toEqual({ grants: [{ revoked: true }], accessTokens: [2], refreshTokens: [2], oneGrant: true });
    const won = winners[0].body as { access_token: string; refresh_token: string };
    expect(await introspect(clients.refresh, won.access_token)).toEqual({ active: false });
    expect(await (await clientPost(b, TOKEN, clients.refresh, { grant_type: 'refresh_token', refresh_token: won.refresh_token })).json()).toEqual(invalidGrant('refresh token was revoked').body);
  }, 60_000);

  it('gives tokens for one approved device code exactly once (RFC 8628 §3.4); 99 polls are told it was used', async () => {
    const started = await clientPost(a, DEVICE_AUTH, clients.device, { scope: SCOPE });
    expect(started.status).toBe(200);
    const { device_code: deviceCode, user_code: userCode } = await started.json();
    // alice approves on B's device page, signing in there.
    const ua = new UserAgent();
    const entry = await browse(ua, b, await ua.get(b, DEVICE_PAGE));
    const consent = await ua.submit(b, entry, { user_code: userCode });
    const done = await ua.submit(b, consent, { decision: 'allow' });
    expect(done.status, await done.clone().text()).toBe(200);

    const answers = await race(split((node) => () => clientPost(node, TOKEN, clients.device, { grant_type: DEVICE_GRANT, device_code: deviceCode }), a, b));
    expect(answers.filter((r) => r.status === 200)).toEqual([{ status: 200, body: TOKENS }]);
    expect(answers.filter((r) => r.status !== 200)).toEqual(Array(RACERS - 1).fill(invalidGrant('device code was already used')));
    expect(await storeOf(clients.device)).toEqual({ grants: [{ revoked: false }], accessTokens: [1], refreshTokens: [1], oneGrant: true });
    // No replay of a device code ends its grant: the winner's tokens live.
    const won = answers.find((r) => r.status === 200)!.body as { access_token: string };
    expect(await introspect(clients.device, won.access_token)).toEqual(expect.objectContaining({ active: true, client_id: clients.device.client_id, scope: SCOPE }));
  }, 60_000);

  it('lets one use of a PAR request_uri through with a signed-in browser (RFC 9126 §4); 99 get the error page', async () => {
    // A session, from signing in for another client: the pushed request then needs no page.
    const ua = new UserAgent();
    await codeFor(clients.portal, ua);
    const { verifier, challenge } = pkce();
    const pushed = await clientPost(a, PAR, clients.par, Object.fromEntries(authQuery(clients.par, challenge)));
    expect(pushed.status).toBe(201);
    const { request_uri: requestUri } = await pushed.json();
    const url = `${AUTH}?${new URLSearchParams({ client_id: clients.par.client_id, request_uri: requestUri })}`;
    const cookie = ua.cookieHeader();
    const answers = await race(split((node) => () => fetch(node.url(url), { headers: cookie, redirect: 'manual', signal: AbortSignal.timeout(60_000) }), a, b));

    const winners = answers.filter((r) => r.status !== 400);
    expect(winners).toEqual([{ status: 302, location: expect.stringMatching(/^https:\/\/app\.example\/cb\?code=/), body: expect.anything() }]);
    expect(answers.filter((r) => r.status === 400)).toEqual(
      Array(RACERS - 1).fill({ status: 400, location: null, body: 'request_uri was already used; push the authorization request again' }),
    );
    // The one code it produced works once: one grant, one set of tokens.
    const code = new URL(winners[0].location!).searchParams.get('code')!;
    expect((await redeem(b, clients.par, code, verifier)).status).toBe(200);
    expect(await storeOf(clients.par)).toEqual({ grants: [{ revoked: false }], accessTokens: [1], refreshTokens: [1], oneGrant: true });
  }, 60_000);
});
