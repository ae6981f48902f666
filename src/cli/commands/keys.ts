import { InputError } from '../../errors.js';
import { listKeys, revokeKey, rotateKeys, type KeyPolicy } from '../../manage/keys.js';
import { auditKeyRevoked, auditKeysRotated } from '../../audit_changes.js';
import type { Config } from '../../config.js';
import type { KeyPurpose } from '../../storage/types.js';
import { flag, positional, required, str } from '../args.js';
import { table, type Command } from '../command.js';

const policy = (c: Config): KeyPolicy => ({ jwksCacheSeconds: c.keys.jwksCacheSeconds, retentionSeconds: c.tokens.maxAccessTokenTtl });
const COLUMNS = ['kid', 'purpose', 'alg', 'status', 'activates_at'];

function purpose(value: string | undefined): KeyPurpose | undefined {
  if (value !== undefined && value !== 'access' && value !== 'id' && value !== 'refresh') throw new InputError('--purpose must be access, id or refresh');
  return value;
}

export const keyCommands: Command[] = [
  {
    name: 'keys list',
    usage: 'keys list --tenant T',
    arguments: 0,
    options: { tenant: { type: 'string' } },
    async run({ values, env }) {
      const keys = await listKeys(await env.deps(), required(values, 'tenant'), policy(env.config()));
      return { json: { keys }, text: table(keys as never, COLUMNS) };
    },
  },
  {
    name: 'keys rotate',
    usage: 'keys rotate --tenant T [--now] [--purpose access|id [--alg ES256|EdDSA|RS256]]',
    arguments: 0,
    options: { tenant: { type: 'string' }, now: { type: 'boolean' }, purpose: { type: 'string' }, alg: { type: 'string' } },
    async run({ values, env }) {
      const immediately = flag(values, 'now') === true;
      const deps = await env.deps();
      const tenant = required(values, 'tenant');
      const keys = await rotateKeys(deps, tenant, policy(env.config()), {
        immediately, purpose: purpose(str(values, 'purpose')), alg: str(values, 'alg'),
      });
      await auditKeysRotated(deps, tenant, keys.map((k) => k.kid), immediately);
      const when = immediately ? 'signing now' : `published now, signing after ${env.config().keys.jwksCacheSeconds} s (the JWKS cache lifetime)`;
      return { json: { added: keys }, text: `${table(keys as never, COLUMNS)}\n\nnew keys are ${when}` };
    },
  },
  {
    name: 'keys revoke',
    usage: 'keys revoke --tenant T KID',
    arguments: 1,
    options: { tenant: { type: 'string' } },
    positional: 'KID',
    async run({ values, positionals, env }) {
      const deps = await env.deps();
      const tenant = required(values, 'tenant');
      const r = await revokeKey(deps, tenant, positional(positionals, 0, 'KID'), policy(env.config()));
      await auditKeyRevoked(deps, tenant, r.revoked, r.replacement?.kid);
      const text = `revoked ${r.revoked}: removed from the JWKS and no longer signing` + (r.replacement ? `\nreplacement ${r.replacement.kid} (${r.replacement.alg}) is signing now` : '');
      return { json: r, text };
    },
  },
  {
    // docs/deployment.md "Encrypting keys at rest": seals plaintext rows, and rows sealed under TESSERA_MASTER_KEY_PREVIOUS, under TESSERA_MASTER_KEY.
    name: 'keys rewrap',
    usage: 'keys rewrap',
    arguments: 0,
    options: {},
    async run({ env }) {
      if (!env.config().masterKey) throw new InputError('keys rewrap needs TESSERA_MASTER_KEY (and TESSERA_MASTER_KEY_PREVIOUS while rotating)');
      const { storage } = await env.deps();
      const rewrapped = await storage.keys.reseal();
      // TOTP secrets are sealed with the same master key (storage/sql/mfa.ts), so they rotate with it.
      const totpSecrets = await storage.mfa.resealSecrets();
      const n = (count: number, what: string) => `${count} ${what}${count === 1 ? '' : 's'}`;
      return { json: { rewrapped, totp_secrets: totpSecrets }, text: `sealed ${n(rewrapped, 'private key')} and ${n(totpSecrets, 'TOTP secret')} under the current master key` };
    },
  },
];
