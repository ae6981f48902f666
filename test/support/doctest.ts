/**
 * The docs as tests: the fenced shell examples of a Markdown page, run in order in one bash
 * session against a live server, each compared with the response the page shows after it.
 *
 * A page is read as a sequence of steps:
 * - a fenced ```bash (or ```sh) block is a step; the fenced block right after it (only blank
 *   lines between) is its documented response when it is ```json, or a plain ``` block that
 *   begins with an `HTTP/1.1 …` status line (`curl -i`: status, headers, blank line, body);
 * - `<!-- doctest:setup … -->`: an HTML comment (Markdown does not render it) whose body is
 *   bash run at that point, unchecked (`$DOCTEST_OUT` is the previous block's stdout): values a
 *   reader gets from the steps before, or a browser step (sign-in, consent) driven with curl by
 *   test/support/doctest-browser.sh;
 * - a plain ``` block that begins with `$ ` is a terminal transcript: each `$ command` is a step
 *   whose output (stdout and stderr) must be the lines after it, `…` matching anything;
 * - `<!-- doctest:include PATH -->`: the examples of another page (relative to this one) run
 *   here, unchecked — the setup the flow pages share with the flows index;
 * - `<!-- doctest:file NAME -->` right before a fenced block (a script the page has the reader
 *   save): the block is written to NAME in the working directory;
 * - `<!-- doctest:skip REASON -->` right before a block: that block is not run (the report
 *   lists it);
 * - `<!-- doctest:exit N -->` right before a block: the block's last command is expected to
 *   exit with N (default 0).
 *
 * Shapes, not values: the documented JSON's keys must be the actual keys (a subset where the
 * page elides members with `…`), with the same types; stable literals (error codes and
 * descriptions, `token_type`, `scope`, booleans, null) must be equal; values that differ on
 * every run (ids, secrets, tokens, times) are compared by type; a string cut short with `…`
 * matches by its prefix unless it is such a value. For an HTTP block, the status code and the
 * documented header names must match, and the body as JSON above.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Step {
  /** 1-based line of the block's opening fence (or of the comment). */
  line: number;
  code: string;
  /** Hidden setup: run, never compared. */
  hidden: boolean;
  skip?: string;
  exit: number;
  /** `<!-- doctest:include PATH -->`: run that page's examples here, unchecked (a shared setup). */
  include?: string;
  expected?: { kind: 'json' | 'http' | 'text'; text: string; line: number };
}

const FENCE = /^(\s*)(`{3,})\s*([\w-]*)\s*$/;

export function parsePage(markdown: string): Step[] {
  const lines = markdown.split('\n');
  const steps: Step[] = [];
  let pendingSkip: string | undefined;
  let pendingExit = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const setup = /^\s*<!--\s*doctest:setup\s*$/.exec(line);
    if (setup) {
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && !/^\s*-->\s*$/.test(lines[i]); i++) body.push(lines[i]);
      steps.push({ line: start + 1, code: body.join('\n'), hidden: true, exit: 0 });
      continue;
    }
    const include = /^\s*<!--\s*doctest:include\s+(\S+)\s*-->\s*$/.exec(line);
    if (include) {
      steps.push({ line: i + 1, code: '', hidden: true, exit: 0, include: include[1] });
      continue;
    }
    const skip = /^\s*<!--\s*doctest:skip\b\s*(.*?)\s*-->\s*$/.exec(line);
    if (skip) {
      pendingSkip = skip[1] || 'no reason given';
      continue;
    }
    const file = /^\s*<!--\s*doctest:file\s+(\S+)\s*-->\s*$/.exec(line);
    if (file) {
      // The next fenced block is a file the page has the reader save: write it to the working directory.
      let j = i + 1;
      while (j < lines.length && lines[j].trim() === '') j++;
      if (!FENCE.exec(lines[j] ?? '')) throw new Error(`line ${i + 1}: doctest:file must come right before a fenced block`);
      const block = readFence(lines, j);
      steps.push({ line: j + 1, code: `cat > '${file[1]}' <<'DOCTEST_EOF'\n${block.body}\nDOCTEST_EOF`, hidden: true, exit: 0 });
      i = block.end;
      continue;
    }
    const exit = /^\s*<!--\s*doctest:exit\s+(\d+)\s*-->\s*$/.exec(line);
    if (exit) {
      pendingExit = Number(exit[1]);
      continue;
    }
    const fence = FENCE.exec(line);
    if (!fence) continue;
    const block = readFence(lines, i);
    i = block.end;
    if (fence[3] === '' && block.body.trimStart().startsWith('$ ')) {
      // A terminal transcript: each `$ command` runs (its stderr with its stdout), and the lines
      // after it are its output, compared as text (… matches anything); any exit status.
      const body = block.body.split('\n');
      for (let k = 0; k < body.length; k++) {
        if (!body[k].startsWith('$ ')) continue;
        const output: string[] = [];
        let m = k + 1;
        for (; m < body.length && !body[m].startsWith('$ '); m++) output.push(body[m]);
        steps.push({
          line: block.start + 2 + k, code: `{\n${body[k].slice(2)}\n} 2>&1`, hidden: false, exit: -1,
          ...(pendingSkip !== undefined && { skip: pendingSkip }),
          expected: { kind: 'text', text: output.join('\n'), line: block.start + 3 + k },
        });
        k = m - 1;
      }
    } else if (fence[3] === 'bash' || fence[3] === 'sh') {
      const step: Step = { line: block.start + 1, code: block.body, hidden: false, exit: pendingExit };
      if (pendingSkip !== undefined) step.skip = pendingSkip;
      // The documented response: the very next fenced block.
      let j = i + 1;
      while (j < lines.length && lines[j].trim() === '') j++;
      const next = j < lines.length ? FENCE.exec(lines[j]) : null;
      if (next) {
        const resp = readFence(lines, j);
        if (next[3] === 'json') step.expected = { kind: 'json', text: resp.body, line: j + 1 };
        else if (next[3] === '' && /^HTTP\/[\d.]+ \d{3}/.test(resp.body.trimStart())) step.expected = { kind: 'http', text: resp.body, line: j + 1 };
        if (step.expected) i = resp.end;
      }
      steps.push(step);
    }
    pendingSkip = undefined;
    pendingExit = 0;
  }
  return steps;
}

function readFence(lines: string[], start: number): { start: number; end: number; body: string } {
  const [, indent, ticks] = FENCE.exec(lines[start])!;
  const body: string[] = [];
  let i = start + 1;
  for (; i < lines.length; i++) {
    if (lines[i].trim() === ticks) break;
    body.push(lines[i].startsWith(indent) ? lines[i].slice(indent.length) : lines[i]);
  }
  return { start, end: i, body: body.join('\n') };
}

// ---------------------------------------------------------------------------------------------
// Running a page

export interface StepResult {
  stdout: string;
  stderr: string;
  exit: number | null;
}

/**
 * Runs the steps in one bash session (so variables persist from block to block) and returns
 * each one's stdout, stderr and exit status, kept in files of `dir`. After each step,
 * `$DOCTEST_OUT` holds its stdout, for a hidden setup block to pick values from. Background
 * jobs a page starts are killed with the session's process group.
 */
export async function runSteps(
  steps: { code: string }[],
  opts: { env: NodeJS.ProcessEnv; cwd: string; dir: string; prelude?: string; timeoutMs: number },
): Promise<{ results: StepResult[]; raw: { stdout: string; stderr: string; code: number | null } }> {
  const parts = [opts.prelude ?? ''];
  steps.forEach((s, i) => {
    const f = join(opts.dir, `step-${i}`);
    parts.push(`{\n${s.code}\n} >'${f}.out' 2>'${f}.err' </dev/null`, `echo $? >'${f}.exit'`, `DOCTEST_OUT=$(cat '${f}.out')`);
  });
  const script = parts.join('\n') + '\nexit 0\n';
  const raw = await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve, reject) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-s'], { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      stderr += `\n[doctest] timed out after ${opts.timeoutMs / 1000} s\n`;
      killGroup();
    }, opts.timeoutMs);
    child.on('error', reject);
    // Background jobs may outlive bash: end at bash's exit, and take them down with it.
    child.on('exit', (code) => {
      clearTimeout(timer);
      killGroup();
      resolve({ stdout, stderr, code });
    });
    child.stdin.end(script);
  });
  const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : undefined);
  const results: StepResult[] = steps.map((_, i) => {
    const f = join(opts.dir, `step-${i}`);
    const exit = read(`${f}.exit`);
    return { stdout: read(`${f}.out`) ?? '', stderr: read(`${f}.err`) ?? '', exit: exit === undefined ? null : Number(exit.trim()) };
  });
  return { results, raw };
}

// ---------------------------------------------------------------------------------------------
// Documented JSON: JSON where `…` may stand for elided members or elements.

const ELIDED = Symbol('elided');
type DocValue = null | boolean | number | string | DocValue[] | { [k: string]: DocValue };
/** Objects and arrays carry `[ELIDED]: true` when the page left members out. */
type Open = { [ELIDED]?: boolean };

export function parseDocJson(text: string): DocValue[] {
  let i = 0;
  const ws = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const fail = (what: string): never => {
    throw new Error(`documented JSON: ${what} at offset ${i}: ${JSON.stringify(text.slice(Math.max(0, i - 30), i + 30))}`);
  };
  const isEllipsis = () => text[i] === '…' || text.startsWith('...', i);
  const skipEllipsis = () => (i += text[i] === '…' ? 1 : 3);
  const value = (): DocValue => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, DocValue> & Open = {};
      for (;;) {
        ws();
        if (text[i] === '}') {
          i++;
          return obj;
        }
        if (isEllipsis()) {
          skipEllipsis();
          obj[ELIDED] = true;
        } else {
          if (text[i] !== '"') fail('expected a key');
          const key = str();
          ws();
          if (text[i] !== ':') fail('expected ":"');
          i++;
          obj[key] = value();
        }
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      i++;
      const arr: DocValue[] & Open = [];
      for (;;) {
        ws();
        if (text[i] === ']') {
          i++;
          return arr;
        }
        if (isEllipsis()) {
          skipEllipsis();
          arr[ELIDED] = true;
        } else arr.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== ']') fail('expected "," or "]"');
      }
    }
    if (c === '"') return str();
    const lit = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (!lit) return fail('unexpected character');
    i += lit[0].length;
    return JSON.parse(lit[0]);
  };
  const str = (): string => {
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i));
  };
  const out: DocValue[] = [];
  for (;;) {
    ws();
    if (i >= text.length) return out;
    out.push(value());
  }
}

/** Every JSON value printed one after another (pretty or not); undefined if the text is not that. */
export function parseJsonStream(text: string): unknown[] | undefined {
  try {
    return parseDocJson(text) as unknown[];
  } catch {
    return undefined;
  }
}

/** Keys whose values differ on every run: compared by type only. */
const VARYING_KEYS = new Set([
  'access_token', 'refresh_token', 'id_token', 'issued_token', 'client_id', 'client_secret', 'sub', 'jti', 'sid', 'kid', 'code',
  'device_code', 'user_code', 'verification_uri_complete', 'request_uri', 'session_state', 'at_hash', 'c_hash', 'password',
  'iat', 'exp', 'nbf', 'auth_time', 'created_at', 'updated_at', 'expires_at', 'last_used_at', 'expires_in', 'id', 'user_id',
  'grant_id', 'act', 'x', 'y', 'n', 'e', 'jkt', 'cnf', 'ath', 'nonce', 'dpop_nonce', 'secret', 'token', 'value',
  'login', 'at', 'created_by', 'subject_clients', 'measured_at',
]);
/** Run-specific strings wherever they appear: random ids and tokens, JWTs, timestamps. */
const VARYING_STRING = [
  /^[A-Za-z0-9_-]{16,}$/, // ids, secrets, opaque tokens
  /^ey[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*$/, // JWTs
  /^\d{4}-\d\d-\d\dT\d\d:\d\d/, // ISO times
  /^(es256|rs256|eddsa|ps256|hs256)-/i, // key ids
];

export function typeOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Differences between a documented value and an actual one, as `path: message` lines. */
export function compareShape(doc: unknown, actual: unknown, path = '$', key = ''): string[] {
  const t = typeOf(doc);
  if (t !== typeOf(actual)) return [`${path}: documented ${t} ${JSON.stringify(doc)}, got ${typeOf(actual)} ${JSON.stringify(actual)}`];
  if (t === 'object') {
    const d = doc as Record<string, unknown> & Open;
    const a = actual as Record<string, unknown>;
    const out: string[] = [];
    const missing = Object.keys(d).filter((k) => !(k in a));
    if (missing.length) out.push(`${path}: missing ${missing.join(', ')}`);
    if (!d[ELIDED]) {
      const extra = Object.keys(a).filter((k) => !(k in d));
      if (extra.length) out.push(`${path}: undocumented ${extra.join(', ')}`);
    }
    for (const k of Object.keys(d)) if (k in a) out.push(...compareShape(d[k], a[k], `${path}.${k}`, k));
    return out;
  }
  if (t === 'array') {
    const d = doc as unknown[] & Open;
    const a = actual as unknown[];
    if (VARYING_KEYS.has(key)) return [];
    if (!d[ELIDED] && d.length !== a.length) return [`${path}: documented ${d.length} elements, got ${a.length}: ${JSON.stringify(a)}`];
    if (d[ELIDED] && d.length > a.length) return [`${path}: documented at least ${d.length} elements, got ${a.length}`];
    return d.flatMap((e, idx) => compareShape(e, a[idx], `${path}[${idx}]`, key));
  }
  if (t === 'string') {
    const d = doc as string;
    const a = actual as string;
    if (VARYING_KEYS.has(key)) return [];
    const cut = d.indexOf('…');
    const stem = cut >= 0 ? d.slice(0, cut) : d;
    // Judged by the documented value: a snake_case word ("authorization_code") is a literal.
    if (!/^[a-z]+(_[a-z]+)*$/.test(stem) && VARYING_STRING.some((re) => re.test(stem))) return [];
    if (cut >= 0) return a.startsWith(stem) ? [] : [`${path}: documented "${d}", got ${JSON.stringify(a)}`];
    return d === a ? [] : [`${path}: documented ${JSON.stringify(d)}, got ${JSON.stringify(a)}`];
  }
  if (t === 'number') return []; // counts, times and lifetimes: the type is the shape
  return doc === actual ? [] : [`${path}: documented ${JSON.stringify(doc)}, got ${JSON.stringify(actual)}`];
}

/** Parses `HTTP/1.1 200 OK`, headers, a blank line and a body; the last response if several (redirects, 100 Continue). */
export function parseHttp(text: string): { status: number; headers: Map<string, string>; body: string } | undefined {
  const t = text.replace(/\r\n/g, '\n').trimStart();
  const starts = [...t.matchAll(/^HTTP\/[\d.]+ (\d{3})[^\n]*$/gm)];
  if (!starts.length) return undefined;
  // The last status line that begins a response (not a 1xx one).
  const last = [...starts].reverse().find((m) => !m[1].startsWith('1')) ?? starts[starts.length - 1];
  const rest = t.slice(last.index!);
  const [head, ...body] = rest.split('\n\n');
  const [statusLine, ...headerLines] = head.split('\n');
  const headers = new Map<string, string>();
  for (const h of headerLines) {
    const c = h.indexOf(':');
    if (c > 0) headers.set(h.slice(0, c).trim().toLowerCase(), h.slice(c + 1).trim());
  }
  return { status: Number(/ (\d{3})/.exec(statusLine)![1]), headers, body: body.join('\n\n') };
}

/** Differences between a documented response and a step's stdout. */
export function compareResponse(expected: NonNullable<Step['expected']>, stdout: string): string[] {
  if (expected.kind === 'text') {
    const pattern = expected.text.trim().split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[\\s\\S]*?');
    return new RegExp(`^${pattern}$`).test(stdout.trim()) ? [] : [`documented ${JSON.stringify(expected.text.trim())}, got ${JSON.stringify(stdout.trim())}`];
  }
  if (expected.kind === 'http') {
    const doc = parseHttp(expected.text)!;
    const got = parseHttp(stdout);
    if (!got) return [`expected an HTTP response (curl -i), got ${JSON.stringify(stdout.slice(0, 300))}`];
    const out: string[] = [];
    if (doc.status !== got.status) out.push(`status: documented ${doc.status}, got ${got.status}`);
    for (const name of doc.headers.keys()) if (!got.headers.has(name)) out.push(`header ${name}: documented, missing`);
    if (doc.body.trim()) out.push(...compareJson(doc.body, got.body));
    return out;
  }
  return compareJson(expected.text, stdout);
}

function compareJson(docText: string, actualText: string): string[] {
  const docs = parseDocJson(docText);
  const actual = parseJsonStream(actualText);
  if (!actual) return [`expected JSON, got ${JSON.stringify(actualText.slice(0, 300))}`];
  if (actual.length < docs.length) return [`documented ${docs.length} JSON values, got ${actual.length}: ${actualText.slice(0, 300)}`];
  // A block may print more than it documents (e.g. a setup command first): the last ones count.
  const tail = actual.slice(actual.length - docs.length);
  return docs.flatMap((d, i) => compareShape(d, tail[i], docs.length > 1 ? `$${i}` : '$'));
}
