// Types of scripts/seed/rows.mjs, for test/large_store.test.ts.
import type { Kysely } from 'kysely';

export interface SeedTenant {
  id: string;
  /** The client the seeded grants and tokens belong to. */
  clientId: string;
  /** `aud` of the seeded access tokens. */
  audience: string;
  users: number;
  tokens: number;
}

export interface SeedPlan {
  tenants: SeedTenant[];
  /** One argon2id hash shared by every seeded user. */
  passwordHash: string;
  /** Seconds since the epoch; default now. */
  now?: number;
}

export interface SeedProgress {
  phase: string;
  done: number;
  total: number;
  written: Record<string, number>;
  seconds: number;
}

export interface SeedResult {
  written: Record<'users' | 'grants' | 'access_tokens' | 'artifacts' | 'sessions' | 'consents', number>;
  /** Seeded opaque access token values of the first tenant, spread over its tokens. */
  samples: { value: string; userId: string; grantId: string }[];
  seconds: number;
}

export const SEED_MARK: string;
export function seededUsername(tenantId: string, i: number): string;
export function seededEmail(tenantId: string, i: number): string;
export function alreadySeeded(db: Kysely<any>, tenantId: string): Promise<boolean>;
export function seedRows(db: Kysely<any>, backend: 'sqlite' | 'postgres', plan: SeedPlan, onProgress?: (p: SeedProgress) => void): Promise<SeedResult>;

export const SEED_REDIRECT_URI: string;
export function setUpTenants(
  deps: unknown,
  manage: { ensureDefaultTenant: (deps: any) => Promise<unknown>; createTenant: (deps: any, input: { id: string; displayName?: string }) => Promise<unknown>; createClient: (deps: any, tenantId: string, input: any, maxTtl: number) => Promise<{ client: { clientId: string }; secret?: string }> },
  options: { tenants?: number; users: number; tokens: number },
): Promise<(SeedTenant & { clientSecret: string })[]>;
