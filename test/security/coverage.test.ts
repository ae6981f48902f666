/**
 * SECURITY-CHECKLIST coverage: every item of ../shared/SECURITY-CHECKLIST.md (1–59) has at
 * least one test in test/security/ whose name starts with its number ("N. …"), so the
 * coverage is visible in one place and a missing item fails the suite.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIR = dirname(fileURLToPath(import.meta.url));
const ITEMS = 59;

/** The checklist numbers of the tests in a source text: `it('N. …'`, `test("N. …"`, `it.each(…)(\`N. …`. */
const numbersIn = (text: string): number[] => [...text.matchAll(/\b(?:it|test)(?:\.each\([^)]*\))?\(\s*['"`]([0-9]+)\. /g)].map((m) => Number(m[1]));

/** Checklist number → the files of this folder with a test named after it. */
function coveredItems(): Map<number, string[]> {
  const covered = new Map<number, string[]>();
  // This file is left out: its own samples below would count.
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.test.ts') && f !== 'coverage.test.ts').sort()) {
    for (const n of numbersIn(readFileSync(join(DIR, file), 'utf8'))) covered.set(n, [...(covered.get(n) ?? []), file]);
  }
  return covered;
}

describe('SECURITY-CHECKLIST coverage', () => {
  it('every checklist item 1–59 has a test in test/security/ named "N. …"', () => {
    const covered = coveredItems();
    const missing = Array.from({ length: ITEMS }, (_, i) => i + 1).filter((n) => !covered.has(n));
    expect(missing, `checklist items without a test in test/security/: ${missing.join(', ')}`).toEqual([]);
  });

  it('counts only tests that run: no skipped, todo or focused test or suite in test/security/', () => {
    const offenders = readdirSync(DIR)
      .filter((f) => f.endsWith('.ts'))
      .flatMap((f) => [...readFileSync(join(DIR, f), 'utf8').matchAll(/\b(?:it|test|describe)\.(?:skip|todo|only)\(/g)].map((m) => `${f}: ${m[0]}`));
    expect(offenders).toEqual([]);
  });

  it('names no item outside the checklist', () => {
    const unknown = [...coveredItems().keys()].filter((n) => n < 1 || n > ITEMS);
    expect(unknown).toEqual([]);
  });

  it('finds numbered tests the way they are written (and not numbers in other strings)', () => {
    const sample = [
      `it('7. quoted', async () => {});`,
      `  it("12. double-quoted", () => {});`,
      'test(`59. template`, () => {});',
      "it.each(['a'])('30. each %s', () => {});",
      `it('not numbered 3. here', () => {});`,
      `expect('4. a string').toBe('4. a string');`,
    ].join('\n');
    expect(numbersIn(sample)).toEqual([7, 12, 59, 30]);
  });
});
