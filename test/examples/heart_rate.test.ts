/**
 * The heart-rate example end to end: latest reading over HTTP, and the real-time WebSocket
 * authenticated the ways a browser can (`?access_token=`, the `access_token` subprotocol) and
 * by header; a bad token is refused before the upgrade, and an open stream is closed when its
 * token expires.
 */
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { provisionedTessera, seen, startExample, tokenFor, type ExampleWorld, type RunningExample } from './support.js';

const REALM = 'Bearer realm="https://dev.pulsoid.net/"';
const READ = 'data:heart_rate:read';
const WRITE = 'data:heart_rate:write';

type Connected = { ws: WebSocket; protocol: string; messages: string[]; next(): Promise<string>; closed: Promise<{ code: number; reason: string }> };
type Refused = { refused: { status: number; challenge: string | undefined; body: unknown } };

/** Opens a WebSocket; resolves once it is open (with its messages queued) or refused with an HTTP answer. */
function connect(url: string, options: { protocols?: string[]; headers?: Record<string, string> } = {}): Promise<Connected | Refused> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers });
    const messages: string[] = [];
    const waiting: ((m: string) => void)[] = [];
    ws.on('message', (data) => {
      const m = data.toString();
      const w = waiting.shift();
      if (w) w(m);
      else messages.push(m);
    });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ refused: { status: res.statusCode!, challenge: res.headers['www-authenticate'], body: JSON.parse(body) } }));
    });
    ws.on('error', reject);
    ws.on('open', () =>
      resolve({
        ws, protocol: ws.protocol, messages, closed,
        next: () => (messages.length ? Promise.resolve(messages.shift()!) : new Promise((r) => waiting.push(r))),
      }),
    );
  });
}

describe('examples/heart-rate-api', () => {
  let world: ExampleWorld;
  let api: RunningExample;
  let ws: string;

  beforeAll(async () => {
    world = await provisionedTessera();
    try {
      // No stand-in sensor: readings come only from the tests' POSTs, so every message is known.
      api = await startExample('heart-rate-api/server.mjs', world, world.ports.heartRate, { HEART_RATE_SIMULATE: '0' });
    } catch (err) {
      await world.close();
      throw err;
    }
    ws = `ws://127.0.0.1:${world.ports.heartRate}/api/v1/data/real_time`;
  }, 120_000);
  afterAll(async () => {
    await api?.stop();
    await world?.close();
  });

  /** A password-grant token of alice, as the recorder client gets one. */
  const userToken = async (scope: string) =>
    (await tokenFor(world, world.config.heart_rate.clients.recorder, { grant_type: 'password', username: 'alice', password: world.config.user.password, scope })).access_token as string;
  const record = (token: string, heartRate: number, measuredAt: number) =>
    fetch(`${api.url}/api/v1/data`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ measured_at: measuredAt, data: { heart_rate: heartRate } }),
    });
  const latest = (token: string | undefined, query = '') =>
    fetch(`${api.url}/api/v1/data/heart_rate/latest${query}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('serves the latest reading over HTTP once there is one (412 before), as JSON or plain text', async () => {
    const token = await userToken(`${READ} ${WRITE}`);
    expect(await seen(await latest(token))).toEqual({ status: 412, challenge: null, body: { error: 'no_data', error_description: 'the user has no heart rate data yet' } });
    expect(await seen(await record(token, 72, 1767225600000))).toEqual({ status: 200, challenge: null, body: { measured_at: 1767225600000, data: { heart_rate: 72 } } });
    expect(await seen(await latest(token))).toEqual({ status: 200, challenge: null, body: { measured_at: 1767225600000, data: { heart_rate: 72 } } });
    const text = await latest(token, '?response_mode=text_plain_only_heart_rate');
    expect({ status: text.status, type: text.headers.get('content-type'), body: await text.text() }).toEqual({ status: 200, type: 'text/plain; charset=UTF-8', body: '72' });
  });

  it('refuses HTTP calls without a token or without the scope', async () => {
    expect(await seen(await latest(undefined))).toEqual({ status: 401, challenge: REALM, body: { error: 'invalid_token', error_description: 'an access token is required' } });
    const readOnly = await userToken(READ);
    const description = `the access token lacks scope ${WRITE}`;
    expect(await seen(await record(readOnly, 80, 1767225601000))).toEqual({
      status: 403, challenge: `${REALM}, error="insufficient_scope", error_description="${description}", scope="${WRITE}"`, body: { error: 'insufficient_scope', error_description: description },
    });
  });

  it('streams readings to a WebSocket authenticated with ?access_token= (Pulsoid style)', async () => {
    const writer = await userToken(WRITE);
    const c = (await connect(`${ws}?access_token=${await userToken(READ)}`)) as Connected;
    expect(c.protocol).toBe('');
    await record(writer, 90, 1767225602000);
    expect(JSON.parse(await c.next())).toEqual({ measured_at: 1767225602000, data: { heart_rate: 90 } });
    c.ws.close();
    expect(await c.closed).toEqual({ code: 1005, reason: '' });
  });

  it('takes the token as a subprotocol, answering "access_token" and never the token', async () => {
    const writer = await userToken(WRITE);
    const c = (await connect(`${ws}?response_mode=text_plain_only_heart_rate`, { protocols: ['access_token', await userToken(READ)] })) as Connected;
    expect(c.protocol).toBe('access_token');
    await record(writer, 91, 1767225603000);
    expect(await c.next()).toBe('91');
    c.ws.close();
  });

  it('takes the token in the Authorization header from clients that can set one', async () => {
    const c = await connect(ws, { headers: { authorization: `Bearer ${await userToken(READ)}` } });
    expect('ws' in c && c.protocol).toBe('');
    if ('ws' in c) c.ws.close();
  });

  it('refuses an invalid token, no token, or a missing scope before accepting the upgrade', async () => {
    const description = 'the access token was signed by an unknown key';
    const [h, p] = (await userToken(READ)).split('.');
    const forgedHeader = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h, 'base64url').toString()), kid: 'unknown-kid' })).toString('base64url');
    expect(await connect(`${ws}?access_token=${forgedHeader}.${p}.AAAA`)).toEqual({
      refused: { status: 401, challenge: `${REALM}, error="invalid_token", error_description="${description}"`, body: { error: 'invalid_token', error_description: description } },
    });
    expect(await connect(ws)).toEqual({ refused: { status: 401, challenge: REALM, body: { error: 'invalid_token', error_description: 'an access token is required' } } });
    const writeOnly = `the access token lacks scope ${READ}`;
    expect(await connect(`${ws}?access_token=${await userToken(WRITE)}`)).toEqual({
      refused: { status: 403, challenge: `${REALM}, error="insufficient_scope", error_description="${writeOnly}", scope="${READ}"`, body: { error: 'insufficient_scope', error_description: writeOnly } },
    });
    const twice = 'the access token was given in more than one way';
    const token = await userToken(READ);
    expect(await connect(`${ws}?access_token=${token}`, { protocols: ['access_token', token] })).toEqual({
      refused: { status: 400, challenge: `${REALM}, error="invalid_request", error_description="${twice}"`, body: { error: 'invalid_request', error_description: twice } },
    });
  });

  it('closes the stream with 4401 when the access token expires', async () => {
    // A client whose access tokens live 3 seconds.
    const short = await world.server.cli('client', 'create', '--tenant', 'examples', '--name', 'Short-lived', '--grant-types', 'password', '--scopes', READ, '--access-token-ttl', '3');
    const { access_token: token } = await tokenFor(world, short, { grant_type: 'password', username: 'alice', password: world.config.user.password, scope: READ });
    const exp = decodeJwt(token).exp!;
    const c = (await connect(`${ws}?access_token=${token}`)) as Connected;
    expect('ws' in c).toBe(true);
    expect(await c.closed).toEqual({ code: 4401, reason: 'access token expired' });
    // Not before the token's exp (one clock: the test and the API run on this machine).
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000 - 50);
  }, 30_000);
});
