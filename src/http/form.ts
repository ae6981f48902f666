import type { FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.js';

/** Parameters of a form-encoded request: each name once, except those allowed to repeat. */
export class FormParams {
  constructor(private readonly values: Record<string, string | string[] | undefined>) {}

  /** A single-valued parameter; empty counts as absent (RFC 6749 §3.1). */
  get(name: string): string | undefined {
    const v = this.values[name];
    if (Array.isArray(v)) {
      // RFC 6749 §3.1 and §3.2: request and response parameters MUST NOT be included more than once.
      throw new OAuthError('invalid_request', `parameter ${name} must not be repeated`);
    }
    return v === '' ? undefined : v;
  }

  /** A parameter that may repeat, such as `resource` (RFC 8707 §2). */
  all(name: string): string[] {
    const v = this.values[name];
    return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((s) => s !== '');
  }

  has(name: string): boolean {
    return this.values[name] !== undefined;
  }

  /** Only the named parameters, so a handler never sees another flow's (DESIGN.md §2). */
  pick(names: readonly string[]): FormParams {
    return new FormParams(Object.fromEntries(Object.entries(this.values).filter(([n]) => names.includes(n))));
  }

  /** Rejects every repeated parameter except those named, before anything reads them. */
  assertNoDuplicates(repeatable: readonly string[] = []): void {
    for (const [name, v] of Object.entries(this.values)) {
      if (Array.isArray(v) && !repeatable.includes(name)) throw new OAuthError('invalid_request', `parameter ${name} must not be repeated`);
    }
  }
}

const FORM = 'application/x-www-form-urlencoded';

/** The body of a POST that RFC 6749 requires to be form-encoded (§4.1.3, §4.4.2, RFC 7009 §2.1). */
export function formBody(req: FastifyRequest): FormParams {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type !== FORM) throw new OAuthError('invalid_request', `the request body must be ${FORM}`);
  const body = req.body;
  return new FormParams(body && typeof body === 'object' ? (body as Record<string, string | string[]>) : {});
}
