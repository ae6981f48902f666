import { html, type Html } from './html.js';

export interface AccountView {
  /** Where every form posts (the account page itself). */
  action: string;
  /** The session-bound CSRF token every form carries. */
  csrf: string;
  username: string;
  email: string | null;
  emailVerified: boolean;
  tenantName: string;
  signOutUrl: string;
  apps: { clientId: string; name: string; scopes: string[] }[];
  tokens: { id: string; name: string; scopes: string[]; createdAt: number; expiresAt: number }[];
  /** Scopes a personal token may carry: those the tenant's APIs define. */
  scopes: { name: string; description: string }[];
  /** Lifetimes offered, in days, the longest being the cap. */
  lifetimes: number[];
  defaultDays: number;
  /** A token just created: its value is shown this once. */
  created?: { name: string; value: string; scopes: string[]; expiresAt: number };
  error?: string;
  notice?: string;
}

const date = (s: number) => new Date(s * 1000).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';

const hidden = (v: AccountView, action: string, fields: Record<string, string> = {}) =>
  html`<input type="hidden" name="csrf" value="${v.csrf}"><input type="hidden" name="action" value="${action}">${Object.entries(fields).map(
    ([k, val]) => html`<input type="hidden" name="${k}" value="${val}">`,
  )}`;

const scopeList = (scopes: string[]) => (scopes.length ? html`${scopes.map((s, i) => html`${i ? ' ' : ''}<code>${s}</code>`)}` : html`<span class="muted">no scopes</span>`);

/** The account page: connected apps with Revoke, personal tokens (create, list, revoke). Every form carries the CSRF token. */
export function accountBody(v: AccountView): Html {
  return html`<h1>Your account</h1>
<p class="muted">Signed in to ${v.tenantName} as <strong>${v.username}</strong> · <a href="${v.action}/security">Two-step verification</a> · <a href="${v.signOutUrl}">Sign out</a></p>
${v.error ? html`<p class="error" role="alert">${v.error}</p>` : ''}${v.notice ? html`<p class="warn" role="status">${v.notice}</p>` : ''}
${v.created ? created(v.created) : ''}
<h2>Connected apps</h2>
${v.apps.length === 0
    ? html`<p class="muted" id="no-apps">No apps have access to your account.</p>`
    : html`<ul class="items" id="apps">${v.apps.map(
        (a) => html`<li><strong>${a.name}</strong><br>${scopeList(a.scopes)}
<form method="post" action="${v.action}">${hidden(v, 'revoke_app', { client_id: a.clientId })}<button type="submit" class="secondary">Revoke access of ${a.name}</button></form></li>`,
      )}</ul>`}
<h2>Personal tokens</h2>
${v.tokens.length === 0
    ? html`<p class="muted" id="no-tokens">You have no personal tokens.</p>`
    : html`<ul class="items" id="tokens">${v.tokens.map(
        (t) => html`<li><strong>${t.name}</strong><br>${scopeList(t.scopes)}<br><span class="muted">Created ${date(t.createdAt)} · expires ${date(t.expiresAt)}</span>
<form method="post" action="${v.action}">${hidden(v, 'revoke_token', { token_id: t.id })}<button type="submit" class="secondary">Revoke ${t.name}</button></form></li>`,
      )}</ul>`}
<h3>New personal token</h3>
${v.scopes.length === 0
    ? html`<p class="muted">No API of ${v.tenantName} defines scopes yet, so there is nothing a personal token could be for.</p>`
    : html`<form method="post" action="${v.action}" id="create-token">${hidden(v, 'create_token')}
<label for="token-name">Name</label>
<input type="text" id="token-name" name="name" maxlength="100" required placeholder="e.g. my overlay">
<fieldset><legend>Scopes</legend>${v.scopes.map(
        (s) => html`<label class="check"><input type="checkbox" name="scope" value="${s.name}"> ${s.description} <span class="muted">(${s.name})</span></label>`,
      )}</fieldset>
<label for="token-days">Expires after</label>
<select id="token-days" name="days">${v.lifetimes.map((d) => html`<option value="${d}"${d === v.defaultDays ? html` selected` : ''}>${d} days</option>`)}</select>
<button type="submit">Create token</button>
</form>`}
${credentials(v)}`;
}

/** Email (with its verification state) and password: each change needs the current password. */
function credentials(v: AccountView): Html {
  return html`<h2>Email address</h2>
<p id="email-status">${v.email
    ? html`<strong>${v.email}</strong> · ${v.emailVerified ? html`<span>verified</span>` : html`<span class="warn-text">not verified</span>`}`
    : html`<span class="muted">No email address.</span>`}</p>
${v.email && !v.emailVerified ? html`<form method="post" action="${v.action}" id="resend-verification">${hidden(v, 'resend_verification')}<button type="submit" class="secondary">Send a new confirmation link</button></form>` : ''}
<form method="post" action="${v.action}" id="change-email">${hidden(v, 'change_email')}
<label for="new-email">New email address</label>
<input type="email" id="new-email" name="email" autocomplete="email" required>
<label for="email-current-password">Current password</label>
<input type="password" id="email-current-password" name="current_password" autocomplete="current-password" required>
<button type="submit">Change email address</button>
</form>
<h2>Password</h2>
<form method="post" action="${v.action}" id="change-password">${hidden(v, 'change_password')}
<label for="password-current">Current password</label>
<input type="password" id="password-current" name="current_password" autocomplete="current-password" required>
<label for="password-new">New password</label>
<input type="password" id="password-new" name="password" autocomplete="new-password" required>
<label for="password-confirm">Confirm new password</label>
<input type="password" id="password-confirm" name="password_confirm" autocomplete="new-password" required>
<button type="submit">Change password</button>
</form>`;
}

function created(c: NonNullable<AccountView['created']>): Html {
  return html`<section id="new-token-section"><h2>Your new token “${c.name}”</h2>
<p class="warn"><strong>Copy it now: it is shown only this once.</strong> Anyone who has it can act as you with ${scopeList(c.scopes)} until ${date(c.expiresAt)}, or until you revoke it below.</p>
<label for="new-token">Token</label>
<textarea id="new-token" rows="3" readonly>${c.value}</textarea></section>`;
}

/** Extra rules for the account page (the shared style sizes inputs and buttons). */
export const ACCOUNT_STYLE = `main{max-width:40rem}h2{font-size:1.1rem;margin:1.6rem 0 .6rem}h3{font-size:1rem;margin:1.4rem 0 .4rem}
ul.items{list-style:none;padding:0}ul.items li{border:1px solid #e0e3e8;border-radius:8px;padding:.7rem .8rem;margin:.5rem 0}
ul.items button{margin-top:.5rem}fieldset{border:1px solid #e0e3e8;border-radius:8px;margin:.9rem 0 0}label.check{font-weight:400;margin:.3rem 0}
select{display:block;font:inherit;padding:.5rem;border:1px solid #c5cad3;border-radius:8px}`;
