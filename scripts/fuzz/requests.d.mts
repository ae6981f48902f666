// Types of scripts/fuzz/requests.mjs, for the TypeScript property tests (test/fuzz/*.test.ts).
import type * as fc from 'fast-check';

export interface Fixtures {
  tenant: string;
  clientId: string;
  clientSecret: string;
  publicClientId: string;
  redirectUri: string;
  username: string;
  userId?: string;
  operatorToken?: string;
  /** A live access token and ID token of the fixture user, so token-reading endpoints get past the lookup. */
  accessToken?: string;
  idToken?: string;
  /** More plausible values, such as a live interaction id and its CSRF token. */
  extraValues?: string[];
  /** A Cookie header value of a live browser (its interaction binding). */
  cookie?: string;
  /** `interaction=…&csrf=…` of that sign-in, put in front of some form bodies. */
  formPrefix?: string;
}

export interface Target {
  name: string;
  kind: 'api' | 'browser' | 'admin';
  methods: string[];
  urls: string[];
}

export interface FuzzRequest {
  target: string;
  kind: Target['kind'];
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string | Buffer | undefined;
}

export function fuzzTargets(
  routes: readonly { methods: readonly string[]; path: string; browser?: boolean; defaultAliases?: string[] }[],
  adminRoutes: readonly { method: string; path: string }[],
  fx: Fixtures,
): Target[];
export function requestArb(fcModule: typeof fc, targets: Target[], fx: Fixtures): fc.Arbitrary<FuzzRequest>;
export function errorCodesFrom(errorsTs: string): Set<string>;
export function problemWith(res: { status: number; headers: Record<string, unknown>; body: string }, errorCodes: Set<string>): string | null;
export function interactionUrl(fx: Fixtures): string;
export function interactionFixtures(html: string, setCookie: string | string[] | undefined): { extraValues: string[]; cookie: string | undefined; formPrefix: string | undefined };
