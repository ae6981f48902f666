/**
 * Loomie's avatars API, protected by Tessera: list, create, read and delete your avatars.
 * `read:avatars` lets a client read, `write:avatars` create and delete. Every avatar belongs
 * to the token's subject: the user who authorized the app, or the service itself for a
 * client-credentials token. Kept in memory: this is about the protection, not the storage.
 */
import { randomUUID } from 'node:crypto';
import express from 'express';
import { expressAuth } from 'tessera/verify';

const READ = { scopes: ['read:avatars'] };
const WRITE = { scopes: ['write:avatars'] };

/** The express app of the API, checking tokens with `verifier`. */
export function avatarsApp(verifier, { now = () => Date.now() } = {}) {
  /** owner (token subject) → avatar id → avatar */
  const avatars = new Map();
  const mine = (req) => {
    const owner = req.accessToken.subject;
    if (!avatars.has(owner)) avatars.set(owner, new Map());
    return avatars.get(owner);
  };
  const notFound = (res) => res.status(404).json({ error: 'not_found', error_description: 'no avatar with this id' });

  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));

  app.get('/', (_req, res) => {
    res.json({ name: 'avatars example API', audience: verifier.audiences[0], issuer: verifier.issuer, endpoints: ['GET /avatars', 'POST /avatars', 'GET /avatars/:id', 'DELETE /avatars/:id'] });
  });

  app.get('/avatars', expressAuth(verifier, READ), (req, res) => {
    res.json({ avatars: [...mine(req).values()] });
  });

  app.post('/avatars', expressAuth(verifier, WRITE), (req, res) => {
    const name = req.body?.name;
    if (typeof name !== 'string' || name.trim().length === 0 || name.length > 100) {
      return res.status(400).json({ error: 'invalid_request', error_description: 'name must be a string of 1 to 100 characters' });
    }
    const avatar = { id: randomUUID(), name: name.trim(), status: 'ready', created_at: new Date(now()).toISOString(), created_by: req.accessToken.clientId };
    mine(req).set(avatar.id, avatar);
    res.status(201).location(`/avatars/${avatar.id}`).json(avatar);
  });

  app.get('/avatars/:id', expressAuth(verifier, READ), (req, res) => {
    const avatar = mine(req).get(req.params.id);
    return avatar ? res.json(avatar) : notFound(res);
  });

  app.delete('/avatars/:id', expressAuth(verifier, WRITE), (req, res) => {
    return mine(req).delete(req.params.id) ? res.status(204).end() : notFound(res);
  });

  // A body that is not JSON, or too large: the API's own 400, in the same shape.
  app.use((err, _req, res, next) => {
    if (err?.type === 'entity.parse.failed' || err?.type === 'entity.too.large') {
      return res.status(400).json({ error: 'invalid_request', error_description: 'the body must be a JSON object of at most 16 KiB' });
    }
    next(err);
  });
  return app;
}
