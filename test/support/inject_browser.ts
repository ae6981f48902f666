import type { FastifyInstance, LightMyRequestResponse } from 'fastify';

/** A minimal in-process browser for app.inject(): keeps cookies, reads hidden form fields. */
export class InjectBrowser {
  cookies = new Map<string, string>();
  constructor(private readonly app: FastifyInstance) {}

  private store(res: LightMyRequestResponse) {
    const raw = res.headers['set-cookie'];
    for (const c of Array.isArray(raw) ? raw : raw ? [raw] : []) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
  }

  private cookieHeader(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
  }

  async get(url: string): Promise<LightMyRequestResponse> {
    const res = await this.app.inject({ method: 'GET', url, headers: this.cookieHeader() });
    this.store(res);
    return res;
  }

  async post(url: string, fields: Record<string, string>): Promise<LightMyRequestResponse> {
    const res = await this.app.inject({
      method: 'POST', url, payload: new URLSearchParams(fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...this.cookieHeader() },
    });
    this.store(res);
    return res;
  }
}

/** The hidden fields and action of the (first) form in a page. */
export function formOf(html: string): { action: string; fields: Record<string, string> } {
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1] ?? '';
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) fields[m[1]] = decode(m[2]);
  return { action: decode(action), fields };
}

const decode = (s: string) => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The path of an absolute URL on the test issuer (inject takes paths). */
export const pathOf = (url: string): string => {
  const u = new URL(url);
  return u.pathname + u.search;
};
