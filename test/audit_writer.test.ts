/**
 * Audit events are written in batches (src/storage/audit_writer.ts): queued in memory, one
 * multi-row INSERT per batch, never awaited by a request, written on close, a failed batch
 * retried once and then logged; retention removes old events; lists filter by actor, user,
 * client and time.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { recordAudit } from '../src/audit.js';
import { removeOldAuditEvents } from '../src/audit_retention.js';
import { loadConfig } from '../src/config.js';
import { createClient } from '../src/manage/clients.js';
import { createTenant, deleteTenant } from '../src/manage/tenants.js';
import { AuditWriter } from '../src/storage/audit_writer.js';
import { openStorage } from '../src/storage/index.js';
import type { AuditRows } from '../src/storage/stores.js';
import type { AuditEvent } from '../src/storage/types.js';
import { BACKENDS, FakeClock, startTestApp, type TestApp } from './helpers.js';
import { tokenRequest, type TestClient } from './security/support.js';

const sample = (n: number): AuditEvent => ({
  id: `e${String(n).padStart(5, '0')}`, tenantId: 'default', type: 'token.issued', at: 1000 + n, actor: 'c', clientId: 'c', userId: null, ip: null, detail: { n },
});

/** AuditRows that only count and keep what they are given; `fail` makes the next inserts throw. */
interface MemoryRows extends AuditRows {
  batches: AuditEvent[][];
  fail: number;
  gate: Promise<void> | undefined;
}

function memoryRows(): MemoryRows {
  const rows: MemoryRows = {
    batches: [],
    fail: 0,
    gate: undefined,
    async insert(events) {
      if (rows.gate) await rows.gate;
      if (rows.fail > 0) {
        rows.fail--;
        throw new Error('connection reset');
      }
      rows.batches.push(events);
    },
    async list() {
      return { events: rows.batches.flat() };
    },
    async deleteBefore() {
      return 0;
    },
  };
  return rows;
}

const waitMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the audit writer', () => {
  it('queues events and writes them together after the delay, in one INSERT', async () => {
    const rows = memoryRows();
    const w = new AuditWriter(rows, { delayMs: 30 });
    for (let i = 0; i < 50; i++) await w.record(sample(i));
    expect({ batches: rows.batches.length, queued: w.queued }).toEqual({ batches: 0, queued: 50 });
    await waitMs(80);
    expect({ batches: rows.batches.map((b) => b.length), queued: w.queued }).toEqual({ batches: [50], queued: 0 });
    expect(rows.batches[0].map((e) => e.id)).toEqual([...Array(50).keys()].map((i) => sample(i).id));
  });

  it('writes at once when the queue is full, in order, without waiting for the delay', async () => {
    const rows = memoryRows();
    const w = new AuditWriter(rows, { delayMs: 10_000, maxQueued: 10 });
    for (let i = 0; i < 25; i++) await w.record(sample(i));
    await w.flush();
    expect(rows.batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(rows.batches.flat().map((e) => e.detail.n)).toEqual([...Array(25).keys()]);
  });

  it('flush() waits for a batch already being written, and list() reads after writing what is queued', async () => {
    const rows = memoryRows();
    let open!: () => void;
    rows.gate = new Promise<void>((r) => (open = r));
    const w = new AuditWriter(rows, { delayMs: 10_000, maxQueued: 2 });
    await w.record(sample(1));
    await w.record(sample(2)); // full: being written, held at the gate
    await w.record(sample(3));
    const listed = w.list('default', { limit: 10 });
    let done = false;
    void listed.then(() => (done = true));
    await waitMs(20);
    expect(done).toBe(false);
    open();
    expect((await listed).events.map((e) => e.detail.n)).toEqual([1, 2, 3]);
  });

  it('retries a failed batch once; a second failure is logged (count and types only) and dropped; it never throws', async () => {
    const rows = memoryRows();
    const log = { error: vi.fn() };
    const w = new AuditWriter(rows, { delayMs: 10_000, log });
    rows.fail = 1;
    await w.record(sample(1));
    await w.flush();
    expect({ written: rows.batches.flat().map((e) => e.id), logged: log.error.mock.calls.length }).toEqual({ written: ['e00001'], logged: 0 });

    rows.fail = 2;
    await w.record({ ...sample(2), detail: { scope: 'read:avatars' } });
    await w.record({ ...sample(3), type: 'sign_in.failure' });
    await expect(w.flush()).resolves.toBeUndefined();
    expect(log.error.mock.calls).toEqual([[{ err: { message: 'connection reset' }, events: 2, types: ['sign_in.failure', 'token.issued'] }, 'audit events not recorded']]);
    // The writer goes on: the next batch is written.
    await w.record(sample(4));
    await w.flush();
    expect(rows.batches.flat().map((e) => e.id)).toEqual(['e00001', 'e00004']);
  });

  it('a failure of the timer-driven write does not reject anywhere (no unhandled rejection)', async () => {
    const rows = memoryRows();
    const log = { error: vi.fn() };
    const w = new AuditWriter(rows, { delayMs: 5, log });
    rows.fail = 2;
    await w.record(sample(1));
    await waitMs(50);
    expect(log.error).toHaveBeenCalledTimes(1);
  });
});

describe.each(BACKENDS)('batched audit writes on %s', (backend) => {
  let t: TestApp;
  const clock = new FakeClock();
  let svc: TestClient;

  beforeAll(async () => {
    t = await startTestApp(backend, { clock });
    const c = await createClient(t.deps, 'default', { name: 'Batch service', grantTypes: ['client_credentials'] }, 86400);
    svc = { id: c.client.clientId, secret: c.secret };
  });
  afterAll(() => t?.close());

  it('many events from many requests take few INSERTs, and every event arrives', async () => {
    await t.storage.audit.flush();
    const rows = (t.storage.audit as AuditWriter).rows;
    const insert = vi.spyOn(rows, 'insert');
    try {
      // Authorization requests of an unknown client: each one is an event (security.authorize_refused).
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => t.app.inject({ method: 'GET', url: `/realms/default/protocol/openid-connect/auth?client_id=batch-${i}&response_type=code` })));
      expect(new Set(answers.map((a) => a.statusCode))).toEqual(new Set([400]));
      await t.storage.audit.flush();
      const written = insert.mock.calls.reduce((n, [events]) => n + events.length, 0);
      expect({ written, fewInserts: insert.mock.calls.length <= 3 }).toEqual({ written: 60, fewInserts: true });
    } finally {
      insert.mockRestore();
    }
    const { events } = await t.storage.audit.list('default', { type: 'security.authorize_refused', limit: 100 });
    expect(events.filter((e) => e.clientId?.startsWith('batch-')).length).toBe(60);
  });

  it('the token endpoint answers while the audit table does not (it never awaits an audit write)', async () => {
    await t.storage.audit.flush();
    const rows = (t.storage.audit as AuditWriter).rows;
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const original = rows.insert;
    rows.insert = async (events) => {
      await held;
      return original.call(rows, events);
    };
    try {
      // Each new client's first client_credentials token of a minute is a token.issued event; the
      // batch holding the first one hangs, and the token endpoint goes on answering.
      const answers = [];
      for (let i = 0; i < 3; i++) {
        const c = await createClient(t.deps, 'default', { name: `Held ${i}`, grantTypes: ['client_credentials'] }, 86400);
        answers.push((await tokenRequest(t.app, { id: c.client.clientId, secret: c.secret }, { grant_type: 'client_credentials' })).statusCode);
        if (i === 0) void t.storage.audit.flush();
      }
      expect({ answers, queued: (t.storage.audit as AuditWriter).queued > 0 }).toEqual({ answers: [200, 200, 200], queued: true });
    } finally {
      release();
      rows.insert = original;
    }
    const { events } = await t.storage.audit.list('default', { type: 'token.issued', since: Math.floor(clock.ms / 1000), limit: 100 });
    expect(events.filter((e) => e.detail.grant_type === 'client_credentials').length).toBeGreaterThanOrEqual(3);
  });

  it('closing the app writes what is queued', async () => {
    const other = await startTestApp(backend, { clock });
    const url = other.database.url;
    try {
      await recordAudit(other.services, 'default', { type: 'client.deleted', actor: 'operator', clientId: 'queued-at-close' });
      expect((other.storage.audit as AuditWriter).queued).toBe(1);
      await other.app.close();
      expect((other.storage.audit as AuditWriter).queued).toBe(0);
      const reader = await openStorage(url);
      try {
        const { events } = await reader.audit.list('default', { clientId: 'queued-at-close', limit: 5 });
        expect(events.map((e) => [e.type, e.actor])).toEqual([['client.deleted', 'operator']]);
      } finally {
        await reader.close();
      }
    } finally {
      await other.storage.close();
      await other.database.drop();
    }
  });

  it('events of a tenant deleted before its batch is written go with it; the rest of the batch is written', async () => {
    await createTenant(t.deps, { id: 'short-lived' });
    await t.storage.audit.flush();
    const failed = vi.spyOn(t.services.log, 'error');
    try {
      await recordAudit(t.services, 'short-lived', { type: 'client.created', actor: 'operator', clientId: 'gone-with-tenant' });
      await recordAudit(t.services, 'default', { type: 'client.created', actor: 'operator', clientId: 'same-batch' });
      expect((t.storage.audit as AuditWriter).queued).toBe(2);
      await deleteTenant(t.deps, 'short-lived');
      const { events } = await t.storage.audit.list('default', { clientId: 'same-batch', limit: 5 });
      expect({ types: events.map((e) => e.type), failures: failed.mock.calls.length }).toEqual({ types: ['client.created'], failures: 0 });
    } finally {
      failed.mockRestore();
    }
  });

  it('retention removes every tenant’s events older than the configured days, and keeps the rest', async () => {
    await createTenant(t.deps, { id: 'kept' });
    const day = 86400;
    const start = Math.floor(clock.ms / 1000);
    await recordAudit(t.services, 'kept', { type: 'user.created', actor: 'operator', detail: { age: 'old' } });
    clock.advance(10 * day);
    await recordAudit(t.services, 'kept', { type: 'user.updated', actor: 'operator', detail: { age: 'recent' } });
    clock.advance(21 * day);
    // 31 days after the first event: with 30 days of retention only it goes.
    const removed = await removeOldAuditEvents(t.services, 30);
    const left = (await t.storage.audit.list('kept', { since: start, limit: 10 })).events.map((e) => e.detail.age);
    expect({ removedSome: removed >= 1, left }).toEqual({ removedSome: true, left: ['recent'] });
    expect(await removeOldAuditEvents(t.services, 30)).toBe(0);
    clock.advance(day);
    expect({ removed: await removeOldAuditEvents(t.services, 21), left: (await t.storage.audit.list('kept', { limit: 10 })).events }).toEqual({ removed: 1, left: [] });
  });

  it('filters by actor, user, client and a time range, alone and together, and pages within the filter', async () => {
    await createTenant(t.deps, { id: 'filters' });
    const t0 = Math.floor(clock.ms / 1000);
    const put = async (actor: string, userId: string | undefined, clientId: string | undefined) => {
      await recordAudit(t.services, 'filters', { type: 'token.issued', actor, userId, clientId, detail: { at: Math.floor(clock.ms / 1000) - t0 } });
      clock.advance(10);
    };
    await put('app-1', 'u-1', 'app-1');
    await put('app-2', 'u-1', 'app-2');
    await put('app-1', 'u-2', 'app-1');
    await put('operator', 'u-2', undefined);
    const at = async (q: Partial<Parameters<TestApp['storage']['audit']['list']>[1]>) =>
      (await t.storage.audit.list('filters', { limit: 10, ...q })).events.map((e) => e.detail.at);
    expect(await at({ actor: 'app-1' })).toEqual([20, 0]);
    expect(await at({ userId: 'u-2' })).toEqual([30, 20]);
    expect(await at({ clientId: 'app-2' })).toEqual([10]);
    expect(await at({ since: t0 + 10, until: t0 + 30 })).toEqual([20, 10]);
    expect(await at({ userId: 'u-1', clientId: 'app-1' })).toEqual([0]);
    expect(await at({ actor: 'nobody' })).toEqual([]);
    const first = await t.storage.audit.list('filters', { actor: 'app-1', limit: 1 });
    const second = await t.storage.audit.list('filters', { actor: 'app-1', limit: 1, cursor: first.nextCursor });
    expect([first.events[0].detail.at, second.events[0].detail.at, second.nextCursor]).toEqual([20, 0, undefined]);
  });
});

describe('TESSERA_AUDIT_RETENTION_DAYS', () => {
  it('defaults to 90 days, takes a whole number of days, and refuses anything else', () => {
    expect(loadConfig({}).auditRetentionDays).toBe(90);
    expect(loadConfig({ TESSERA_AUDIT_RETENTION_DAYS: '365' }).auditRetentionDays).toBe(365);
    for (const bad of ['0', '-1', '1.5', 'forever']) {
      expect(() => loadConfig({ TESSERA_AUDIT_RETENTION_DAYS: bad }), bad).toThrow(/^invalid configuration: TESSERA_AUDIT_RETENTION_DAYS: /);
    }
  });
});
