/**
 * The three middlewares end to end: a small API on each framework, on a free port, called
 * over HTTP with tokens from a real Tessera (and DPoP-bound ones from a stand-in issuer, to
 * check each adapter hands the verifier the URL the client addressed).
 */
import { serve } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import { Hono } from 'hono';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessTokenHash } from '../../src/verify/dpop.js';
import { createVerifier, expressAuth, fastifyAuth, fastifyAuthPlugin, honoAuth, type AccessToken, type Verifier } from '../../src/verify/index.js';
import { AVATARS, dpopKey, standInIssuer, tesseraWorld, type TesseraWorld } from './support.js';

/** What each test API answers for an accepted token. */
const view = (t: AccessToken) => ({ subject: t.subject, scopes: t.scopes, format: t.format, scheme: t.scheme });

interface Running {
  url: string;
  close(): Promise<void>;
}

const READ = { scopes: ['read:avatars'] };
const WRITE = { scopes: ['write:avatars'] };

/** Each framework's API: GET /avatars (read), DELETE /avatars/1 (write), GET /dpop (read, stand-in issuer). */
const frameworks: Record<string, (bearer: Verifier, dpop: Verifier) => Promise<Running>> = {
  async fastify(bearer, dpop) {
    const app = Fastify();
    app.get('/avatars', { preHandler: fastifyAuth(bearer, READ) }, async (req) => view(req.accessToken!));
    app.delete('/avatars/1', { preHandler: fastifyAuth(bearer, WRITE) }, async (req) => view(req.accessToken!));
    app.get('/dpop', { preHandler: fastifyAuth(dpop, READ) }, async (req) => view(req.accessToken!));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url, close: () => app.close() };
  },
  async 'fastify plugin'(bearer, dpop) {
    const app = Fastify();
    await app.register(async (api) => {
      await api.register(fastifyAuthPlugin, { verifier: bearer, ...READ });
      api.get('/avatars', async (req) => view(req.accessToken!));
    });
    await app.register(async (api) => {
      await api.register(fastifyAuthPlugin, { verifier: bearer, ...WRITE });
      api.delete('/avatars/1', async (req) => view(req.accessToken!));
    });
    await app.register(async (api) => {
      await api.register(fastifyAuthPlugin, { verifier: dpop, ...READ });
      api.get('/dpop', async (req) => view(req.accessToken!));
    });
    // Outside the plugin's context nothing is checked.
    app.get('/health', async () => ({ ok: true }));
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url, close: () => app.close() };
  },
  async express(bearer, dpop) {
    const app = express();
    app.get('/avatars', expressAuth(bearer, READ), (req, res) => void res.json(view(req.accessToken!)));
    app.delete('/avatars/1', expressAuth(bearer, WRITE), (req, res) => void res.json(view(req.accessToken!)));
    app.get('/dpop', expressAuth(dpop, READ), (req, res) => void res.json(view(req.accessToken!)));
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    return serverHandle(server);
  },
  async hono(bearer, dpop) {
    const app = new Hono<{ Variables: { accessToken: AccessToken } }>();
    app.get('/avatars', honoAuth(bearer, READ), (c) => c.json(view(c.get('accessToken'))));
    app.delete('/avatars/1', honoAuth(bearer, WRITE), (c) => c.json(view(c.get('accessToken'))));
    app.get('/dpop', honoAuth(dpop, READ), (c) => c.json(view(c.get('accessToken'))));
    const server = await new Promise<Server>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s as Server)) as Server;
    });
    return serverHandle(server);
  },
};

function serverHandle(server: Server): Running {
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A response as the tests compare it. */
async function seen(res: Response) {
  return { status: res.status, challenge: res.headers.get('www-authenticate'), cacheControl: res.headers.get('cache-control'), body: await res.json() };
}

const refused = (status: number, challenge: string, error: string, description: string) => ({
  status, challenge, cacheControl: 'no-store', body: { error, error_description: description },
});

describe('middlewares', () => {
  let w: TesseraWorld;
  let stand: Awaited<ReturnType<typeof standInIssuer>>;
  let bearerVerifier: Verifier;
  let dpopVerifier: Verifier;

  beforeAll(async () => {
    w = await tesseraWorld();
    stand = await standInIssuer();
    bearerVerifier = createVerifier({ issuer: w.issuer, audience: AVATARS });
    dpopVerifier = createVerifier({ issuer: stand.issuer, audience: AVATARS, jwksUri: stand.jwksUri });
  });
  afterAll(async () => {
    await stand?.close();
    await w?.close();
  });

  describe.each(Object.keys(frameworks))('%s', (name) => {
    let api: Running;
    beforeAll(async () => {
      api = await frameworks[name](bearerVerifier, dpopVerifier);
    });
    afterAll(async () => {
      await api?.close();
    });

    it('lets a request with a valid token through, with the token', async () => {
      const token = await w.serviceToken();
      const res = await fetch(`${api.url}/avatars`, { headers: { authorization: `Bearer ${token}` } });
      expect(await seen(res)).toEqual({ status: 200, challenge: null, cacheControl: null, body: { subject: w.clients.service.id, scopes: ['read:avatars'], format: 'jwt', scheme: 'Bearer' } });
    });

    it('answers a request without a token with 401 and a bare Bearer challenge', async () => {
      expect(await seen(await fetch(`${api.url}/avatars`))).toEqual(refused(401, `Bearer realm="${AVATARS}"`, 'invalid_token', 'an access token is required'));
    });

    it('answers an invalid token with 401 invalid_token', async () => {
      const description = 'the access token signature is invalid';
      const token = await w.serviceToken();
      const res = await fetch(`${api.url}/avatars`, { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } });
      expect(await seen(res)).toEqual(refused(401, `Bearer realm="${AVATARS}", error="invalid_token", error_description="${description}"`, 'invalid_token', description));
    });

    it('answers a missing scope with 403 insufficient_scope', async () => {
      const description = 'the access token lacks scope write:avatars';
      const res = await fetch(`${api.url}/avatars/1`, { method: 'DELETE', headers: { authorization: `Bearer ${await w.serviceToken()}` } });
      expect(await seen(res)).toEqual(
        refused(403, `Bearer realm="${AVATARS}", error="insufficient_scope", error_description="${description}", scope="write:avatars"`, 'insufficient_scope', description),
      );
      const both = await w.serviceToken(w.clients.service, 'read:avatars write:avatars');
      const ok = await fetch(`${api.url}/avatars/1`, { method: 'DELETE', headers: { authorization: `Bearer ${both}` } });
      expect(await seen(ok)).toEqual({ status: 200, challenge: null, cacheControl: null, body: { subject: w.clients.service.id, scopes: ['read:avatars', 'write:avatars'], format: 'jwt', scheme: 'Bearer' } });
    });

    it('checks a DPoP proof against the URL the client called, once', async () => {
      const key = await dpopKey();
      const token = await stand.mint({ cnf: { jkt: key.jkt } });
      const proof = await key.proof({ htm: 'GET', htu: `${api.url}/dpop`, ath: accessTokenHash(token) });
      const headers = { authorization: `DPoP ${token}`, dpop: proof };
      expect(await seen(await fetch(`${api.url}/dpop?x=1`, { headers }))).toEqual({
        status: 200, challenge: null, cacheControl: null, body: { subject: 'user-1', scopes: ['read:avatars'], format: 'jwt', scheme: 'DPoP' },
      });
      const description = 'the DPoP proof was already used';
      expect(await seen(await fetch(`${api.url}/dpop`, { headers }))).toEqual(
        refused(401, expect.stringMatching(new RegExp(`^DPoP realm="${AVATARS}", error="invalid_dpop_proof", error_description="${description}", algs="ES256 `)) as unknown as string, 'invalid_dpop_proof', description),
      );
    });
  });
});
