import { html, type Html } from './html.js';

/** The device page's forms post to the page itself with a CSRF token bound to the session. */
export interface DeviceForm {
  action: string;
  csrf: string;
}

/** RFC 8628 §3.3: where the user types the code their device shows (input `user_code`, DESIGN.md §1). */
export function deviceEntryBody(opts: { form: DeviceForm; tenantName: string; username: string; userCode?: string; error?: string }): Html {
  return html`<h1>Connect a device</h1>
<p class="muted">Signed in to ${opts.tenantName} as ${opts.username}</p>
${opts.error ? html`<p class="error" role="alert">${opts.error}</p>` : ''}
<form method="post" action="${opts.form.action}">
<input type="hidden" name="csrf" value="${opts.form.csrf}">
<label for="user_code">Code shown on your device</label>
<input type="text" id="user_code" name="user_code" value="${opts.userCode ?? ''}" placeholder="XXXX-XXXX" autocomplete="off" autocapitalize="characters" spellcheck="false" required autofocus>
<button type="submit">Continue</button>
</form>`;
}

/**
 * RFC 8628 §3.3.1 and §5.4: the consent page names the client and each scope, and shows the
 * code again so the user checks it is the one on their own device (remote phishing).
 */
export function deviceConsentBody(opts: { form: DeviceForm; clientName: string; username: string; userCode: string; scopes: { name: string; description: string }[] }): Html {
  return html`<h1>${opts.clientName} wants access to your account</h1>
<p class="muted">Signed in as ${opts.username}</p>
<p class="warn">Allow only if your device shows the code <strong>${opts.userCode}</strong> and you started this sign-in yourself.</p>
${opts.scopes.length ? html`<p>It asks to:</p><ul class="scopes">${opts.scopes.map((s) => html`<li><strong>${s.description}</strong> <span class="muted">(${s.name})</span></li>`)}</ul>` : html`<p>It asks to confirm who you are.</p>`}
<form method="post" action="${opts.form.action}">
<input type="hidden" name="csrf" value="${opts.form.csrf}"><input type="hidden" name="user_code" value="${opts.userCode}">
<div class="row"><button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button></div>
</form>`;
}

/** After the decision: the user goes back to the device, which picks the result up by polling. */
export function deviceDoneBody(opts: { approved: boolean; clientName: string }): Html {
  return opts.approved
    ? html`<h1>Device connected</h1><p>${opts.clientName} now has access. Return to your device: it continues by itself.</p>`
    : html`<h1>Access denied</h1><p>${opts.clientName} was not given access. You can close this page.</p>`;
}
