/**
 * The server's metrics, kept in plain Maps and written out in the Prometheus text exposition
 * format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/). Recording is
 * synchronous and, once a series exists, allocates nothing: the token endpoint's throughput is
 * the product, and every request passes through `request()`.
 *
 * Every label value comes from a bounded set: route patterns (never raw URLs), HTTP methods and
 * statuses, grant types the server supports, tenant ids, OAuth error codes.
 */

/** Upper bounds (seconds) of the request-duration buckets: fixed, Prometheus' default set. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

/** The route label of a request no route matched (404s): one series, whatever the path. */
export const UNMATCHED = 'unmatched';

/** The database pool's state, where the backend has one (pg.Pool; SQLite has none). */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** One route and method: answers per status, and the duration histogram. */
class RouteSeries {
  readonly statuses = new Map<number, number>();
  /** Per bucket, requests that fell in it (not cumulative: cumulated when written). */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
}

const nested = <V>(outer: Map<string, Map<string, V>>, key: string): Map<string, V> => {
  let inner = outer.get(key);
  if (!inner) outer.set(key, (inner = new Map()));
  return inner;
};

/** A label value escaped per the exposition format: backslash, double quote, line feed. */
const label = (v: string): string => v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));

export class Metrics {
  /** route → method → series. */
  private readonly http = new Map<string, Map<string, RouteSeries>>();
  /** grant type → tenant → tokens issued. */
  private readonly tokens = new Map<string, Map<string, number>>();
  /** OAuth error code → responses. */
  private readonly errors = new Map<string, number>();

  constructor(private readonly pool?: () => PoolStats | undefined) {}

  /** One answered request: `route` is the route pattern (or UNMATCHED), `seconds` its duration. */
  request(route: string, method: string, status: number, seconds: number): void {
    const methods = nested(this.http, route);
    let s = methods.get(method);
    if (!s) methods.set(method, (s = new RouteSeries()));
    s.statuses.set(status, (s.statuses.get(status) ?? 0) + 1);
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
    s.buckets[i]++;
    s.sum += seconds;
  }

  /** A token response (RFC 6749 §5.1) sent for `grantType` in `tenant`. */
  tokenIssued(grantType: string, tenant: string): void {
    const tenants = nested(this.tokens, grantType);
    tenants.set(tenant, (tenants.get(tenant) ?? 0) + 1);
  }

  /** An error response with this OAuth `error` code (RFC 6749 §5.2). */
  oauthError(error: string): void {
    this.errors.set(error, (this.errors.get(error) ?? 0) + 1);
  }

  /** The exposition: HELP and TYPE for every family, even one without samples yet. */
  render(): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

    family('tessera_http_requests_total', 'counter', 'HTTP requests answered, by route pattern, method and status.');
    for (const [route, methods] of this.http) {
      for (const [method, s] of methods) {
        for (const [status, n] of s.statuses) out.push(`tessera_http_requests_total{route="${label(route)}",method="${label(method)}",status="${status}"} ${n}`);
      }
    }
    family('tessera_http_request_duration_seconds', 'histogram', 'Time from receiving a request to answering it, by route pattern and method.');
    for (const [route, methods] of this.http) {
      for (const [method, s] of methods) {
        const labels = `route="${label(route)}",method="${label(method)}"`;
        let cumulative = 0;
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += s.buckets[i];
          out.push(`tessera_http_request_duration_seconds_bucket{${labels},le="${le}"} ${cumulative}`);
        });
        cumulative += s.buckets[DURATION_BUCKETS.length];
        out.push(
          `tessera_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${cumulative}`,
          `tessera_http_request_duration_seconds_sum{${labels}} ${s.sum}`,
          `tessera_http_request_duration_seconds_count{${labels}} ${cumulative}`,
        );
      }
    }
    family('tessera_tokens_issued_total', 'counter', 'Successful token responses, by grant type and tenant.');
    for (const [grantType, tenants] of this.tokens) {
      for (const [tenant, n] of tenants) out.push(`tessera_tokens_issued_total{grant_type="${label(grantType)}",tenant="${label(tenant)}"} ${n}`);
    }
    family('tessera_oauth_errors_total', 'counter', 'OAuth error responses, by error code.');
    for (const [error, n] of this.errors) out.push(`tessera_oauth_errors_total{error="${label(error)}"} ${n}`);

    const pool = this.pool?.();
    if (pool) {
      family('tessera_db_pool_connections', 'gauge', 'Database connections in the pool, by state (idle, or in use).');
      out.push(`tessera_db_pool_connections{state="idle"} ${pool.idle}`, `tessera_db_pool_connections{state="in_use"} ${pool.total - pool.idle}`);
      family('tessera_db_pool_waiting', 'gauge', 'Queries waiting for a free database connection.');
      out.push(`tessera_db_pool_waiting ${pool.waiting}`);
    }
    family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.');
    out.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`);
    family('process_start_time_seconds', 'gauge', 'Start time of the process since the Unix epoch, in seconds.');
    out.push(`process_start_time_seconds ${Math.round((Date.now() - process.uptime() * 1000) / 1000)}`);
    return `${out.join('\n')}\n`;
  }
}
