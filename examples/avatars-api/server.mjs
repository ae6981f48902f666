#!/usr/bin/env node
/**
 * `npm run example:avatars`: the avatars API on http://localhost:4001 (PORT to change it),
 * trusting the Tessera tenant that `npm run example:setup` provisioned. JWT access tokens
 * are checked against the tenant's keys; opaque ones by introspection with the API's
 * resource-server credentials.
 */
import { createVerifier } from 'tessera/verify';
import { listenPort, loadExampleConfig } from '../config.mjs';
import { avatarsApp } from './app.mjs';

const config = loadExampleConfig();
const { avatars } = config;

// The issuer alone is enough: the JWKS and introspection URLs come from its discovery document.
const verifier = createVerifier({
  issuer: config.tessera.issuer,
  audience: avatars.audience,
  introspection: { clientId: avatars.api_credentials.client_id, clientSecret: avatars.api_credentials.client_secret },
});

const host = process.env.HOST || '127.0.0.1';
const port = listenPort(new URL(avatars.url).port);
const server = avatarsApp(verifier).listen(port, host, () => {
  console.log(`avatars API listening on http://${host}:${server.address().port} (audience ${avatars.audience}, issuer ${config.tessera.issuer})`);
});
server.on('error', (err) => {
  console.error(`avatars API: ${err.message}`);
  process.exit(1);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => server.close(() => process.exit(0)));
