/**
 * Server-rendered HTML with escaping by default: every interpolated value is escaped unless
 * it is already an `Html` fragment (built by this module), so no page can be injected into.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]);

type Value = string | number | Html | null | undefined | false | Value[];

function render(v: Value): string {
  if (v === null || v === undefined || v === false) return '';
  if (Array.isArray(v)) return v.map(render).join('');
  if (v instanceof Html) return v.value;
  return escapeHtml(String(v));
}

/** Tagged template: `html\`<p>${userInput}</p>\`` escapes userInput. */
export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0];
  values.forEach((v, i) => (out += render(v) + strings[i + 1]));
  return new Html(out);
}

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f5f7;color:#1d2330}
main{max-width:26rem;margin:8vh auto;padding:2rem 1.5rem;background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.35rem;margin:0 0 1rem}label{display:block;margin:.9rem 0 .3rem;font-weight:600}
input[type=text],input[type=password],textarea{width:100%;padding:.65rem .75rem;font:inherit;border:1px solid #c5cad3;border-radius:8px}
button{font:inherit;padding:.65rem 1.1rem;border-radius:8px;border:1px solid #2454c5;background:#2454c5;color:#fff;cursor:pointer;margin-top:1.2rem}
button.secondary{background:#fff;color:#2454c5}.row{display:flex;gap:.75rem;flex-wrap:wrap}
.error{background:#fdecec;color:#8a1c1c;padding:.6rem .8rem;border-radius:8px}.warn{background:#fff6e0;color:#6b4b00;padding:.6rem .8rem;border-radius:8px}
ul.scopes{padding-left:1.1rem}ul.scopes li{margin:.35rem 0}code,textarea{font-family:ui-monospace,Menlo,Consolas,monospace;word-break:break-all}
.muted{color:#5b6472;font-size:.9rem}`;

/**
 * A whole page. Scripts and styles run only with the per-response CSP nonce; nothing is
 * loaded from anywhere else (SECURITY-CHECKLIST 11).
 */
export function page(opts: { title: string; nonce: string; body: Html; script?: string; lang?: string }): string {
  return html`<!doctype html>
<html lang="${opts.lang ?? 'en'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${opts.title}</title>
<style nonce="${opts.nonce}">${new Html(STYLE)}</style></head>
<body><main>${opts.body}</main>${opts.script ? html`<script nonce="${opts.nonce}">${new Html(opts.script)}</script>` : ''}</body></html>`.value;
}
