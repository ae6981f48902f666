import { InputError } from '../../errors.js';
import { listKeys, revokeKey, rotateKeys, type KeyPolicy } from '../../manage/keys.js';
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
    options: { tenant: { type: 'string' } },
    async run({ values, env }) {
      const keys = await listKeys(await env.deps(), required(values, 'tenant'), policy(env.config()));
      return { json: { keys }, text: table(keys as never, COLUMNS) };
    },
  },
  {
    name: 'keys rotate',
    usage: 'keys rotate --tenant T [--now] [--purpose access|id [--alg ES256|EdDSA|RS256]]',
    options: { tenant: { type: 'string' }, now: { type: 'boolean' }, purpose: { type: 'string' }, alg: { type: 'string' } },
    async run({ values, env }) {
      const immediately = flag(values, 'now') === true;
      const keys = await rotateKeys(await env.deps(), required(values, 'tenant'), policy(env.config()), {
        immediately, purpose: purpose(str(values, 'purpose')), alg: str(values, 'alg'),
      });
      const when = immediately ? 'signing now' : `published now, signing after ${env.config().keys.jwksCacheSeconds} s (the JWKS cache lifetime)`;
      return { json: { added: keys }, text: `${table(keys as never, COLUMNS)}\n\nnew keys are ${when}` };
    },
  },
  {
    name: 'keys revoke',
    usage: 'keys revoke --tenant T KID',
    options: { tenant: { type: 'string' } },
    positional: 'KID',
    async run({ values, positionals, env }) {
      const r = await revokeKey(await env.deps(), required(values, 'tenant'), positional(positionals, 0, 'KID'), policy(env.config()));
      const text = `revoked ${r.revoked}: removed from the JWKS and no longer signing` + (r.replacement ? `\nreplacement ${r.replacement.kid} (${r.replacement.alg}) is signing now` : '');
      return { json: r, text };
    },
  },
];
