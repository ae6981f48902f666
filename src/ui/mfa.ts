import { html, Html } from './html.js';
import type { FormContext } from './pages.js';

const hidden = (f: FormContext, key: string) =>
  html`<input type="hidden" name="interaction" value="${f.interaction}"><input type="hidden" name="csrf" value="${f.csrf}"><input type="hidden" name="key" value="${key}">`;

const alert = (error?: string) => (error ? html`<p class="error" role="alert">${error}</p>` : '');

/**
 * The second step of a sign-in (Keycloak's OTP form): the input `code` takes the six digits of
 * the authenticator app or a recovery code. A passkey, when the user has one, is offered too.
 */
export function secondStepBody(opts: { form: FormContext; key: string; username: string; tenantName: string; totp: boolean; passkey?: { options: string; nonce: string; script: string }; error?: string }): Html {
  return html`<h1>Two-step verification</h1>
<p class="muted">Signing in to ${opts.tenantName} as <strong>${opts.username}</strong></p>
${alert(opts.error)}
<form method="post" action="${opts.form.action}">
${hidden(opts.form, opts.key)}
<label for="code">${opts.totp ? 'Code from your authenticator app, or a recovery code' : 'Recovery code'}</label>
<input type="text" id="code" name="code" inputmode="${opts.totp ? 'numeric' : 'text'}" autocomplete="one-time-code" autocapitalize="none" required${opts.passkey ? '' : new Html(' autofocus')}>
<button type="submit">Verify</button>
</form>
${opts.passkey ? html`${passkeyForm(opts.form, opts.key, opts.passkey.options, 'Use your passkey')}${passkeyScript(opts.passkey.nonce, opts.passkey.script)}` : ''}`;
}

/**
 * A form the passkey script (static/webauthn.js) fills with the authenticator's answer and
 * submits. Its button stays disabled until the script has taken the form over, so a form is
 * never posted without an answer.
 */
export function passkeyForm(f: FormContext, key: string, options: string, label: string): Html {
  return html`<form method="post" action="${f.action}" class="passkey" data-webauthn="get" data-options="${options}">
${hidden(f, key)}<input type="hidden" name="action" value="passkey"><input type="hidden" name="credential" value="">
<button type="submit" class="secondary" disabled>${label}</button>
</form>`;
}

/** The passkey script, allowed by the page's CSP nonce. */
export const passkeyScript = (nonce: string, src: string): Html => html`<script nonce="${nonce}" src="${src}"></script>`;

/** Passwordless sign-in: one button; the authenticator offers the user's passkeys for this site. */
export function passkeySignInBody(opts: { action: string; interaction: string; csrf: string; options: string; tenantName: string; clientName: string; loginUrl: string; error?: string }): Html {
  return html`<h1>Sign in with a passkey</h1>
<p class="muted">to continue to <strong>${opts.clientName}</strong></p>
${alert(opts.error)}
<form method="post" action="${opts.action}" data-webauthn="get" data-options="${opts.options}">
<input type="hidden" name="interaction" value="${opts.interaction}"><input type="hidden" name="csrf" value="${opts.csrf}"><input type="hidden" name="credential" value="">
<button type="submit" disabled>Use a passkey for ${opts.tenantName}</button>
</form>
<p class="muted"><a href="${opts.loginUrl}">Sign in with a password instead</a></p>`;
}

/** Adding a passkey on the account page: a name, then the authenticator's prompt. */
export function registerPasskeyBody(opts: { action: string; fields: Record<string, string>; options: string; error?: string }): Html {
  return html`<h1>Add a passkey</h1>
<p>A passkey lives on this device or a security key. It can be your second step after the password, or sign you in on its own.</p>
${alert(opts.error)}
<form method="post" action="${opts.action}" data-webauthn="create" data-options="${opts.options}">
${Object.entries(opts.fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}<input type="hidden" name="credential" value="">
<label for="label">Name of this passkey</label>
<input type="text" id="label" name="label" maxlength="60" placeholder="Passkey">
<button type="submit" disabled>Create passkey</button>
</form>`;
}

/**
 * TOTP enrolment (Keycloak's CONFIGURE_TOTP): the QR code as inline SVG made on the server,
 * the secret as text for typing in, and the first code to confirm.
 */
export function enrolTotpBody(opts: { action: string; fields: Record<string, string>; qrSvg: string; secret: string; heading: string; intro: string; error?: string }): Html {
  const spaced = opts.secret.replace(/(.{4})/g, '$1 ').trim();
  return html`<h1>${opts.heading}</h1>
<p>${opts.intro}</p>
${alert(opts.error)}
<ol><li>Install an authenticator app (FreeOTP, Google Authenticator, Microsoft Authenticator, 1Password…).</li>
<li>Scan this QR code with it:<div class="qr" role="img" aria-label="QR code of the secret">${new Html(opts.qrSvg)}</div>
or enter the key by hand: <code id="totp-secret">${spaced}</code> (time-based, 6 digits, 30 seconds).</li>
<li>Type the code the app shows.</li></ol>
<form method="post" action="${opts.action}">
${Object.entries(opts.fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
<label for="code">Code from the app</label>
<input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9 ]{6,7}" required autofocus>
<label for="label">Name of this device (optional)</label>
<input type="text" id="label" name="label" maxlength="60" placeholder="Authenticator app">
<button type="submit">Confirm</button>
</form>`;
}

/** Recovery codes, shown this once; each works once in place of a code. */
export function recoveryCodesBody(opts: { codes: string[]; next: { action: string; fields: Record<string, string>; label: string } }): Html {
  return html`<h1>Save your recovery codes</h1>
<p class="warn">Each code lets you sign in once if you lose your authenticator. They are shown only now: store them somewhere safe, such as a password manager.</p>
<ul class="codes">${opts.codes.map((c) => html`<li><code>${c}</code></li>`)}</ul>
<form method="post" action="${opts.next.action}">
${Object.entries(opts.next.fields).map(([k, v]) => html`<input type="hidden" name="${k}" value="${v}">`)}
<button type="submit">${opts.next.label}</button>
</form>`;
}

export const MFA_STYLE = `.qr svg{width:12rem;height:12rem;display:block;margin:.6rem 0}ul.codes{columns:2;list-style:none;padding:0}ul.codes li{margin:.2rem 0}
table.factors{width:100%;border-collapse:collapse}table.factors td,table.factors th{text-align:left;padding:.35rem .25rem;border-bottom:1px solid #e3e6ea}
form.inline{display:inline}form.inline button{margin-top:0;padding:.3rem .7rem}`;
