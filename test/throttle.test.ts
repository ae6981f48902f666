/**
 * Sign-in throttling (src/http/throttle.ts): growing delays per account and per address,
 * bounded and forgotten after a quiet window. Pure logic on a fake clock, in seconds.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryThrottleStore, SignInThrottle, throttleAccountKey, throttleIpKey, type ThrottleEntry } from '../src/http/throttle.js';

const alice = { tenant: 'default', username: 'alice' };
const IP = '203.0.113.7';
const T0 = 1_767_225_600; // 2026-01-01T00:00:00Z

let now: number;
let store: MemoryThrottleStore;
let throttle: SignInThrottle;

beforeEach(() => {
  now = T0;
  store = new MemoryThrottleStore();
  throttle = new SignInThrottle({ store });
});

/** One sign-in attempt as the login endpoint makes it: check, then report the outcome. */
async function attempt(account = alice, ip = IP, outcome: 'fail' | 'succeed' = 'fail') {
  const decision = await throttle.check(account, ip, now);
  if (decision.allowed) await throttle[outcome](account, ip, now);
  return decision;
}

/** Fails `n` times, each as soon as the throttle allows it; returns the time taken. */
async function failAsSoonAsAllowed(n: number, account = alice, ip = IP): Promise<number> {
  const start = now;
  for (let i = 0; i < n; i++) {
    const d = await attempt(account, ip);
    if (!d.allowed) {
      now += d.retryAfter;
      i--;
    }
  }
  return now - start;
}

describe('SignInThrottle per account', () => {
  it('lets the first 5 failures through at once, then makes the next attempt wait 1 s', async () => {
    for (let i = 0; i < 5; i++) expect(await attempt()).toEqual({ allowed: true });
    expect(await throttle.check(alice, IP, now)).toEqual({ allowed: false, retryAfter: 1 });
    now += 0.999;
    expect(await throttle.check(alice, IP, now)).toEqual({ allowed: false, retryAfter: 1 });
    now += 0.001;
    expect(await throttle.check(alice, IP, now)).toEqual({ allowed: true });
  });

  it('doubles the wait with each further failure: 2^(n-5) s after the last one', async () => {
    await failAsSoonAsAllowed(5);
    const waits: number[] = [];
    for (let n = 5; n < 12; n++) {
      const d = await throttle.check(alice, IP, now);
      expect(d.allowed).toBe(false);
      waits.push((d as { retryAfter: number }).retryAfter);
      now += (d as { retryAfter: number }).retryAfter;
      expect(await attempt()).toEqual({ allowed: true });
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 64]);
  });

  it('counts the wait from the last failure and rounds the rest up to whole seconds', async () => {
    await failAsSoonAsAllowed(8); // 8 failures: the next attempt waits 2^3 = 8 s
    now += 3.2;
    expect(await throttle.check(alice, IP, now)).toEqual({ allowed: false, retryAfter: 5 });
  });

  it('caps the wait at 5 minutes however many failures there were', async () => {
    await failAsSoonAsAllowed(14); // 2^9 = 512 s would be next
    expect(await throttle.check(alice, IP, now)).toEqual({ allowed: false, retryAfter: 300 });
    now += 300;
    expect(await attempt()).toEqual({ allowed: true });
    expect(await throttle.check(alice, IP, now)).toEqual({ allowed: false, retryAfter: 300 });
  });

  it('forgets the failures 15 minutes after the last one, with the full allowance again', async () => {
    await failAsSoonAsAllowed(10);
    now += 899; // still within the window: the count holds
    expect(await attempt()).toEqual({ allowed: true });
    expect(await throttle.check(alice, IP, now)).toEqual({ allowed: false, retryAfter: 64 });
    now += 900;
    for (let i = 0; i < 5; i++) expect(await attempt()).toEqual({ allowed: true });
    expect(await throttle.check(alice, IP, now)).toEqual({ allowed: false, retryAfter: 1 });
  });

  it('keeps the window open while failures go on: the count does not reset in mid-attack', async () => {
    await failAsSoonAsAllowed(5);
    for (let i = 0; i < 4; i++) {
      now += 600; // less than the window each time
      expect(await attempt()).toEqual({ allowed: true });
    }
    expect(await throttle.check(alice, IP, now)).toEqual({ allowed: false, retryAfter: 16 }); // 9 failures
  });

  it('clears the account on success, but not the address', async () => {
    await failAsSoonAsAllowed(16, { tenant: 'default', username: 'bob' });
    await failAsSoonAsAllowed(4);
    expect(await attempt(alice, IP, 'succeed')).toEqual({ allowed: false, retryAfter: 1 }); // the address has 20 failures
    now += 1;
    expect(await attempt(alice, IP, 'succeed')).toEqual({ allowed: true });
    // alice's 4 failures are gone: from another address she has 5 free attempts again…
    for (let i = 0; i < 5; i++) expect(await attempt(alice, '198.51.100.9')).toEqual({ allowed: true });
    expect(await throttle.check(alice, '198.51.100.9', now)).toEqual({ allowed: false, retryAfter: 1 });
    // …while the address keeps its 20.
    expect(await throttle.check({ tenant: 'default', username: 'carol' }, IP, now)).toEqual({ allowed: false, retryAfter: 1 });
  });

  it('treats a differently cased or padded username as the same account, and tenants apart', async () => {
    for (const username of ['alice', 'Alice', 'ALICE', ' alice ', 'ａｌｉｃｅ']) {
      expect(await attempt({ tenant: 'default', username })).toEqual({ allowed: true });
    }
    expect(await throttle.check({ tenant: 'default', username: 'aLiCe' }, IP, now)).toEqual({ allowed: false, retryAfter: 1 });
    expect(await throttle.check({ tenant: 'acme', username: 'alice' }, IP, now)).toEqual({ allowed: true });
    expect(throttleAccountKey({ tenant: 'a:b', username: 'c' })).not.toBe(throttleAccountKey({ tenant: 'a', username: 'b:c' }));
  });

  it('lets through only the free attempts of a burst of parallel guesses', async () => {
    const decisions = await Promise.all(Array.from({ length: 50 }, () => throttle.check(alice, IP, now)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(5);
    expect(decisions.filter((d) => !d.allowed)).toEqual(Array(45).fill({ allowed: false, retryAfter: 1 }));
  });

  it('lets one attempt of a burst through when the wait is over, not the whole burst', async () => {
    await failAsSoonAsAllowed(20);
    now += 300;
    const decisions = await Promise.all(Array.from({ length: 20 }, () => throttle.check(alice, IP, now)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(1);
  });

  it('counts failures from one address only against that address: the real user elsewhere signs in at once', async () => {
    await failAsSoonAsAllowed(30);
    expect((await throttle.check(alice, IP, now)).allowed).toBe(false);
    expect(await attempt(alice, '198.51.100.1', 'succeed')).toEqual({ allowed: true });
  });

  it('counts failures spread over addresses per account (100 free), sparing addresses the account signed in from', async () => {
    expect(await attempt(alice, '198.51.100.1', 'succeed')).toEqual({ allowed: true });
    const burst = await Promise.all(Array.from({ length: 150 }, (_, i) => throttle.check(alice, `10.0.${i}.1`, now)));
    expect(burst.filter((d) => d.allowed)).toHaveLength(100);
    for (let i = 0; i < 150; i++) if (burst[i].allowed) await throttle.fail(alice, `10.0.${i}.1`, now);
    expect(await throttle.check(alice, '10.1.0.1', now)).toEqual({ allowed: false, retryAfter: 1 });
    expect(await attempt(alice, '198.51.100.1', 'succeed')).toEqual({ allowed: true });
    // Success clears the account-wide count: the next new address is free again.
    expect(await attempt(alice, '10.1.0.1')).toEqual({ allowed: true });
  });

  it('does not prolong the wait for attempts made while waiting', async () => {
    await failAsSoonAsAllowed(7); // next waits 4 s
    for (let i = 0; i < 3; i++) {
      now += 1;
      expect(await attempt()).toEqual({ allowed: false, retryAfter: 3 - i });
    }
    now += 1;
    expect(await attempt()).toEqual({ allowed: true });
  });

  it('counts an attempt whose outcome never came as a failure until the window passes', async () => {
    for (let i = 0; i < 5; i++) expect(await throttle.check(alice, IP, now)).toEqual({ allowed: true });
    expect(await throttle.check(alice, IP, now)).toEqual({ allowed: false, retryAfter: 1 });
    now += 900;
    expect(await throttle.check(alice, IP, now)).toEqual({ allowed: true });
  });
});

describe('SignInThrottle per address', () => {
  it('lets 20 failures from one address through, across accounts, then waits 1 s, 2 s, …', async () => {
    for (let i = 0; i < 20; i++) expect(await attempt({ tenant: 'default', username: `user${i}` })).toEqual({ allowed: true });
    const fresh = { tenant: 'default', username: 'nobody-yet' };
    expect(await throttle.check(fresh, IP, now)).toEqual({ allowed: false, retryAfter: 1 });
    now += 1;
    expect(await attempt(fresh)).toEqual({ allowed: true });
    expect(await throttle.check(fresh, IP, now)).toEqual({ allowed: false, retryAfter: 2 });
    // Other addresses are not affected, and neither is the account from elsewhere.
    expect(await throttle.check(fresh, '198.51.100.1', now)).toEqual({ allowed: true });
  });

  it('does not charge an account for attempts refused because of the address', async () => {
    await failAsSoonAsAllowed(20, { tenant: 'default', username: 'bob' });
    for (let i = 0; i < 50; i++) expect((await attempt(alice)).allowed).toBe(false);
    for (let i = 0; i < 5; i++) expect(await attempt(alice, '198.51.100.1')).toEqual({ allowed: true });
  });

  it('lets only the free attempts of a parallel burst across accounts from one address through', async () => {
    for (let i = 0; i < 18; i++) await attempt({ tenant: 'default', username: `user${i}` });
    const accounts = Array.from({ length: 30 }, (_, i) => ({ tenant: 'default', username: `burst${i}` }));
    const decisions = await Promise.all(accounts.map((a) => throttle.check(a, IP, now)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(2);
    // The refused accounts were not charged: each has its 5 free attempts elsewhere.
    const refused = accounts.filter((_, i) => !decisions[i].allowed);
    expect(refused).toHaveLength(28);
    await store.update(throttleIpKey(IP), now, (e) => (expect(e).toMatchObject({ failures: 18, pending: 2 }), e));
    for (const a of refused) await store.update(throttleAccountKey(a), now, (e) => (expect(e).toBeUndefined(), e));
    for (const [n, a] of refused.entries()) for (let i = 0; i < 5; i++) expect(await attempt(a, `198.51.100.${n}`)).toEqual({ allowed: true });
  });

  it('counts IPv6 per /64 and IPv4-mapped addresses as IPv4', async () => {
    expect(throttleIpKey('2001:db8:1:2:aaaa::1')).toBe(throttleIpKey('2001:0db8:0001:0002:ffff:1:2:3'));
    expect(throttleIpKey('2001:db8::1')).toBe('i:2001:db8:0:0::/64');
    expect(throttleIpKey('2001:db8:1:3::1')).not.toBe(throttleIpKey('2001:db8:1:2::1'));
    expect(throttleIpKey('fe80::1%eth0')).toBe('i:fe80:0:0:0::/64');
    expect(throttleIpKey('::ffff:203.0.113.7')).toBe(throttleIpKey('203.0.113.7'));
    expect(throttleIpKey('64:ff9b::203.0.113.7')).toBe('i:64:ff9b:0:0::/64');
    for (let i = 0; i < 20; i++) expect(await attempt({ tenant: 't', username: `u${i}` }, `2001:db8:1:2::${i.toString(16)}`)).toEqual({ allowed: true });
    expect(await throttle.check({ tenant: 't', username: 'v' }, '2001:db8:1:2:ffff::1', now)).toEqual({ allowed: false, retryAfter: 1 });
  });
});

describe('MemoryThrottleStore', () => {
  const entry = (last: number): ThrottleEntry => ({ failures: 1, pending: 0, last, expires: last + 900 });
  const read = async (s: MemoryThrottleStore, key: string, at: number) => {
    let seen: ThrottleEntry | undefined;
    await s.update(key, at, (e) => (seen = e));
    return seen;
  };

  it('prunes entries older than the window', async () => {
    // Each failure counts on three keys: the account from the address, the account, the address.
    for (let i = 0; i < 10; i++) await throttle.fail({ tenant: 'default', username: `user${i}` }, `192.0.2.${i}`, now);
    expect(store.size).toBe(30);
    now += 899;
    await throttle.fail(alice, IP, now);
    expect(store.size).toBe(33);
    now += 1;
    await throttle.check(alice, IP, now);
    expect(store.size).toBe(3);
    now += 900;
    await throttle.check(alice, IP, now);
    expect(store.size).toBe(3); // the check itself reserved a pending attempt on all three keys
    expect(await read(store, throttleAccountKey(alice), now)).toEqual({ failures: 0, pending: 1, last: now, expires: now + 900 });
  });

  it('keeps at most maxEntries, evicting the one closest to expiry', async () => {
    const small = new MemoryThrottleStore(3);
    await small.update('a', T0, () => entry(T0));
    await small.update('b', T0, () => entry(T0 + 1));
    await small.update('c', T0, () => entry(T0 + 2));
    await small.update('a', T0, () => entry(T0 + 3)); // a moves to the back
    await small.update('b', T0, (e) => ({ ...e!, failures: 2 })); // same expiry: b keeps its place
    await small.update('d', T0, () => entry(T0 + 4));
    expect(small.size).toBe(3);
    expect(await read(small, 'b', T0)).toBeUndefined();
    expect(await read(small, 'c', T0)).toEqual(entry(T0 + 2));
    expect(await read(small, 'a', T0)).toEqual(entry(T0 + 3));
    expect(await read(small, 'd', T0)).toEqual(entry(T0 + 4));
  });

  it('holds 100k entries by default, and the throttle still works past the cap', async () => {
    const big = new MemoryThrottleStore();
    const t = new SignInThrottle({ store: big });
    for (let i = 0; i < 60_000; i++) await t.fail({ tenant: 'd', username: `u${i}` }, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, T0);
    expect(big.size).toBe(100_000);
    for (let i = 0; i < 5; i++) await t.fail(alice, IP, T0);
    expect(await t.check(alice, IP, T0)).toEqual({ allowed: false, retryAfter: 1 });
  });
});
