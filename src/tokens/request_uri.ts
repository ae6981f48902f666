import { seconds } from '../clock.js';
import { OAuthError } from '../errors.js';
import type { TenantContext } from '../http/context.js';
import { newOpaqueValue, storageKey } from './opaque.js';

/** RFC 9126 §2.2: the URN that starts every request_uri the PAR endpoint issues. */
export const REQUEST_URI_PREFIX = 'urn:ietf:params:oauth:request_uri:';

/**
 * RFC 9126 §2.2 `expires_in`: how long a request_uri may start an authorization. Short, as
 * the RFC's example and node-oidc-provider's maximum (60 s): it only carries the browser
 * from the client's push to the authorization endpoint.
 */
export const PUSHED_REQUEST_SECONDS = 60;

/**
 * How long the row outlives that: a sign-in that began before the request_uri expired
 * still spends it when it completes (interactions last 30 minutes, http/interaction.ts).
 */
const HOLD_SECONDS = 60 * 60;

/** Authorization request parameters as pushed: one value per name, or several for those that repeat (`resource`). */
export type PushedParameters = Record<string, string | string[]>;

interface PushedData {
  params: PushedParameters;
  /** Seconds: the request_uri is refused at the authorization endpoint from then on. */
  useBy: number;
}

/** A pushed request a request_uri names: its parameters and the storage key that spends it. */
export interface PushedRequest {
  key: string;
  params: PushedParameters;
}

/** Stores a validated pushed request for `clientId`; returns its request_uri (a URN around 256 random bits). */
export async function storePushedRequest(ctx: TenantContext, clientId: string, params: PushedParameters): Promise<string> {
  const { storage, clock, random } = ctx.services;
  const now = seconds(clock);
  const value = newOpaqueValue(clock, random);
  const data: PushedData = { params, useBy: now + PUSHED_REQUEST_SECONDS };
  await storage.artifacts.create({
    digest: storageKey(value), tenantId: ctx.tenant.id, kind: 'par_request', grantId: null, clientId,
    data: data as unknown as Record<string, unknown>, createdAt: now, expiresAt: now + PUSHED_REQUEST_SECONDS + HOLD_SECONDS, usedAt: null,
  });
  return REQUEST_URI_PREFIX + value;
}

const invalidRequestUri = (description: string) => new OAuthError('invalid_request_uri', description);

/**
 * The pushed request behind a request_uri the PAR endpoint issued, for the client that
 * presents it (RFC 9126 §4). Throws `invalid_request_uri` when it is unknown, another
 * client's, already used or expired.
 */
export async function loadPushedRequest(ctx: TenantContext, requestUri: string, clientId: string): Promise<PushedRequest> {
  const key = storageKey(requestUri.slice(REQUEST_URI_PREFIX.length));
  const artifact = await ctx.services.storage.artifacts.find('par_request', key);
  if (!artifact || artifact.tenantId !== ctx.tenant.id) throw invalidRequestUri('request_uri is unknown');
  // RFC 9126 §4 (RFC 9101 §6.3): the request belongs to the client that pushed it.
  if (artifact.clientId !== clientId) throw invalidRequestUri('request_uri was issued to another client');
  if (artifact.usedAt !== null) throw invalidRequestUri('request_uri was already used; push the authorization request again');
  const data = artifact.data as unknown as PushedData;
  // RFC 9126 §4: an expired request_uri MUST be rejected as invalid.
  if (seconds(ctx.services.clock) >= data.useBy) throw invalidRequestUri('request_uri has expired; push the authorization request again');
  return { key, params: data.params };
}

/**
 * Spends a pushed request (RFC 9126 §4: request_uri values are one-time use). Of any number
 * of concurrent callers exactly one gets true (ArtifactStore.consume).
 */
export async function spendPushedRequest(ctx: TenantContext, key: string): Promise<boolean> {
  return (await ctx.services.storage.artifacts.consume('par_request', key, seconds(ctx.services.clock))) !== undefined;
}
