import type { Clock } from '../clock.js';
import { buildKeyRing, type KeyRing } from '../crypto/key_ring.js';
import type { Storage } from './stores.js';
import type { Api, Client, SigningKeyRecord, Tenant } from './types.js';

/** A tenant's APIs, indexed the ways the token endpoint asks. */
export interface ApiIndex {
  list: Api[];
  byAudience: Map<string, Api>;
  /** Scope name → the API that defines it (scope names are unique within a tenant). */
  scopeOwner: Map<string, Api>;
}

export interface CacheOptions {
  /** How long a value is served before the config version is checked again. */
  checkMs: number;
  /** How long a superseded key stays published (the longest token lifetime). */
  keyRetentionSeconds: number;
}

/**
 * Per-node cache of tenants, clients, APIs and keys: the token endpoint's hot path reads no
 * rows. Every change to those tables bumps a version in the same transaction; the cache
 * checks it at most every `checkMs` and drops everything when it moved, so a change made
 * by the CLI or another node holds here within that time (DESIGN.md §2). Misses are not
 * cached: a tenant created a moment ago is found at once.
 */
export class ConfigCache {
  private version = -1;
  private checkedAt = -Infinity;
  private checking: Promise<void> | undefined;
  private tenants = new Map<string, Tenant>();
  private clients = new Map<string, Client>();
  private apis = new Map<string, ApiIndex>();
  private keys = new Map<string, { records: SigningKeyRecord[]; ring: KeyRing; builtAt: number }>();

  constructor(private readonly storage: Storage, private readonly clock: Clock, private readonly options: CacheOptions) {}

  /** Undefined while the cache is fresh, so the hot path awaits nothing. */
  private fresh(): Promise<void> | undefined {
    if (this.clock.now() - this.checkedAt < this.options.checkMs) return undefined;
    this.checking ??= this.storage.configVersion
      .current()
      .then((v) => {
        if (v !== this.version) this.clear();
        this.version = v;
        this.checkedAt = this.clock.now();
      })
      .finally(() => (this.checking = undefined));
    return this.checking;
  }

  clear(): void {
    this.tenants.clear();
    this.clients.clear();
    this.apis.clear();
    this.keys.clear();
  }

  async tenant(id: string): Promise<Tenant | undefined> {
    const check = this.fresh();
    if (check) await check;
    let t = this.tenants.get(id);
    if (!t && (t = await this.storage.tenants.get(id))) this.tenants.set(id, t);
    return t;
  }

  async client(tenantId: string, clientId: string): Promise<Client | undefined> {
    const check = this.fresh();
    if (check) await check;
    const key = `${tenantId}\u0000${clientId}`;
    let c = this.clients.get(key);
    if (!c && (c = await this.storage.clients.get(tenantId, clientId))) this.clients.set(key, c);
    return c;
  }

  async apiIndex(tenantId: string): Promise<ApiIndex> {
    const check = this.fresh();
    if (check) await check;
    let index = this.apis.get(tenantId);
    if (!index) {
      const list = await this.storage.apis.list(tenantId);
      index = {
        list,
        byAudience: new Map(list.map((a) => [a.audience, a])),
        scopeOwner: new Map(list.flatMap((a) => a.scopes.map((s) => [s.name, a] as const))),
      };
      this.apis.set(tenantId, index);
    }
    return index;
  }

  /** The tenant's key ring, rebuilt every `checkMs` so scheduled activations take effect. */
  async keyRing(tenantId: string): Promise<KeyRing> {
    const check = this.fresh();
    if (check) await check;
    const now = this.clock.now();
    let entry = this.keys.get(tenantId);
    if (!entry) {
      const records = await this.storage.keys.list(tenantId);
      entry = { records, ring: buildKeyRing(records, Math.floor(now / 1000), this.options.keyRetentionSeconds), builtAt: now };
      this.keys.set(tenantId, entry);
    } else if (now - entry.builtAt >= this.options.checkMs) {
      entry.ring = buildKeyRing(entry.records, Math.floor(now / 1000), this.options.keyRetentionSeconds);
      entry.builtAt = now;
    }
    return entry.ring;
  }
}
