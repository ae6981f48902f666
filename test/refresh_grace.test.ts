/**
 * A client's refresh grace window (ORY Hydra's graceful rotation): its setting, on every
 * backend. How rotation behaves with and without it (SECURITY-CHECKLIST 31) is tested in
 * test/security/d_refresh_tokens.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientView, createClient, updateClient } from '../src/manage/clients.js';
import { InputError } from '../src/errors.js';
import { BACKENDS, startTestApp, type TestApp } from './helpers.js';

describe.each(BACKENDS)('refresh grace window on %s', (backend) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp(backend);
  });
  afterAll(() => t?.close());

  it('is off by default, set per client from 0 to 60 seconds, and shown as refresh_token_grace_seconds', async () => {
    const plain = await createClient(t.deps, 'default', { name: 'Plain' }, 86400);
    expect(plain.client.refreshGraceSeconds).toBe(0);
    expect(clientView(plain.client)).toMatchObject({ refresh_token_grace_seconds: 0 });
    const updated = await updateClient(t.deps, 'default', plain.client.clientId, { refreshGraceSeconds: 60 }, 86400);
    expect(clientView(updated)).toMatchObject({ refresh_token_grace_seconds: 60 });
    expect((await t.storage.clients.get('default', plain.client.clientId))?.refreshGraceSeconds).toBe(60);
    for (const bad of [61, -1, 1.5]) {
      await expect(updateClient(t.deps, 'default', plain.client.clientId, { refreshGraceSeconds: bad }, 86400)).rejects.toEqual(
        new InputError('refresh grace seconds must be a whole number from 0 to 60'),
      );
    }
  });
});
