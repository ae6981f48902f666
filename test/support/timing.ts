import { expect } from 'vitest';

/**
 * SECURITY-CHECKLIST 56: `attempt(username)` (a sign-in with a wrong password, returning its
 * duration in ms) must take about as long for an unknown user as for a known one. Both paths
 * are warmed up (the dummy hash is made on first use), then the medians of 9 alternating
 * attempts are compared: argon2 must be paid on both (> 3 ms), within a factor of two.
 */
export async function expectSameTimeForUnknownUser(
  attempt: (username: string) => Promise<number>,
  known = 'alice',
  /**
   * `minMs`: the known path must cost at least this (3 ms: an argon2 verification); 0 for
   * answers that do no password work (a reset request). `slackMs`: absolute tolerance on top
   * of the factor of two, for sub-millisecond answers where scheduling noise dominates.
   */
  { minMs = 3, slackMs = 0 }: { minMs?: number; slackMs?: number } = {},
): Promise<void> {
  await attempt(known);
  await attempt('nobody-warmup');
  const knownMs: number[] = [];
  const unknownMs: number[] = [];
  for (let i = 0; i < 9; i++) {
    knownMs.push(await attempt(known));
    unknownMs.push(await attempt(`nobody-${i}`));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const k = median(knownMs);
  const u = median(unknownMs);
  const message = `unknown user ${u.toFixed(1)} ms vs wrong password ${k.toFixed(1)} ms`;
  expect(k).toBeGreaterThan(minMs);
  expect(u, message).toBeGreaterThanOrEqual(k / 2 - slackMs);
  expect(u, message).toBeLessThanOrEqual(k * 2 + slackMs);
}
