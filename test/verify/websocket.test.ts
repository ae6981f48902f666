/**
 * The WebSocket helpers on their own: where an upgrade request's token is read from, which
 * subprotocol is answered, and when a socket is closed. (The heart-rate example's tests drive
 * them end to end over real sockets.)
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { closeWhenExpired, selectProtocol, upgradeToken, VerifyError } from '../../src/verify/index.js';

const refusal = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof VerifyError ? { error: err.error, description: err.description, missing: err.missing } : err;
  }
  return 'accepted';
};

describe('upgradeToken', () => {
  it('reads the token from the query, the subprotocol or the header', () => {
    expect(upgradeToken({ url: '/rt?access_token=abc.def', headers: {} })).toEqual({ token: 'abc.def', scheme: 'Bearer', via: 'query' });
    expect(upgradeToken({ url: '/rt', headers: { 'sec-websocket-protocol': 'access_token, abc.def' } })).toEqual({ token: 'abc.def', scheme: 'Bearer', via: 'protocol' });
    expect(upgradeToken({ url: '/rt', headers: { authorization: 'Bearer abc.def' } })).toEqual({ token: 'abc.def', scheme: 'Bearer', via: 'header' });
    // A proxy's Basic credentials are not an access token: the query still counts.
    expect(upgradeToken({ url: '/rt?access_token=abc', headers: { authorization: 'Basic dXNlcjpwdw==' } })).toEqual({ token: 'abc', scheme: 'Bearer', via: 'query' });
  });

  it('refuses no token, two ways at once, a repeated parameter, or a protocol without its token', () => {
    expect(refusal(() => upgradeToken({ url: '/rt', headers: {} }))).toEqual({ error: 'invalid_token', description: 'an access token is required', missing: true });
    expect(refusal(() => upgradeToken({ url: '/rt?access_token=a', headers: { authorization: 'Bearer b' } }))).toEqual({
      error: 'invalid_request', description: 'the access token was given in more than one way', missing: false,
    });
    expect(refusal(() => upgradeToken({ url: '/rt?access_token=a&access_token=b', headers: {} }))).toEqual({
      error: 'invalid_request', description: 'access_token was given more than once', missing: false,
    });
    expect(refusal(() => upgradeToken({ url: '/rt', headers: { 'sec-websocket-protocol': 'access_token' } }))).toEqual({
      error: 'invalid_request', description: 'the access_token subprotocol must be followed by the token', missing: false,
    });
    expect(refusal(() => upgradeToken({ url: '/rt?access_token=a%20b', headers: {} }))).toEqual({ error: 'invalid_request', description: 'the access token is malformed', missing: false });
    // Turned off, a place is not looked at.
    expect(refusal(() => upgradeToken({ url: '/rt?access_token=abc', headers: {} }, { query: false }))).toMatchObject({ error: 'invalid_token', missing: true });
  });
});

describe('selectProtocol', () => {
  it('answers access_token, or an application protocol the client offered, never the token', () => {
    expect(selectProtocol(new Set(['access_token', 'eyJ.secret.token']))).toBe('access_token');
    expect(selectProtocol(['heart-rate.v1', 'access_token', 'eyJ.secret.token'], ['heart-rate.v1'])).toBe('heart-rate.v1');
    expect(selectProtocol(['chat'])).toBe(false);
  });
});

describe('closeWhenExpired', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  class FakeSocket extends EventEmitter {
    closed: [number | undefined, string | undefined][] = [];
    close(code?: number, reason?: string) {
      this.closed.push([code, reason]);
      this.emit('close');
    }
  }

  it('closes with 4401 at exp, even 90 days away (past setTimeout’s longest delay)', () => {
    vi.useFakeTimers({ now: 1_000_000_000_000 });
    const ws = new FakeSocket();
    const exp = 1_000_000_000 + 90 * 86400;
    closeWhenExpired(ws, { expiresAt: exp });
    vi.advanceTimersByTime(90 * 86400 * 1000 - 1);
    expect(ws.closed).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(ws.closed).toEqual([[4401, 'access token expired']]);
  });

  it('closes at once a socket whose token has already expired, and stops when the socket closes first', () => {
    vi.useFakeTimers({ now: 1_000_000_000_000 });
    const expired = new FakeSocket();
    closeWhenExpired(expired, { expiresAt: 999_999_999 });
    expect(expired.closed).toEqual([[4401, 'access token expired']]);

    const early = new FakeSocket();
    closeWhenExpired(early, { expiresAt: 1_000_000_060 });
    early.emit('close');
    vi.advanceTimersByTime(120_000);
    expect(early.closed).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });
});
