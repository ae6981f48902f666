import type { FastifyRequest } from 'fastify';
import { OAuthError } from '../errors.js';

type Values = Record<string, string | string[] | undefined>;

/**
 * Parameters of a form-encoded request: each name once, except those allowed to repeat.
 * A restricted view (`only`) sees just the names given, so a grant never reads another
 * flow's parameters (DESIGN.md §2).
 */
export class FormParams {
  constructor(private readonly values: Values, private readonly visible?: ReadonlySet<string>) {}

  private raw(name: string): string | string[] | undefined {
    return this.visible && !this.visible.has(name) ? undefined : this.values[name];
  }

  /** A single-valued parameter; empty counts as absent (RFC 6749 §3.1). */
  get(name: string): string | undefined {
    const v = this.raw(name);
    if (Array.isArray(v)) {
      // RFC 6749 §3.1 and §3.2: request and response parameters MUST NOT be included more than once.
      throw new OAuthError('invalid_request', `parameter ${name} must not be repeated`);
    }
    return v === '' ? undefined : v;
  }

  /** A parameter that may repeat, such as `resource` (RFC 8707 §2). */
  all(name: string): string[] {
    const v = this.raw(name);
    return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((s) => s !== '');
  }

  /** The same parameters, restricted to the names given. */
  only(names: ReadonlySet<string>): FormParams {
    return new FormParams(this.values, names);
  }

  /** Rejects every repeated parameter except those named, before anything reads them. */
  assertNoDuplicates(repeatable: readonly string[] = []): void {
    for (const name in this.values) {
      if (Array.isArray(this.values[name]) && !repeatable.includes(name)) {
        throw new OAuthError('invalid_request', `parameter ${name} must not be repeated`);
      }
    }
  }
}

const FORM = 'application/x-www-form-urlencoded';

/** The body of a POST that RFC 6749 requires to be form-encoded (§4.1.3, §4.4.2, RFC 7009 §2.1). */
export function formBody(req: FastifyRequest): FormParams {
  const header = req.headers['content-type'] ?? '';
  const semi = header.indexOf(';');
  if ((semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase() !== FORM) {
    throw new OAuthError('invalid_request', `the request body must be ${FORM}`);
  }
  const body = req.body;
  return new FormParams(body && typeof body === 'object' ? (body as Values) : {});
}
