import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../schema.js';
import { InputError } from '../../errors.js';
import { isUniqueViolation } from '../database.js';

export type Q = Kysely<Database> | Transaction<Database>;

/** Bumps the config version inside the caller's transaction, so per-node caches refresh. */
export async function bumpConfigVersion(trx: Q): Promise<void> {
  await trx.updateTable('meta').set((eb) => ({ value: eb('value', '+', 1) })).where('key', '=', 'config_version').execute();
}

/**
 * The end of an admin write: bumps the configuration version only if `changed` rows (of the
 * update or delete just run) is not zero, so a refused change to an unknown row makes no node
 * reload. Returns whether anything changed.
 */
export async function bumpIfChanged(trx: Q, changed: bigint): Promise<boolean> {
  if (Number(changed) === 0) return false;
  await bumpConfigVersion(trx);
  return true;
}

/** Runs `fn`, turning a unique violation into a conflict the caller can show. */
export async function uniquely<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isUniqueViolation(err)) throw new InputError(`${what} already exists`, 'conflict');
    throw err;
  }
}

export const json = (v: unknown): string => JSON.stringify(v);
export const parse = <T>(v: string | null): T => (v === null ? null : JSON.parse(v)) as T;
