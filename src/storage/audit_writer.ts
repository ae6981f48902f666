import type { AuditRows, AuditStore } from './stores.js';
import type { AuditEvent } from './types.js';

export interface AuditWriterOptions {
  /** The longest an event waits in memory before it is written. */
  delayMs?: number;
  /** A queue this long is written at once, without waiting for the delay. */
  maxQueued?: number;
  log?: { error(obj: object, msg: string): void };
}

/** ~150 ms: an operator never notices, and a busy token endpoint writes a few INSERTs a second. */
const DELAY_MS = 150;
const MAX_QUEUED = 200;

const stderrLog = { error: (obj: object, msg: string) => console.error(`tessera: ${msg} ${JSON.stringify(obj)}`) };

/**
 * Audit events are queued in memory and written in batches, one multi-row INSERT per batch, so
 * no request waits for an audit write (the token endpoint's throughput is the product). The
 * price: events of the last fraction of a second are lost if the process dies unannounced;
 * a graceful stop (`app.close()`, `storage.close()`, the end of a CLI command) writes them.
 *
 * Batches are written one after another, in the order queued. A failed batch is retried once,
 * then logged (count and types, never a detail) and dropped: the requests it describes have
 * already been answered, and a server that crashed over an audit row would serve nobody.
 * Reads (`list`) first write what is queued, so this process always sees its own events.
 */
export class AuditWriter implements AuditStore {
  private queue: AuditEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private log: { error(obj: object, msg: string): void };
  private readonly delayMs: number;
  private readonly maxQueued: number;

  constructor(readonly rows: AuditRows, options: AuditWriterOptions = {}) {
    this.delayMs = options.delayMs ?? DELAY_MS;
    this.maxQueued = options.maxQueued ?? MAX_QUEUED;
    this.log = options.log ?? stderrLog;
  }

  useLog(log: { error(obj: object, msg: string): void }): void {
    this.log = log;
  }

  /** Queues the event; the returned promise is already settled (nothing here awaits storage). */
  record(event: AuditEvent): Promise<void> {
    this.queue.push(event);
    if (this.queue.length >= this.maxQueued) void this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => void this.flush(), this.delayMs);
      // A pending batch never keeps a process alive; closing the storage writes it.
      this.timer.unref();
    }
    return Promise.resolve();
  }

  /** How many events wait in memory (tests, and a clean shutdown's log line). */
  get queued(): number {
    return this.queue.length;
  }

  flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    this.queue = [];
    // Chained: batches land in order, and flush() also waits for the batch already being written.
    this.writing = this.writing.then(() => (batch.length ? this.write(batch) : undefined));
    return this.writing;
  }

  /** One batch, at most maxQueued events (record() flushes at that size): one INSERT, retried once. */
  private async write(batch: AuditEvent[]): Promise<void> {
    try {
      await this.rows.insert(batch);
    } catch {
      try {
        // One INSERT is atomic, so a retry never writes an event twice.
        await this.rows.insert(batch);
      } catch (err) {
        // Only the message: a driver's error object may quote the statement's values.
        const reason = err instanceof Error ? err.message.slice(0, 200) : 'unknown error';
        this.log.error({ err: { message: reason }, events: batch.length, types: [...new Set(batch.map((e) => e.type))].sort() }, 'audit events not recorded');
      }
    }
  }

  async insert(events: AuditEvent[]): Promise<void> {
    await this.flush();
    await this.rows.insert(events);
  }

  async list(tenantId: string, query: Parameters<AuditRows['list']>[1]): ReturnType<AuditRows['list']> {
    await this.flush();
    return this.rows.list(tenantId, query);
  }

  async deleteBefore(before: number): Promise<number> {
    await this.flush();
    return this.rows.deleteBefore(before);
  }
}
