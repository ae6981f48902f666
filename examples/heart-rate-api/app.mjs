/**
 * Pulsoid's heart-rate API over HTTP, protected by Tessera (Hono):
 * - GET  /api/v1/data/heart_rate/latest   scope data:heart_rate:read; `?response_mode=text_plain_only_heart_rate`
 *   answers just the number; 412 while the user has no reading, as Pulsoid does;
 * - POST /api/v1/data                     scope data:heart_rate:write; records `{ measured_at, data: { heart_rate } }`;
 * - GET  /                                a page that signs in (implicit grant) and shows the real-time stream.
 * The WebSocket stream is in realtime.mjs.
 */
import { readFileSync } from 'node:fs';
import { Hono } from 'hono';
import { honoAuth } from 'tessera/verify';

const PAGE = readFileSync(new URL('./page.html', import.meta.url), 'utf8');
const TEXT_MODE = 'text_plain_only_heart_rate';

export function heartRateApp(verifier, store, { widgetClientId, publicUrl }) {
  const app = new Hono();

  app.get('/', (c) => {
    // The page's sign-in link: Pulsoid's implicit grant against the Tessera tenant.
    const values = { ISSUER: verifier.issuer, CLIENT_ID: widgetClientId ?? '', REDIRECT_URI: `${publicUrl}/` };
    const literal = (v) => JSON.stringify(v).slice(1, -1).replace(/'/g, "\\'").replace(/</g, '\\u003c');
    return c.html(PAGE.replace(/\{\{(\w+)\}\}/g, (_, k) => literal(values[k] ?? '')));
  });

  app.get('/api/v1/data/heart_rate/latest', honoAuth(verifier, { scopes: ['data:heart_rate:read'] }), (c) => {
    const reading = store.latest(c.get('accessToken').subject);
    if (!reading) return c.json({ error: 'no_data', error_description: 'the user has no heart rate data yet' }, 412);
    if (c.req.query('response_mode') === TEXT_MODE) return c.text(String(reading.data.heart_rate));
    return c.json(reading);
  });

  app.post('/api/v1/data', honoAuth(verifier, { scopes: ['data:heart_rate:write'] }), async (c) => {
    const body = await c.req.json().catch(() => undefined);
    const rate = body?.data?.heart_rate;
    const measuredAt = body?.measured_at;
    if (!Number.isInteger(rate) || rate <= 0 || rate > 300 || !Number.isInteger(measuredAt) || measuredAt <= 0) {
      return c.json({ error: 'invalid_request', error_description: 'send {"measured_at": milliseconds, "data": {"heart_rate": 1-300}}' }, 400);
    }
    const reading = { measured_at: measuredAt, data: { heart_rate: rate } };
    store.record(c.get('accessToken').subject, reading);
    return c.json(reading);
  });

  return app;
}
