/**
 * DPoP proofs (RFC 9449 §4.2) as a client makes them, with jose: key pairs, signed proofs,
 * hand-assembled bad ones, and the request helpers the DPoP tests share.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { expect } from 'vitest';
import { basic, form, FORM_HEADERS, PUBLIC_URL } from '../helpers.js';
import { authUrl, drive, pkce, redirectView, TOKEN, type InjectBrowser, type TestClient } from '../security/support.js';

export interface DpopKey {
  privateKey: CryptoKey;
  publicJwk: JWK;
  privateJwk: JWK;
  /** RFC 7638 SHA-256 thumbprint: what tokens bound to this key carry as `cnf.jkt`. */
  jkt: string;
  alg: string;
}

export async function dpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return { privateKey, publicJwk, privateJwk: await exportJWK(privateKey), jkt: await calculateJwkThumbprint(publicJwk, 'sha256'), alg };
}

/** RFC 9449 §4.2 `ath`. */
export const ath = (token: string): string => createHash('sha256').update(token, 'ascii').digest('base64url');

export interface ProofClaims {
  htm: string;
  htu: string;
  /** Seconds. */
  iat: number;
  jti?: string;
  nonce?: string;
  ath?: string;
  [claim: string]: unknown;
}

/** A signed proof; `header` overrides or (with undefined) removes header members. */
export function makeProof(key: DpopKey, claims: ProofClaims, header: Record<string, unknown> = {}): Promise<string> {
  const payload: Record<string, unknown> = { jti: randomBytes(16).toString('base64url'), ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, typ: 'dpop+jwt', jwk: key.publicJwk, ...header } as never).sign(key.privateKey);
}

/** A compact JWS assembled by hand (for `alg: none`, HS256 and other things no library signs). */
export function rawJws(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${part(header)}.${part(payload)}.${signature}`;
}

/** A token request with an optional DPoP header (several values = several headers). */
export function dpopTokenRequest(app: FastifyInstance, client: TestClient, fields: Record<string, string>, dpop: string | string[] | undefined, url: string): Promise<LightMyRequestResponse> {
  const body = { ...fields, ...(client.secret === undefined && { client_id: client.id }) };
  return app.inject({
    method: 'POST', url, payload: form(body),
    headers: {
      ...FORM_HEADERS,
      ...(client.secret !== undefined && { authorization: basic(client.id, client.secret) }),
      ...(dpop !== undefined && { dpop }),
    },
  });
}

/** A response as status, RFC 6750/9449 challenge and body, to compare whole. */
export const challengeView = (res: LightMyRequestResponse) => ({ status: res.statusCode, challenge: res.headers['www-authenticate'], body: res.json() });

export const DPOP_ALGS = 'ES256 ES384 ES512 EdDSA Ed25519 RS256 RS384 RS512 PS256 PS384 PS512';

/** What a resource answers a DPoP request it refuses (RFC 9449 §7.1). */
export const dpopRefusal = (error: string, description: string, status = 401) => ({
  status,
  challenge: `DPoP realm="default", error="${error}", error_description="${description}", algs="${DPOP_ALGS}"`,
  body: { error, error_description: description },
});

/** A nonce from the token endpoint: a proof without one is answered use_dpop_nonce with the current one (§8). */
export async function fetchNonce(app: FastifyInstance, client: TestClient, key: DpopKey, iat: number, url = TOKEN): Promise<string> {
  const proof = await makeProof(key, { htm: 'POST', htu: `${PUBLIC_URL}${url}`, iat });
  const res = await dpopTokenRequest(app, client, { grant_type: 'refresh_token', refresh_token: 'none' }, proof, url);
  expect(res.json().error, res.body).toBe('use_dpop_nonce');
  return res.headers['dpop-nonce'] as string;
}

/** A code for the client through the sign-in pages (signing in and consenting when asked), with PKCE. */
export async function authorizeCode(b: InjectBrowser, clientId: string, redirectUri: string, scope: string, extra: Record<string, string> = {}): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkce();
  const { res } = await drive(b, authUrl({ response_type: 'code', client_id: clientId, redirect_uri: redirectUri, scope, state: 's', code_challenge: challenge, code_challenge_method: 'S256', ...extra }));
  const view = redirectView(res);
  expect(view.query.code, JSON.stringify(view)).toBeTruthy();
  return { code: view.query.code, verifier };
}
