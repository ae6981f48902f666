import { isIPv4, isIPv6 } from 'node:net';

/**
 * Sign-in throttling: growing delays after failed sign-ins, per account and per client IP.
 *
 * With n failures counted for a key, an attempt is free while n < threshold; after that it
 * must come at least min(2^(n − threshold), maxDelay) seconds after the key's last attempt.
 * Three keys count every failure:
 * - the account from one address (5 free, then 1 s, 2 s, 4 s … capped at 5 min): this is what
 *   slows a guessing loop against one account;
 * - the address, across accounts (20 free, same growth): one address spraying many accounts;
 * - the account from every address (100 free, same growth): guessing spread over many
 *   addresses. An address the account signed in from successfully (in the last 30 days) is
 *   exempt from this one, so a distributed attack cannot keep the real user out.
 * The real user is never locked out at will: a guessing loop from one address slows that
 * address only, a spread one spares the addresses the user is known at, and every wait is
 * bounded. A key's count is forgotten once `window` seconds (15 min) pass with no attempt
 * let through and no failure.
 *
 * An attempt let through by `check` counts as pending until `fail` or `succeed` reports its
 * outcome, and a pending attempt counts like a failure. Without that, a burst of parallel
 * guesses would all pass `check` before the first `fail` landed. An attempt whose outcome is
 * never reported counts as a failure until the window passes.
 *
 * The counts live in a ThrottleStore: in this process, or shared by every node (the database,
 * or Redis when REDIS_URL is set; http/throttle_stores.ts).
 */
/** The account a sign-in names. */
export interface SignInAccount {
  tenant: string;
  username: string;
}

export type ThrottleDecision = { allowed: true } | { allowed: false; retryAfter: number };

/** What a store keeps per key. Times are in seconds. */
export interface ThrottleEntry {
  failures: number;
  /** Attempts let through whose outcome is not known yet. */
  pending: number;
  /** The latest failure or let-through attempt. */
  last: number;
  /** When the entry is forgotten: `last` + window. */
  expires: number;
}

/**
 * Where the counts live: in this process, or shared by every node (storage/sql/throttle.ts, http/throttle_redis.ts).
 * `update` replaces a key's entry by `change(current)` atomically: no other update of the
 * key interleaves. An entry with `expires` ≤ now counts as absent; `change` returning
 * undefined removes the key, and returning `current` itself leaves it as it is. A shared
 * store may run `change` more than once (optimistic retry), so it must have no effect but
 * its return value.
 */
export interface ThrottleStore {
  update(key: string, now: number, change: (current: ThrottleEntry | undefined) => ThrottleEntry | undefined): Promise<void>;
}

/**
 * The in-process store. Bounded: keys are kept in order of `expires` (an update that moves
 * `expires` re-inserts its key at the end), so expired entries are pruned from the front, and
 * past `maxEntries` the one closest to expiry is evicted.
 */
export class MemoryThrottleStore implements ThrottleStore {
  private readonly entries = new Map<string, ThrottleEntry>();

  constructor(private readonly maxEntries = 100_000) {}

  get size(): number {
    return this.entries.size;
  }

  async update(key: string, now: number, change: (current: ThrottleEntry | undefined) => ThrottleEntry | undefined): Promise<void> {
    this.prune(now);
    const stored = this.entries.get(key);
    const next = change(stored && stored.expires > now ? stored : undefined);
    if (next === stored) return;
    if (!next) {
      this.entries.delete(key);
    } else if (stored && next.expires === stored.expires) {
      this.entries.set(key, next);
    } else {
      this.entries.delete(key);
      this.entries.set(key, next);
      if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    }
  }

  private prune(now: number): void {
    for (const [key, entry] of this.entries) {
      if (entry.expires > now) return;
      this.entries.delete(key);
    }
  }
}

export interface SignInThrottleOptions {
  store?: ThrottleStore;
  /** Failures per account from one client address that cost nothing (default 5). */
  accountThreshold?: number;
  /** Failures per client address that cost nothing (default 20). */
  ipThreshold?: number;
  /**
   * Failures per account from all addresses that cost nothing (default 100); addresses the
   * account signed in from are exempt. Set it to `accountThreshold` for a plain per-account
   * count (sign-up and reset mail, where no sign-in can be locked out).
   */
  accountTotalThreshold?: number;
  /** Seconds without a failure after which a key's count is forgotten (default 900). */
  windowSeconds?: number;
  /** The longest wait, in seconds (default 300). */
  maxDelaySeconds?: number;
  /** How long an address stays known for an account after a successful sign-in (default 30 days). */
  knownAddressSeconds?: number;
}

export class SignInThrottle {
  private readonly store: ThrottleStore;
  private readonly accountThreshold: number;
  private readonly ipThreshold: number;
  private readonly totalThreshold: number;
  private readonly window: number;
  private readonly maxDelay: number;
  private readonly knownFor: number;

  constructor(options: SignInThrottleOptions = {}) {
    this.store = options.store ?? new MemoryThrottleStore();
    this.accountThreshold = options.accountThreshold ?? 5;
    this.ipThreshold = options.ipThreshold ?? 20;
    this.totalThreshold = options.accountTotalThreshold ?? 100;
    this.window = options.windowSeconds ?? 900;
    this.maxDelay = options.maxDelaySeconds ?? 300;
    this.knownFor = options.knownAddressSeconds ?? 30 * 86400;
  }

  /**
   * Whether a sign-in attempt may go ahead now; if it may, it is counted as pending until
   * `fail` or `succeed`. Call it before checking the password, and for unknown usernames too.
   */
  async check(account: SignInAccount, ip: string, now: number): Promise<ThrottleDecision> {
    const pairKey = throttlePairKey(account, ip);
    const addressKey = throttleIpKey(ip);
    const accountKey = throttleAccountKey(account);
    let pairWait = 0;
    let ipWait = 0;
    let totalWait = 0;
    let known: boolean | undefined;
    // A denied attempt changes nothing: hammering a throttled key (or, from a throttled
    // address, someone else's account) neither prolongs a wait nor keeps a count alive.
    await this.store.update(addressKey, now, (e) => {
      ipWait = this.wait(e, this.ipThreshold, now);
      return e;
    });
    if (ipWait === 0) {
      await this.store.update(accountKey, now, (e) => {
        totalWait = this.wait(e, this.totalThreshold, now);
        return e;
      });
      if (totalWait > 0 && (known = await this.isKnown(account, ip, now))) totalWait = 0;
    }
    await this.store.update(pairKey, now, (e) => {
      pairWait = this.wait(e, this.accountThreshold, now);
      return pairWait > 0 || ipWait > 0 || totalWait > 0 ? e : this.reserve(e, now);
    });
    if (pairWait > 0 || ipWait > 0 || totalWait > 0) return denied(Math.max(pairWait, ipWait, totalWait));
    // Reserved one key at a time; another attempt may take the last free one in between.
    await this.store.update(addressKey, now, (e) => {
      ipWait = this.wait(e, this.ipThreshold, now);
      return ipWait > 0 ? e : this.reserve(e, now);
    });
    if (ipWait > 0) {
      await this.store.update(pairKey, now, (e) => release(e));
      return denied(ipWait);
    }
    await this.store.update(accountKey, now, (e) => {
      // A known address is let through, yet counted, so the account-wide count stays whole. (One
      // whose account passed its limit since the first look is refused: a rare race, and brief.)
      totalWait = known ? 0 : this.wait(e, this.totalThreshold, now);
      return totalWait > 0 ? e : this.reserve(e, now);
    });
    if (totalWait > 0) {
      await this.store.update(pairKey, now, (e) => release(e));
      await this.store.update(addressKey, now, (e) => release(e));
      return denied(totalWait);
    }
    return { allowed: true };
  }

  /** Records a failed sign-in (wrong password, unknown user) against the account and the address. */
  async fail(account: SignInAccount, ip: string, now: number): Promise<void> {
    const record = (e: ThrottleEntry | undefined): ThrottleEntry => ({
      failures: (e?.failures ?? 0) + 1,
      pending: Math.max(0, (e?.pending ?? 0) - 1),
      last: now,
      expires: now + this.window,
    });
    await this.store.update(throttlePairKey(account, ip), now, record);
    await this.store.update(throttleAccountKey(account), now, record);
    await this.store.update(throttleIpKey(ip), now, record);
  }

  /**
   * Records a successful sign-in: the account starts afresh and the address becomes known
   * for it; the address keeps its failures against other accounts.
   */
  async succeed(account: SignInAccount, ip: string, now: number): Promise<void> {
    await this.store.update(throttlePairKey(account, ip), now, () => undefined);
    await this.store.update(throttleAccountKey(account), now, () => undefined);
    await this.store.update(throttleIpKey(ip), now, (e) => release(e));
    if (this.totalThreshold > this.accountThreshold) {
      await this.store.update(throttleKnownKey(account, ip), now, () => ({ failures: 0, pending: 0, last: now, expires: now + this.knownFor }));
    }
  }

  private async isKnown(account: SignInAccount, ip: string, now: number): Promise<boolean> {
    let known = false;
    await this.store.update(throttleKnownKey(account, ip), now, (e) => {
      known = e !== undefined;
      return e;
    });
    return known;
  }

  /** Seconds until the key's next attempt is due (0: now). */
  private wait(e: ThrottleEntry | undefined, threshold: number, now: number): number {
    const n = e ? e.failures + e.pending : 0;
    if (n < threshold) return 0;
    return Math.max(0, e!.last + Math.min(2 ** (n - threshold), this.maxDelay) - now);
  }

  private reserve(e: ThrottleEntry | undefined, now: number): ThrottleEntry {
    return { failures: e?.failures ?? 0, pending: (e?.pending ?? 0) + 1, last: now, expires: now + this.window };
  }
}

const denied = (wait: number): ThrottleDecision => ({ allowed: false, retryAfter: Math.max(1, Math.ceil(wait)) });

function release(e: ThrottleEntry | undefined): ThrottleEntry | undefined {
  if (!e) return undefined;
  if (e.failures === 0 && e.pending <= 1) return undefined;
  return { ...e, pending: Math.max(0, e.pending - 1) };
}

/**
 * One key per account whatever the spelling: usernames compare case-insensitively, so
 * "Alice" and "alice " must not get separate allowances.
 */
export function throttleAccountKey({ tenant, username }: SignInAccount): string {
  return `a:${tenant.length}:${tenant}:${username.normalize('NFKC').trim().toLowerCase()}`;
}

/** The account as tried from one address (the key that slows a guessing loop). */
export const throttlePairKey = (account: SignInAccount, ip: string): string => `p:${throttleAccountKey(account)}|${throttleIpKey(ip)}`;

/** An address the account signed in from: exempt from the account-wide count. */
export const throttleKnownKey = (account: SignInAccount, ip: string): string => `k:${throttleAccountKey(account)}|${throttleIpKey(ip)}`;

/**
 * One key per IPv4 address, and per /64 for IPv6: a single subscriber usually holds a whole
 * /64, so per-address counting would give them 2^64 allowances.
 */
export function throttleIpKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped && isIPv4(mapped[1])) return `i:${mapped[1]}`;
  if (isIPv4(ip)) return `i:${ip}`;
  const address = ip.split('%')[0];
  if (!isIPv6(address)) return `i:${ip}`;
  const [head, tail] = address.split('::');
  const groups = (s: string | undefined) => (s ? s.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const front = groups(head);
  const full = tail === undefined ? front : [...front, ...Array(8 - front.length - groups(tail).length).fill('0'), ...groups(tail)];
  return `i:${full.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
