import { InputError } from '../errors.js';
import type { DcrPolicy } from '../storage/types.js';
import { SCOPE_TOKEN } from './validate.js';

/** Grant types a tenant may let registered clients ask for (manage/clients.ts GRANT_TYPES). */
const KNOWN_GRANTS = [
  'authorization_code', 'implicit', 'refresh_token', 'client_credentials', 'password',
  'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange',
];

/** The `--dcr-allow` words and the policy flags they set. */
export const DCR_ALLOW = { 'consent-skip': 'allowConsentSkip', 'web-page': 'allowWebPage', password: 'allowPassword', 'token-exchange': 'allowTokenExchange' } as const;
export type DcrAllowWord = keyof typeof DCR_ALLOW;

/**
 * Off; when turned on, registration needs an initial access token (RFC 7591 §3) and a client
 * may ask only for the code flow with refresh tokens and the OIDC scopes. Consent skip,
 * `web_page`, the password grant and token exchange each need the operator's say-so.
 */
export const DCR_DEFAULTS: DcrPolicy = {
  enabled: false, open: false, grantTypes: ['authorization_code', 'refresh_token'],
  allowConsentSkip: false, allowWebPage: false, allowPassword: false, allowTokenExchange: false, scopes: [],
};

export interface DcrPolicyPatch {
  enabled?: boolean;
  open?: boolean;
  grantTypes?: string[];
  /** Replaces every allow flag: the words listed are allowed, the others not. */
  allow?: string[];
  allowConsentSkip?: boolean;
  allowWebPage?: boolean;
  allowPassword?: boolean;
  allowTokenExchange?: boolean;
  scopes?: string[];
}

export const dcrPolicyOf = (stored: DcrPolicy | null): DcrPolicy => ({ ...DCR_DEFAULTS, ...stored });

export function applyDcrPatch(stored: DcrPolicy | null, patch: DcrPolicyPatch): DcrPolicy {
  const p = dcrPolicyOf(stored);
  if (patch.enabled !== undefined) p.enabled = patch.enabled;
  if (patch.open !== undefined) p.open = patch.open;
  if (patch.grantTypes !== undefined) {
    const unknown = patch.grantTypes.filter((g) => !KNOWN_GRANTS.includes(g));
    if (unknown.length) throw new InputError(`unknown grant type ${unknown.join(', ')} (known: ${KNOWN_GRANTS.join(', ')})`);
    p.grantTypes = [...new Set(patch.grantTypes)];
  }
  if (patch.allow !== undefined) {
    const unknown = patch.allow.filter((w) => !(w in DCR_ALLOW));
    if (unknown.length) throw new InputError(`unknown --dcr-allow value ${unknown.join(', ')} (known: ${Object.keys(DCR_ALLOW).join(', ')})`);
    for (const [word, key] of Object.entries(DCR_ALLOW)) p[key] = patch.allow.includes(word);
  }
  for (const key of Object.values(DCR_ALLOW)) if (patch[key] !== undefined) p[key] = patch[key]!;
  if (patch.scopes !== undefined) {
    const bad = patch.scopes.find((s) => !SCOPE_TOKEN.test(s));
    if (bad !== undefined) throw new InputError(`scope ${JSON.stringify(bad)} is not a valid scope name (RFC 6749 §3.3)`);
    p.scopes = [...new Set(patch.scopes)];
  }
  return p;
}

/** The policy as the CLI and the admin API show it. */
export const dcrPolicyView = (stored: DcrPolicy | null) => {
  const p = dcrPolicyOf(stored);
  return {
    enabled: p.enabled, open: p.open, grant_types: p.grantTypes,
    allow_consent_skip: p.allowConsentSkip, allow_web_page: p.allowWebPage, allow_password: p.allowPassword, allow_token_exchange: p.allowTokenExchange,
    scopes: p.scopes,
  };
};
