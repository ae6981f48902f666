import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InputError } from '../errors.js';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export class UsageError extends Error {}

export function parse(args: string[], options: Options): { values: Values; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options: { ...options, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    return { values: values as Values, positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
}

export const str = (v: Values, name: string): string | undefined => v[name] as string | undefined;
export const list = (v: Values, name: string): string[] | undefined => v[name] as string[] | undefined;
export const flag = (v: Values, name: string): boolean | undefined => v[name] as boolean | undefined;

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

export function positional(positionals: string[], index: number, what: string): string {
  const p = positionals[index];
  if (p === undefined) throw new UsageError(`${what} is required`);
  return p;
}
