import { InputError } from '../errors.js';
import type { ClientRateLimit } from '../storage/types.js';

const UNITS: Record<string, number> = { s: 1, second: 1, m: 60, minute: 60, h: 3600, hour: 3600, d: 86400, day: 86400 };

/** The longest window: a day. Longer ones would hold a count (and a 429) for days after a burst. */
const MAX_WINDOW = 86400;

/**
 * A client's request rate limit as an operator writes it: `N/WINDOW`, the window in seconds
 * (`100/60`) or with a unit (`600/1m`, `5000/hour`, `10/s`); `off` (or null) removes it.
 */
export function parseRateLimit(value: string | null): ClientRateLimit | null {
  if (value === null || value.trim().toLowerCase() === 'off') return null;
  const m = /^\s*(\d+)\s*\/\s*(\d*)\s*([a-z]*)\s*$/i.exec(value);
  const unit = m && (m[3] === '' ? 1 : UNITS[m[3].toLowerCase()]);
  const count = m && (m[2] === '' ? (m[3] === '' ? NaN : 1) : Number(m[2]));
  const max = m ? Number(m[1]) : NaN;
  const windowSeconds = unit && count ? count * unit : NaN;
  if (!Number.isSafeInteger(max) || max < 1 || !Number.isSafeInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > MAX_WINDOW) {
    throw new InputError(`rate limit must be N/WINDOW with N ≥ 1 and a window of 1 s to 1 day, such as 100/60, 600/1m or 5000/hour (or off); got ${JSON.stringify(value)}`);
  }
  return { max, windowSeconds };
}

/** The canonical form: `N/SECONDS`. */
export const formatRateLimit = (limit: ClientRateLimit): string => `${limit.max}/${limit.windowSeconds}`;
