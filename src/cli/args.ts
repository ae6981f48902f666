import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InputError } from '../errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export class UsageError extends Error {}

/**
 * Parses a command's arguments. `positional` names what the command takes besides options
 * (e.g. "CLIENT_ID"): a value starting with "-" (ids made before ids began with a letter or
 * digit) only counts as one after `--`, and the error says so.
 */
export function parse(args: string[], options: Options, positional?: string): { values: Values; positionals: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    const unknown = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /^Unknown option '([^']+)'/.exec(e.message)?.[1] : undefined;
    if (unknown === undefined) throw new UsageError(e.message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
    // parseArgs names the first unknown letter of a group ("-H" of "-HVhUB0"); show the whole word.
    const word = args.slice(0, args.includes('--') ? args.indexOf('--') : undefined).find((a) => a.startsWith(unknown)) ?? unknown;
    throw new UsageError(`Unknown option '${unknown}'.` + (positional ? ` If ${word} is the ${positional}, put it after --, as in: -- ${word}` : ''));
  }
  const values = parsed.values as Values;
  // No C string holds one, and PostgreSQL text refuses it: say so before anything is stored.
  for (const [name, v] of Object.entries(values)) {
    if ([v].flat().some((s) => typeof s === 'string' && s.includes('\u0000'))) throw new InputError(`--${name} must not contain a NUL character`);
  }
  if (parsed.positionals.some((p) => p.includes('\u0000'))) throw new InputError('an argument must not contain a NUL character');
  for (const name of Object.keys(options)) {
    // Node 20's parseArgs has no allowNegative: --no-X is an option of its own.
    if (name.startsWith('no-') && values[name] === true && values[name.slice(3)] === true) {
      throw new UsageError(`give --${name.slice(3)} or --${name}, not both`);
    }
  }
  return { values, positionals: parsed.positionals };
}

export const str = (v: Values, name: string): string | undefined => v[name] as string | undefined;
export const list = (v: Values, name: string): string[] | undefined => v[name] as string[] | undefined;
export const flag = (v: Values, name: string): boolean | undefined => v[name] as boolean | undefined;

/** `--X` → true, `--no-X` → false, neither → undefined (both is refused by `parse`). */
export const toggle = (v: Values, name: string): boolean | undefined => (v[name] === true ? true : v[`no-${name}`] === true ? false : undefined);

export function required(v: Values, name: string): string {
  const s = str(v, name);
  if (s === undefined || s === '') throw new UsageError(`--${name} is required`);
  return s;
}

/** `a,b` or `"a b"` → ['a', 'b']. */
export function split(value: string | undefined, by: RegExp): string[] | undefined {
  return value === undefined ? undefined : value.split(by).map((s) => s.trim()).filter(Boolean);
}

export function int(v: Values, name: string): number | undefined {
  const s = str(v, name);
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s)) throw new InputError(`--${name} must be a whole number, not ${JSON.stringify(s)}`);
  return Number(s);
}

/** `--X on|off` (also true/false, yes/no) → a boolean; absent → undefined. */
export function onOff(v: Values, name: string): boolean | undefined {
  const s = str(v, name);
  if (s === undefined) return undefined;
  if (/^(on|true|yes)$/i.test(s)) return true;
  if (/^(off|false|no)$/i.test(s)) return false;
  throw new InputError(`--${name} must be on or off, not ${JSON.stringify(s)}`);
}

export function positional(positionals: string[], index: number, what: string): string {
  const p = positionals[index];
  if (p === undefined) throw new UsageError(`${what} is required`);
  return p;
}
