import { PASSWORD_MIN_LENGTH } from '../crypto/password.js';
import { html, type Html } from './html.js';
import type { FormContext } from './pages.js';

const hidden = (f: FormContext) =>
  html`<input type="hidden" name="interaction" value="${f.interaction}"><input type="hidden" name="csrf" value="${f.csrf}">`;

const alert = (error?: string) => (error ? html`<p class="error" role="alert">${error}</p>` : '');

const newPassword = () => html`<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="new-password" minlength="${String(PASSWORD_MIN_LENGTH)}" required>
<p class="muted">At least ${String(PASSWORD_MIN_LENGTH)} characters; not your username, not a common password.</p>
<label for="password_confirm">Confirm password</label>
<input type="password" id="password_confirm" name="password_confirm" autocomplete="new-password" required>`;

/** The sign-up form (Keycloak's registration page): username, email, password twice. */
export function signUpBody(opts: { form: FormContext; tenantName: string; clientName: string; loginUrl: string; username?: string; email?: string; error?: string }): Html {
  return html`<h1>Create your ${opts.tenantName} account</h1>
<p class="muted">to continue to <strong>${opts.clientName}</strong></p>
${alert(opts.error)}
<form method="post" action="${opts.form.action}">
${hidden(opts.form)}
<label for="username">Username</label>
<input type="text" id="username" name="username" value="${opts.username ?? ''}" autocomplete="username" autocapitalize="none" required autofocus>
<label for="email">Email</label>
<input type="email" id="email" name="email" value="${opts.email ?? ''}" autocomplete="email" required>
${newPassword()}
<button type="submit">Create account</button>
</form>
<p class="muted">Already have an account? <a href="${opts.loginUrl}">Sign in</a></p>`;
}

/** "Forgot password?": one field, the username or the email address. */
export function forgotPasswordBody(opts: { form: FormContext; tenantName: string; loginUrl: string; error?: string }): Html {
  return html`<h1>Reset your password</h1>
<p>Enter your ${opts.tenantName} username or email address. If it belongs to an account with an email address, we will send a link to reset the password.</p>
${alert(opts.error)}
<form method="post" action="${opts.form.action}">
${hidden(opts.form)}
<label for="username">Username or email</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" required autofocus>
<button type="submit">Send reset link</button>
</form>
<p class="muted"><a href="${opts.loginUrl}">Back to sign in</a></p>`;
}

/** The page behind a mail link: nothing happens until the user presses the button (mail scanners fetch links). */
export function confirmLinkBody(opts: { action: string; value: string; title: string; message: string; button: string }): Html {
  return html`<h1>${opts.title}</h1>
<p>${opts.message}</p>
<form method="post" action="${opts.action}">
<input type="hidden" name="key" value="${opts.value}">
<button type="submit">${opts.button}</button>
</form>`;
}

/** The page behind a reset link: the new password, twice. */
export function resetPasswordBody(opts: { action: string; value: string; username: string; error?: string }): Html {
  return html`<h1>Choose a new password</h1>
<p class="muted">for <strong>${opts.username}</strong></p>
${alert(opts.error)}
<form method="post" action="${opts.action}">
<input type="hidden" name="key" value="${opts.value}">
${newPassword()}
<button type="submit">Change password</button>
</form>`;
}

/** An outcome to read: "check your email", "your password was changed"… with an optional way on. */
export function noticeBody(opts: { title: string; message: string; link?: { href: string; text: string } }): Html {
  return html`<h1>${opts.title}</h1>
<p role="status">${opts.message}</p>
${opts.link ? html`<p><a href="${opts.link.href}">${opts.link.text}</a></p>` : html`<p class="muted">You can close this page.</p>`}`;
}
