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
  /** Bumped by clear(): a load that started before it must not refill the cache. */
  private generation = 0;
  private tenants = new Map<string, Tenant>();
  private clients = new Map<string, Client>();
  private apis = new Map<string, ApiIndex>();
  private origins = new Map<string, Set<string>>();
  private keys = new Map<string, { records: SigningKeyRecord[]; ring: KeyRing; builtAt: number }>();
  /** Tenant hostname → tenant id, every tenant's at once (one entry, key ''). */
  private hostIndex = new Map<'', Map<string, string>>();

  constructor(private readonly storage: Storage, private readonly clock: Clock, private readonly options: CacheOptions) {}

  private due(): boolean {
    return this.clock.now() - this.checkedAt >= this.options.checkMs;
  }

  private async fresh(): Promise<void> {
    if (!this.due()) return;
    this.checking ??= this.storage.configVersion
      .current()
      .then((v) => {
        if (v !== this.version) this.clear();
        this.version = v;
        this.checkedAt = this.clock.now();
      })
      .finally(() => (this.checking = undefined));
    await this.checking;
  }

  /** Loads a value, storing it only if no clear() happened meanwhile. */
  private async load<K, V>(map: Map<K, V>, key: K, fetch: () => Promise<V | undefined>): Promise<V | undefined> {
    await this.fresh();
    const hit = map.get(key);
    if (hit !== undefined) return hit;
    const generation = this.generation;
    const value = await fetch();
    if (value !== undefined && generation === this.generation) map.set(key, value);
    return value;
  }

  clear(): void {
    this.generation++;
    this.tenants.clear();
    this.clients.clear();
    this.apis.clear();
    this.origins.clear();
    this.keys.clear();
    this.hostIndex.clear();
  }

  // The peek* methods answer synchronously from memory, or undefined when the value must be
  // loaded (absent, or the version check is due): the token endpoint's hot path then
  // never waits on a promise.

  peekTenant(id: string): Tenant | undefined {
    return this.due() ? undefined : this.tenants.get(id);
  }

  tenant(id: string): Promise<Tenant | undefined> {
    return this.load(this.tenants, id, () => this.storage.tenants.get(id));
  }

  /** Tenant hostnames (http/context.ts): every request asks, so the whole index is cached, misses included. */
  peekHostnames(): Map<string, string> | undefined {
    return this.due() ? undefined : this.hostIndex.get('');
  }

  async hostnames(): Promise<Map<string, string>> {
    const index = await this.load(this.hostIndex, '', async () =>
      new Map((await this.storage.tenants.list()).flatMap((t) => (t.hostname ? [[t.hostname, t.id] as const] : []))));
    return index!;
  }

  peekClient(tenantId: string, clientId: string): Client | undefined {
    return this.due() ? undefined : this.clients.get(`${tenantId}\u0000${clientId}`);
  }

  client(tenantId: string, clientId: string): Promise<Client | undefined> {
    return this.load(this.clients, `${tenantId}\u0000${clientId}`, () => this.storage.clients.get(tenantId, clientId));
  }

  peekApiIndex(tenantId: string): ApiIndex | undefined {
    return this.due() ? undefined : this.apis.get(tenantId);
  }

  async apiIndex(tenantId: string): Promise<ApiIndex> {
    const index = await this.load(this.apis, tenantId, async () => {
      const list = await this.storage.apis.list(tenantId);
      return {
        list,
        byAudience: new Map(list.map((a) => [a.audience, a])),
        scopeOwner: new Map(list.flatMap((a) => a.scopes.map((s) => [s.name, a] as const))),
      };
    });
    return index!;
  }

  /** Every web origin registered on the tenant's clients (for CORS). */
  async corsOrigins(tenantId: string): Promise<Set<string>> {
    const origins = await this.load(this.origins, tenantId, async () => new Set((await this.storage.clients.list(tenantId)).flatMap((c) => c.corsOrigins)));
    return origins!;
  }

  /** The key ring, rebuilt every `checkMs` so scheduled activations take effect. */
  peekKeyRing(tenantId: string): KeyRing | undefined {
    const entry = this.due() ? undefined : this.keys.get(tenantId);
    return entry && this.clock.now() - entry.builtAt < this.options.checkMs ? entry.ring : undefined;
  }

  async keyRing(tenantId: string): Promise<KeyRing> {
    const entry = (await this.load(this.keys, tenantId, async () => {
      const records = await this.storage.keys.list(tenantId);
      return { records, ring: this.build(records), builtAt: this.clock.now() };
    }))!;
    if (this.clock.now() - entry.builtAt >= this.options.checkMs) {
      entry.ring = this.build(entry.records);
      entry.builtAt = this.clock.now();
    }
    return entry.ring;
  }

  private build(records: SigningKeyRecord[]): KeyRing {
    return buildKeyRing(records, Math.floor(this.clock.now() / 1000), this.options.keyRetentionSeconds);
  }
}
