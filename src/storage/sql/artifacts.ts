import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database } from '../schema.js';
import type { ArtifactStore } from '../stores.js';
import type { Artifact, ArtifactKind } from '../types.js';
import { json, parse, uniquely } from './common.js';

export const artifactRow = (a: Artifact): Insertable<Database['artifacts']> => ({
  digest: a.digest, tenant_id: a.tenantId, kind: a.kind, grant_id: a.grantId, client_id: a.clientId,
  data: json(a.data), created_at: a.createdAt, expires_at: a.expiresAt, used_at: a.usedAt,
});

const toArtifact = (r: Selectable<Database['artifacts']>): Artifact => ({
  digest: r.digest,
  tenantId: r.tenant_id,
  kind: r.kind as ArtifactKind,
  grantId: r.grant_id,
  clientId: r.client_id,
  data: parse(r.data),
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  usedAt: r.used_at,
});

export function artifactStore(db: Kysely<Database>): ArtifactStore {
  return {
    create: (a) =>
      uniquely('artifact', async () => {
        await db.insertInto('artifacts').values(artifactRow(a)).execute();
      }),
    async find(kind, digest) {
      const r = await db.selectFrom('artifacts').selectAll().where('digest', '=', digest).where('kind', '=', kind).executeTakeFirst();
      return r && toArtifact(r);
    },
    async consume(kind, digest, now) {
      // One conditional UPDATE: the database serialises concurrent writers on the row, and
      // only the first sees `used_at is null` (SQLite: one writer at a time across
      // processes; PostgreSQL: the row lock re-checks the condition after waiting).
      const r = await db
        .updateTable('artifacts')
        .set({ used_at: now })
        .where('digest', '=', digest)
        .where('kind', '=', kind)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .returningAll()
        .executeTakeFirst();
      return r && toArtifact(r);
    },
    async swap(kind, digest, expected, next, now) {
      // The stored text is JSON.stringify of the data and `find` parses it, so stringifying
      // what `find` returned gives the stored text back: equal text is an unchanged row.
      // One conditional UPDATE, serialised on the row as `consume` is.
      const r = await db
        .updateTable('artifacts')
        .set({ data: json(next) })
        .where('digest', '=', digest)
        .where('kind', '=', kind)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .where('data', '=', json(expected))
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
  };
}
