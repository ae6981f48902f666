/**
 * Heart-rate readings per user, in memory: the latest one of each, and listeners for the
 * real-time stream. A reading is Pulsoid's shape: `{ measured_at, data: { heart_rate } }`.
 */
import { EventEmitter } from 'node:events';

export function readingStore() {
  const latest = new Map();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  return {
    latest: (subject) => latest.get(subject),
    record(subject, reading) {
      latest.set(subject, reading);
      events.emit(subject, reading);
    },
    /** Calls `listener` with each new reading of `subject`; returns the unsubscribe function. */
    subscribe(subject, listener) {
      events.on(subject, listener);
      return () => events.off(subject, listener);
    },
    /** Subjects someone is listening to right now. */
    listened: () => events.eventNames().filter((s) => events.listenerCount(s) > 0),
  };
}

/**
 * A stand-in sensor for the demo: every `intervalMs`, a reading that wanders around 70 bpm for
 * each user whose stream is open. Off in tests (HEART_RATE_SIMULATE=0), which write readings.
 */
export function simulate(store, { intervalMs = 1000, now = () => Date.now() } = {}) {
  const rates = new Map();
  const timer = setInterval(() => {
    for (const subject of store.listened()) {
      const previous = rates.get(subject) ?? 70;
      const next = Math.max(50, Math.min(180, Math.round(previous + (Math.random() - 0.5) * 6)));
      rates.set(subject, next);
      store.record(subject, { measured_at: now(), data: { heart_rate: next } });
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
