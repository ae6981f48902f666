import { html, type Html } from './html.js';

export interface FormContext {
  /** Where the form posts. */
  action: string;
  /** The interaction id and its CSRF token, echoed as hidden fields. */
  interaction: string;
  csrf: string;
}

const hidden = (f: FormContext) =>
  html`<input type="hidden" name="interaction" value="${f.interaction}"><input type="hidden" name="csrf" value="${f.csrf}">`;

/** The login form: inputs `username` and `password` with labels, one submit button (DESIGN.md §1). */
export function loginBody(opts: {
  form: FormContext; clientName: string; tenantName: string; username?: string; error?: string;
  /** "Forgot password?" and, when the tenant allows sign-up, "Create an account". */
  links: { resetUrl: string; signUpUrl?: string; passkeyUrl?: string };
}): Html {
  return html`<h1>Sign in to ${opts.tenantName}</h1>
<p class="muted">to continue to <strong>${opts.clientName}</strong></p>
${opts.error ? html`<p class="error" role="alert">${opts.error}</p>` : ''}
<form method="post" action="${opts.form.action}">
${hidden(opts.form)}
<label for="username">Username or email</label>
<input type="text" id="username" name="username" value="${opts.username ?? ''}" autocomplete="username" autocapitalize="none" required autofocus>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
${opts.links.passkeyUrl ? html`<form method="post" action="${opts.links.passkeyUrl}">${hidden(opts.form)}<button type="submit" class="secondary">Sign in with a passkey</button></form>` : ''}
<p class="muted"><a href="${opts.links.resetUrl}">Forgot password?</a>${opts.links.signUpUrl ? html` · New here? <a href="${opts.links.signUpUrl}">Create an account</a>` : ''}</p>`;
}

/** The consent page: the client's name, each scope with its description, and allow/deny buttons named `decision`. */
export function consentBody(opts: { form: FormContext; clientName: string; scopes: { name: string; description: string }[]; username: string }): Html {
  return html`<h1>${opts.clientName} wants access to your account</h1>
<p class="muted">Signed in as ${opts.username}</p>
${opts.scopes.length ? html`<p>It asks to:</p><ul class="scopes">${opts.scopes.map((s) => html`<li><strong>${s.description}</strong> <span class="muted">(${s.name})</span></li>`)}</ul>` : html`<p>It asks to confirm who you are.</p>`}
<form method="post" action="${opts.form.action}">
${hidden(opts.form)}
<div class="row"><button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary">Deny</button></div>
</form>`;
}

export function errorBody(opts: { title: string; message: string }): Html {
  return html`<h1>${opts.title}</h1><p class="error" role="alert">${opts.message}</p>
<p class="muted">You can close this page and return to the application.</p>`;
}

/** OAuth 2.0 Form Post Response Mode §2: an auto-submitting form, every value escaped. */
export function formPostBody(opts: { redirectUri: string; params: Record<string, string> }): Html {
  return html`<form method="post" action="${opts.redirectUri}" id="response">
${Object.entries(opts.params).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
<noscript><p>JavaScript is off: press the button to continue.</p></noscript><button type="submit">Continue</button>
</form>`;
}

export const FORM_POST_SCRIPT = `document.getElementById('response').submit();`;

/**
 * `response_mode=web_page` (Pulsoid): the access token on Tessera's own page, for a user to
 * paste into a game mod's config. It names the client and warns against sharing.
 */
export function webPageBody(opts: { clientName: string; accessToken: string; expiresIn: number; scope: string }): Html {
  return html`<h1>Your token for ${opts.clientName}</h1>
<p class="warn"><strong>Keep this token secret.</strong> Anyone who has it can act as you in ${opts.clientName}${opts.scope ? html` (<code>${opts.scope}</code>)` : ''}. Paste it only into ${opts.clientName}'s own configuration; never share it or show it on stream.</p>
<label for="token">Access token</label>
<textarea id="token" rows="6" readonly>${opts.accessToken}</textarea>
<div class="row"><button type="button" id="copy">Copy token</button></div>
<p class="muted">It expires in ${duration(opts.expiresIn)}.</p>`;
}

export const WEB_PAGE_SCRIPT = `document.getElementById('copy').addEventListener('click',function(){var t=document.getElementById('token');t.select();(navigator.clipboard?navigator.clipboard.writeText(t.value):Promise.reject()).then(function(){document.getElementById('copy').textContent='Copied'},function(){document.execCommand('copy');document.getElementById('copy').textContent='Copied'})});`;

/** "1 hour", "2 hours", "5 minutes". */
function duration(seconds: number): string {
  const [n, unit] = seconds >= 3600 ? [Math.round(seconds / 3600), 'hour'] : [Math.max(1, Math.round(seconds / 60)), 'minute'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/**
 * RP-Initiated Logout §2 / §6 (logout CSRF): without an ID token naming this browser's
 * session, the user confirms. The form posts back to the logout endpoint with a token bound
 * to the session cookie, and carries the already-validated parameters to finish with.
 */
export function logoutConfirmBody(opts: { action: string; csrf: string; fields: Record<string, string | undefined>; tenantName: string; clientName?: string }): Html {
  return html`<h1>Do you want to sign out of ${opts.tenantName}?</h1>
${opts.clientName ? html`<p class="muted">You will then return to <strong>${opts.clientName}</strong>.</p>` : ''}
<form method="post" action="${opts.action}">
<input type="hidden" name="csrf" value="${opts.csrf}">${Object.entries(opts.fields).map(([k, v]) => (v === undefined ? '' : html`<input type="hidden" name="${k}" value="${v}">`))}
<button type="submit" name="confirm" value="yes">Sign out</button>
</form>`;
}

/** After logout when there is no (valid) post_logout_redirect_uri to return to. */
export function signedOutBody(opts: { tenantName: string }): Html {
  return html`<h1>You are signed out</h1>
<p>You are no longer signed in to ${opts.tenantName}.</p>
<p class="muted">You can close this page and return to the application.</p>`;
}
