import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { seconds } from '../clock.js';
import { digest } from '../crypto/digest.js';
import { identifier } from '../crypto/random.js';
import type { TenantContext } from '../http/context.js';
import type { MfaFactor, User } from '../storage/types.js';

/** Loaded on first use: the library and its ASN.1 dependencies cost every process ~25 MB of RSS, and most never see a passkey. */
const simpleWebAuthn = () => import('@simplewebauthn/server');

/** Time to answer the authenticator's prompt. */
const CHALLENGE_SECONDS = 5 * 60;

export type ChallengePurpose = 'register' | 'second_factor' | 'passwordless';

/** WebAuthn §5.1.3 / §13.4.9: the RP ID is the tenant issuer's host name; the origin is the issuer's. */
export function relyingParty(ctx: TenantContext): { rpID: string; origin: string } {
  const url = new URL(ctx.issuer);
  return { rpID: url.hostname, origin: url.origin };
}

/**
 * A challenge (WebAuthn §13.4.3: random, ≥16 bytes, used once), stored by its digest and bound
 * to what asked for it: the sign-in's interaction or the account page's session.
 */
async function newChallenge(ctx: TenantContext, purpose: ChallengePurpose, bind: string, userId?: string): Promise<Uint8Array<ArrayBuffer>> {
  const { storage, clock, random } = ctx.services;
  const now = seconds(clock);
  // Given as bytes: the options (and the browser's clientDataJSON) carry their base64url.
  const bytes = random(32);
  const challenge = bytes.toString('base64url');
  await storage.artifacts.create({
    digest: digest(challenge), tenantId: ctx.tenant.id, kind: 'webauthn_challenge', grantId: null, clientId: null,
    data: { purpose, bind: digest(bind), ...(userId && { userId }) }, createdAt: now, expiresAt: now + CHALLENGE_SECONDS, usedAt: null,
  });
  return new Uint8Array(bytes);
}

/** Spends the challenge the browser signed, if it is ours, unused, unexpired and bound to `bind`. */
async function spendChallenge(ctx: TenantContext, clientDataJSON: string, purpose: ChallengePurpose, bind: string): Promise<{ challenge: string; userId?: string } | undefined> {
  let challenge: unknown;
  try {
    challenge = (JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as { challenge?: unknown }).challenge;
  } catch {
    return undefined;
  }
  if (typeof challenge !== 'string' || challenge.length > 100) return undefined;
  const spent = await ctx.services.storage.artifacts.consume('webauthn_challenge', digest(challenge), seconds(ctx.services.clock));
  const data = spent?.data as { purpose: string; bind: string; userId?: string } | undefined;
  if (!spent || !data || spent.tenantId !== ctx.tenant.id || data.purpose !== purpose || data.bind !== digest(bind)) return undefined;
  return { challenge, userId: data.userId };
}

const parse = <T>(json: string | undefined): T | undefined => {
  try {
    const v = json ? (JSON.parse(json) as unknown) : undefined;
    return v && typeof v === 'object' && typeof (v as { response?: { clientDataJSON?: unknown } }).response?.clientDataJSON === 'string' ? (v as T) : undefined;
  } catch {
    return undefined;
  }
};

const passkeys = (factors: MfaFactor[]) => factors.flatMap((f) => (f.type === 'webauthn' ? [f] : []));

/** Options for navigator.credentials.create(): a discoverable credential, so it also signs in without a password. */
export async function registrationOptions(ctx: TenantContext, user: User, factors: MfaFactor[], bind: string): Promise<string> {
  const { rpID } = relyingParty(ctx);
  const options = await (await simpleWebAuthn()).generateRegistrationOptions({
    rpName: ctx.tenant.displayName, rpID, userName: user.username, userID: new TextEncoder().encode(user.id),
    challenge: await newChallenge(ctx, 'register', bind, user.id), attestationType: 'none',
    excludeCredentials: passkeys(factors).map((f) => ({ id: f.credentialId, transports: f.transports })),
    authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
  });
  return JSON.stringify(options);
}

/** Checks the authenticator's answer to `registrationOptions`; the factor to store, or a message for the user. */
export async function verifyRegistration(ctx: TenantContext, user: User, credential: string | undefined, bind: string, label: string): Promise<MfaFactor | string> {
  const response = parse<RegistrationResponseJSON>(credential);
  const spent = response && (await spendChallenge(ctx, response.response.clientDataJSON, 'register', bind));
  if (!response || !spent || spent.userId !== user.id) return 'The passkey could not be registered (the request expired or was already used). Try again.';
  const { rpID, origin } = relyingParty(ctx);
  try {
    const result = await (await simpleWebAuthn()).verifyRegistrationResponse({ response, expectedChallenge: spent.challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: false });
    if (!result.verified) return 'The passkey could not be verified. Try again.';
    const c = result.registrationInfo.credential;
    return {
      id: identifier(ctx.services.random), tenantId: ctx.tenant.id, userId: user.id, type: 'webauthn', label,
      credentialId: c.id, publicKey: Buffer.from(c.publicKey).toString('base64url'), counter: c.counter, transports: c.transports ?? [],
      createdAt: seconds(ctx.services.clock), lastUsedAt: null,
    };
  } catch {
    return 'The passkey could not be verified. Try again.';
  }
}

/**
 * Options for navigator.credentials.get(): the user's passkeys as a second factor, or none
 * listed for a passwordless sign-in (discoverable credentials: the authenticator offers its own).
 */
export async function authenticationOptions(ctx: TenantContext, purpose: 'second_factor' | 'passwordless', bind: string, factors: MfaFactor[] = []): Promise<string> {
  const options = await (await simpleWebAuthn()).generateAuthenticationOptions({
    rpID: relyingParty(ctx).rpID, challenge: await newChallenge(ctx, purpose, bind),
    allowCredentials: passkeys(factors).map((f) => ({ id: f.credentialId, transports: f.transports })),
    userVerification: purpose === 'passwordless' ? 'required' : 'preferred',
  });
  return JSON.stringify(options);
}

/**
 * Checks an assertion: its challenge, its credential (one of `factors` for a second factor;
 * any of the tenant's for a passwordless sign-in), its signature, and a counter that moved on.
 */
export async function verifyAuthentication(
  ctx: TenantContext, credential: string | undefined, purpose: 'second_factor' | 'passwordless', bind: string, factors?: MfaFactor[],
): Promise<{ ok: true; factor: MfaFactor; userVerified: boolean } | { ok: false }> {
  const response = parse<AuthenticationResponseJSON>(credential);
  if (!response || typeof response.id !== 'string') return { ok: false };
  const spent = await spendChallenge(ctx, response.response.clientDataJSON, purpose, bind);
  if (!spent) return { ok: false };
  const factor = factors ? passkeys(factors).find((f) => f.credentialId === response.id) : await ctx.services.storage.mfa.findCredential(ctx.tenant.id, response.id);
  if (!factor || factor.type !== 'webauthn') return { ok: false };
  const { rpID, origin } = relyingParty(ctx);
  try {
    const result = await (await simpleWebAuthn()).verifyAuthenticationResponse({
      response, expectedChallenge: spent.challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: purpose === 'passwordless',
      credential: { id: factor.credentialId, publicKey: Buffer.from(factor.publicKey, 'base64url'), counter: factor.counter, transports: factor.transports },
    });
    if (!result.verified) return { ok: false };
    // WebAuthn §6.1.1: a counter that did not move on may be a cloned authenticator.
    if (!(await ctx.services.storage.mfa.useWebauthnCounter(factor.id, result.authenticationInfo.newCounter, seconds(ctx.services.clock)))) return { ok: false };
    return { ok: true, factor, userVerified: result.authenticationInfo.userVerified };
  } catch {
    return { ok: false };
  }
}
