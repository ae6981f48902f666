import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../schema.js';
import { InputError } from '../../errors.js';
import { isUniqueViolation } from '../database.js';

export type Q = Kysely<Database> | Transaction<Database>;

/** Bumps the config version inside the caller's transaction, so per-node caches refresh. */
export async function bumpConfigVersion(trx: Q): Promise<void> {
  await trx.updateTable('meta').set((eb) => ({ value: eb('value', '+', 1) })).where('key', '=', 'config_version').execute();
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
