import { issuerOf } from '../../http/context.js';
import { requireClient } from '../../manage/clients.js';
import { issuePersonalToken } from '../../manage/personal_tokens.js';
import { requireTenant } from '../../manage/tenants.js';
import { requireUser } from '../../manage/users.js';
import { int, required, split, str } from '../args.js';
import { describe, type Command } from '../command.js';

export const tokenCommands: Command[] = [
  {
    name: 'token issue',
    usage: 'token issue --tenant T --user U [--client C] --scopes "s1 s2" [--expires-in SECONDS] [--name N]',
    arguments: 0,
    options: {
      tenant: { type: 'string' },
      user: { type: 'string' },
      client: { type: 'string' },
      scopes: { type: 'string' },
      'expires-in': { type: 'string' },
      name: { type: 'string' },
    },
    /**
     * A manual token (Pulsoid's "Manual Token Issuing"): opaque, for the user, under the
     * client given (its scopes must allow them) or the tenant's built-in personal-tokens
     * client (API scopes only; then it is listed on the user's account page), lifetime capped.
     */
    async run({ values, env }) {
      const deps = await env.deps();
      const tenant = await requireTenant(deps, required(values, 'tenant'));
      const user = await requireUser(deps, tenant.id, required(values, 'user'));
      const scopes = split(required(values, 'scopes'), /\s+/) ?? [];
      const issuer = issuerOf(env.config().publicUrl, tenant);
      const clientId = str(values, 'client');
      const client = clientId !== undefined ? await requireClient(deps, tenant.id, clientId) : undefined;
      const issued = await issuePersonalToken(deps, {
        tenant, issuer, user, client, apis: await deps.storage.apis.list(tenant.id), scopes,
        expiresIn: int(values, 'expires-in'), name: str(values, 'name') ?? 'Issued by an operator',
      });
      // RFC 6749 §5.1 names, as a token response has them.
      const out = { access_token: issued.value, token_type: 'Bearer', expires_in: issued.expiresIn, scope: issued.scopes.join(' ') };
      return { json: out, text: describe(out) };
    },
  },
];
