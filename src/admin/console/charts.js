import { h, s } from './dom.js';

const HOUR = 3600;

/** Counts of events per hour over the last 24 hours, oldest first: `{ start, count }[]`. */
export function hourly(events, now = Math.floor(Date.now() / 1000)) {
  const end = Math.floor(now / HOUR) * HOUR + HOUR;
  const buckets = Array.from({ length: 24 }, (_, i) => ({ start: end - (24 - i) * HOUR, count: 0 }));
  for (const e of events) {
    const i = Math.floor((e.at - buckets[0].start) / HOUR);
    if (i >= 0 && i < 24) buckets[i].count++;
  }
  return buckets;
}

/** A bar chart as inline SVG: one bar per hour, labelled with its UTC hour and count. */
export function barChart({ title, cls, buckets }) {
  const W = 480, H = 160, top = 14, bottom = 20, left = 28;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const slot = (W - left) / buckets.length;
  const total = buckets.reduce((n, b) => n + b.count, 0);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: `chart ${cls}`, role: 'img', 'aria-label': `${title}: ${total} in the last 24 hours` },
    s('line', { class: 'axis', x1: left, y1: H - bottom, x2: W, y2: H - bottom }),
    s('text', { x: 0, y: top, }, String(max)),
    s('text', { x: 0, y: H - bottom }, '0'),
    buckets.map((b, i) => {
      const height = ((H - top - bottom) * b.count) / max;
      const hour = new Date(b.start * 1000).getUTCHours();
      return [
        s('rect', { class: 'bar', x: (left + i * slot + 1).toFixed(1), y: (H - bottom - height).toFixed(1), width: (slot - 2).toFixed(1), height: height.toFixed(1), 'data-count': b.count, 'data-hour': hour },
          s('title', {}, `${String(hour).padStart(2, '0')}:00 UTC: ${b.count}`)),
        i % 3 === 0 ? s('text', { x: (left + i * slot).toFixed(1), y: H - 5 }, `${String(hour).padStart(2, '0')}h`) : null,
      ];
    }));
  return h('figure', { class: 'chart', 'data-chart': cls }, h('figcaption', {}, `${title} `, h('span', { class: 'muted total' }, `(${total})`)), svg);
}
