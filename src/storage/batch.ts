/**
 * Group commit: writes that arrive in the same turn of the event loop are flushed together
 * in one statement (one transaction, one round trip), and each caller's promise settles only
 * when that statement has committed. Durability per caller is unchanged — nothing is
 * acknowledged before it is stored — but a busy token endpoint pays for one commit per
 * batch instead of one per token. If the statement fails, every caller in it gets the error.
 */
export function createBatcher<T>(write: (items: T[]) => Promise<void>, maxBatch: number): (item: T) => Promise<void> {
  let pending: { item: T; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let scheduled = false;

  const flush = async () => {
    scheduled = false;
    const batch = pending;
    pending = [];
    for (let i = 0; i < batch.length; i += maxBatch) {
      const chunk = batch.slice(i, i + maxBatch);
      try {
        await write(chunk.map((p) => p.item));
        for (const p of chunk) p.resolve();
      } catch (err) {
        for (const p of chunk) p.reject(err);
      }
    }
  };

  return (item) =>
    new Promise<void>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        // After the current I/O phase: every request parsed in it joins this batch.
        setImmediate(flush);
      }
    });
}
