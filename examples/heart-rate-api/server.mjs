#!/usr/bin/env node
/**
 * `npm run example:heart-rate`: the heart-rate API on http://localhost:4002 (PORT to change
 * it), HTTP and WebSocket, trusting the Tessera tenant that `npm run example:setup`
 * provisioned. Open http://localhost:4002/ for the widget page. HEART_RATE_SIMULATE=0 turns
 * the stand-in sensor off (readings then come only from POST /api/v1/data).
 */
import { serve } from '@hono/node-server';
import { createVerifier } from 'tessera/verify';
import { listenPort, loadExampleConfig } from '../config.mjs';
import { heartRateApp } from './app.mjs';
import { readingStore, simulate } from './readings.mjs';
import { attachRealtime, REALTIME_PATH } from './realtime.mjs';

const config = loadExampleConfig();
const { heart_rate: heartRate } = config;

const verifier = createVerifier({
  issuer: config.tessera.issuer,
  audience: heartRate.audience,
  // Pulsoid-style personal tokens (`tessera token issue`) are opaque: introspected with the API's credentials.
  introspection: { clientId: heartRate.api_credentials.client_id, clientSecret: heartRate.api_credentials.client_secret },
});

const store = readingStore();
if (process.env.HEART_RATE_SIMULATE !== '0') simulate(store);

const host = process.env.HOST || '127.0.0.1';
const port = listenPort(new URL(heartRate.url).port);
const app = heartRateApp(verifier, store, { widgetClientId: heartRate.clients.widget?.client_id, publicUrl: heartRate.url });
const server = serve({ fetch: app.fetch, port, hostname: host }, (info) => {
  console.log(`heart-rate API listening on http://${host}:${info.port} (WebSocket ${REALTIME_PATH}; audience ${heartRate.audience}, issuer ${config.tessera.issuer})`);
});
const wss = attachRealtime(server, verifier, store);
server.on('error', (err) => {
  console.error(`heart-rate API: ${err.message}`);
  process.exit(1);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const ws of wss.clients) ws.close(1001, 'server shutting down');
    server.close(() => process.exit(0));
  });
}
