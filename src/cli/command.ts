import type { Config } from '../config.js';
import type { ManageDeps } from '../manage/tenants.js';
import type { Options, Values } from './args.js';

/** What a command needs from its surroundings, opened only when it asks. */
export interface CliEnv {
  config(): Config;
  deps(): Promise<ManageDeps>;
  /** Reads the whole of standard input (for --password-stdin and the like). */
  stdin(): Promise<string>;
}

export interface CommandResult {
  /** Printed with --json: one JSON object. */
  json: unknown;
  /** Printed otherwise. */
  text: string;
}

export interface Command {
  /** Words that select it, e.g. "client create". */
  name: string;
  usage: string;
  options: Options;
  /** What its positional argument is ("CLIENT_ID"), if it takes one; named in usage errors. */
  positional?: string;
  /** How many positional arguments it takes at most: one more is a usage error, not silently ignored. */
  arguments: number;
  run(args: { values: Values; positionals: string[]; env: CliEnv }): Promise<CommandResult | 'long-running'>;
}

/** Human output: `key: value` lines, lists joined. */
export function describe(record: Record<string, unknown>): string {
  return Object.entries(record)
    .filter(([, v]) => v !== null && v !== undefined && !(Array.isArray(v) && v.length === 0) && v !== '')
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : x)).join(', ') : typeof v === 'object' ? JSON.stringify(v) : v}`)
    .join('\n');
}

/** Human output for lists: one row each. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cells = [columns, ...rows.map((r) => columns.map((c) => String(Array.isArray(r[c]) ? (r[c] as unknown[]).join(' ') : r[c] ?? '')))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) => row.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}
