/**
 * Real HTTP for the race and crash tests (issue 11): one request over a loopback socket,
 * answered in the shape app.inject answers (statusCode, headers, body, json()), so the same
 * views compare both; and the bookkeeping of a load run that a crash interrupts — only
 * responses received whole count as issued.
 */

/** A request as app.inject takes it: a path on `base`, a string payload. */
export interface Sent {
  method?: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  payload?: string;
}

/** What app.inject's response offers, as far as the tests read it. */
export interface Received {
  statusCode: number;
  headers: Record<string, string | undefined>;
  body: string;
  json(): any;
}

/** One request on its own fetch; redirects are answers, not followed; gives up after `timeoutMs`. `cookies`: the name=value pairs it set. */
export async function httpRequest(base: string, req: Sent, timeoutMs = 30_000): Promise<Received & { cookies: string[] }> {
  const res = await fetch(`${base}${req.url}`, {
    method: req.method ?? 'GET',
    headers: req.headers,
    body: req.payload,
    redirect: 'manual',
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = await res.text();
  const headers: Record<string, string | undefined> = {};
  res.headers.forEach((value, name) => (headers[name] = value));
  const cookies = res.headers.getSetCookie().map((c) => c.split(';', 1)[0]);
  return { statusCode: res.status, headers, body, json: () => JSON.parse(body), cookies };
}

/**
 * Runs `loop` on `workers` concurrent workers until `signal` aborts, each worker calling it
 * again as soon as it returns. A loop that throws (the server died under it) ends its worker;
 * the result says how many iterations finished and the first few errors.
 */
export async function runWorkers(workers: number, signal: AbortSignal, loop: (worker: number) => Promise<void>): Promise<{ iterations: number; errors: string[] }> {
  let iterations = 0;
  const errors: string[] = [];
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (!signal.aborted) {
        try {
          await loop(worker);
          iterations++;
        } catch (err) {
          if (errors.length < 5) errors.push(String(err));
          return;
        }
      }
    }),
  );
  return { iterations, errors };
}

/** `fn` over `items`, at most `limit` at a time, results in order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]);
      }
    }),
  );
  return results;
}
