import { createHmac, sign, type KeyObject } from 'node:crypto';
import type { SigningAlg } from './jwk.js';

/**
 * Compact JWS signing with node:crypto. A measured exception to "use jose": jose signs
 * through async WebCrypto, 2–2.5× slower for ES256/EdDSA (DESIGN.md §2). The tests verify
 * every token this produces with jose.
 */
export interface JwtSigner {
  kid: string;
  alg: SigningAlg;
  sign(payload: object): string;
}

export function createJwtSigner(key: KeyObject, alg: SigningAlg, kid: string, typ: string): JwtSigner {
  const header = Buffer.from(JSON.stringify({ alg, typ, kid })).toString('base64url');
  const raw: (input: Buffer) => Buffer =
    alg === 'ES256'
      ? (input) => sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' }) // RFC 7518 §3.4: R || S
      : alg === 'EdDSA'
        ? (input) => sign(null, input, key)
        : alg === 'HS256'
          ? (input) => createHmac('sha256', key).update(input).digest()
          : (input) => sign('sha256', input, key);
  return {
    kid,
    alg,
    sign(payload) {
      const input = `${header}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      return `${input}.${raw(Buffer.from(input)).toString('base64url')}`;
    },
  };
}
