/**
 * The docs are tested: every shell example of every page under docs/ runs, in order, in one
 * bash session per page against a fresh Tessera started for that page, and its output must
 * have the shape of the response the page shows after it (see test/support/doctest.ts for
 * the conventions: hidden `<!-- doctest:setup -->` blocks, `<!-- doctest:skip reason -->`).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compareResponse, parsePage, runSteps, type Step } from './support/doctest.js';
import { freePort, startServer } from './support/server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DOCS = join(ROOT, 'docs');
const BIN = join(ROOT, 'bin', 'tessera.js');
const SUPPORT = join(ROOT, 'test', 'support');
/** How every example names the server. */
const DOC_BASE = 'http://localhost:9000';
/** The example APIs' default ports (docs/quickstart.md): free ports stand in for them. */
const EXAMPLE_PORTS = [4001, 4002];

type Run = Step & { from: string };

/** The steps to run for a page, with `doctest:include`d pages expanded in place (hidden). */
function expand(page: string, steps: Step[], depth = 0): Run[] {
  return steps.flatMap((s): Run[] => {
    if (s.skip) return [];
    if (!s.include) return [{ ...s, from: page }];
    if (depth > 3) throw new Error(`${page}:${s.line}: includes nest too deep`);
    const other = join(dirname(page), s.include);
    return expand(other, parsePage(readFileSync(join(DOCS, other), 'utf8')), depth + 1).map((r) => ({ ...r, hidden: true }));
  });
}

function pages(): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.md') ? [join(dir, e.name)] : []));
  return walk(DOCS).map((p) => relative(DOCS, p)).sort();
}

/**
 * The page's names for things → this run's: the server's URL, the example APIs' ports. In one
 * pass, and a port only as a whole number, so that no replacement is rewritten again (the
 * server's own port may well begin with 4001).
 */
type Rewrites = [string, string][];
function rewrite(text: string, rewrites: Rewrites): string {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(rewrites.map(([from]) => `${escape(from)}(?!\\d)`).join('|'), 'g');
  return text.replace(re, (m) => rewrites.find(([from]) => from === m)![1]);
}

/** Runs a page's examples against a fresh server; returns what differs from the page. */
async function runPage(page: string, steps: Step[]): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-doctest-'));
  const outbox = join(dir, 'outbox');
  // Scripts a page has the reader save here import the project's dependencies (jose, ws).
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const server = await startServer({ env: { TESSERA_OUTBOX_DIR: outbox }, startTimeoutMs: 60_000 }).catch((err) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  try {
    const ports = await Promise.all(EXAMPLE_PORTS.map(() => freePort()));
    const rewrites: Rewrites = [[DOC_BASE, server.baseUrl], ...EXAMPLE_PORTS.map((p, i): [string, string] => [`localhost:${p}`, `localhost:${ports[i]}`])];
    const all = expand(page, steps);
    const prelude = [
      // `npx tessera …` as the docs write it, without npx's start-up cost.
      // A running server sees CLI changes within a second (its configuration cache checks a
      // version counter): a reader is slower than that. The doc test notes when the CLI last
      // changed something, and the next curl waits until 1.1 s have passed since.
      `npx() { if [ "$1" = tessera ]; then shift; node "$TESSERA_BIN" "$@"; local s=$?; case " $* " in *" list "*|*" show "*|*" issue "*) ;; *) export DOCTEST_CHANGED=$(date +%s%3N);; esac; return $s; else command npx "$@"; fi; }`,
      `doctest_settle() { [ -n "\${DOCTEST_CHANGED:-}" ] || return 0; local left=$(( DOCTEST_CHANGED + 1100 - $(date +%s%3N) )); [ "$left" -le 0 ] || sleep "$(printf '%d.%03d' $((left / 1000)) $((left % 1000)))"; }`,
      'curl() { doctest_settle; command curl "$@"; }',
      'export -f npx doctest_settle curl',
      // For hidden setup blocks: what a browser does (sign in, consent; prints where it lands)…
      `doctest_browser() { bash "$DOCTEST_SUPPORT/doctest-browser.sh" "$@"; }`,
      // …and a parameter of a redirect URL (query or fragment).
      `doctest_param() { sed -nE "s/.*[?#&]$1=([^&]*).*/\\1/p" <<<"$2"; }`,
    ].join('\n');
    const { results, raw } = await runSteps(
      all.map((s) => ({ code: rewrite(s.code, rewrites) })),
      {
        cwd: dir,
        dir: mkdtempSync(join(dir, 'steps-')),
        prelude,
        timeoutMs: 150_000,
        env: {
          PATH: `${join(ROOT, 'node_modules', '.bin')}:${process.env.PATH}`,
          HOME: process.env.HOME,
          LANG: 'C.UTF-8',
          TESSERA_BIN: BIN,
          TESSERA_PUBLIC_URL: server.baseUrl,
          DATABASE_URL: server.database.url,
          TESSERA_OUTBOX_DIR: outbox,
          TESSERA_REPO: ROOT,
          DOCTEST_SUPPORT: SUPPORT,
          DOCTEST_JAR: join(dir, 'cookies.txt'),
          ...Object.fromEntries(EXAMPLE_PORTS.map((p, i) => [`DOCTEST_PORT_${p}`, String(ports[i])])),
        },
      },
    );
    const problems: string[] = [];
    all.forEach((s, i) => {
      const r = results[i];
      const where = `${s.from}:${s.line}${s.hidden ? ' (setup)' : ''}`;
      const context = () => `\n    stdout: ${r.stdout.trim().slice(0, 600)}\n    stderr: ${r.stderr.trim().slice(0, 600)}`;
      if (r.exit === null) {
        problems.push(`${where}: did not run to its end${context()}\n    bash stderr tail: ${raw.stderr.slice(-600)}`);
        return;
      }
      if (s.exit >= 0 && r.exit !== s.exit) problems.push(`${where}: exit status ${r.exit}, expected ${s.exit}${context()}`);
      if (s.expected && !s.hidden) {
        const diffs = compareResponse({ ...s.expected, text: rewrite(s.expected.text, rewrites) }, r.stdout);
        if (diffs.length) problems.push(`${where} → response at line ${s.expected.line}:\n    ${diffs.join('\n    ')}${context()}`);
      }
    });
    return problems;
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** At most two pages at a time: each is a server plus a shell full of node and curl processes. */
let running = 0;
const waiting: (() => void)[] = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  while (running >= 2) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

describe.concurrent('docs examples', () => {
  for (const page of pages()) {
    const text = readFileSync(join(DOCS, page), 'utf8');
    const steps = parsePage(text);
    const shown = steps.filter((s) => !s.hidden);
    const run = steps.filter((s) => !s.skip && !s.include);
    const skipped = shown.filter((s) => s.skip).map((s) => `${s.line} (${s.skip})`);
    const title = `${page}: ${shown.length - skipped.length}/${shown.length} examples run${skipped.length ? `; skipped at lines ${skipped.join(', ')}` : ''}`;
    if (!run.some((s) => !s.hidden)) {
      it(title, () => {
        // Nothing to run; the page's documented responses must still parse.
        for (const s of steps) if (s.expected) expect(() => compareResponse(s.expected!, '{}')).not.toThrow();
      });
      continue;
    }
    it(title, { timeout: 240_000 }, async () => {
      const problems = await limited(() => runPage(page, steps));
      expect(problems, problems.join('\n\n')).toEqual([]);
    });
  }
});
