import { PASSWORD_MIN_LENGTH } from '../crypto/password.js';
import { html, type Html } from './html.js';
import type { FormContext } from './pages.js';

/**
 * Keycloak's "Update password" required action: the password was right, but the account must
 * choose a new one before sign-in completes (the first operator; `--must-change-password`).
 */
export function updatePasswordBody(opts: { form: FormContext; key: string; username: string; tenantName: string; error?: string }): Html {
  return html`<h1>Choose a new password</h1>
<p>Before you continue to ${opts.tenantName}, replace the password of <strong>${opts.username}</strong>: it was set by someone else, or has to be changed.</p>
${opts.error ? html`<p class="error" role="alert">${opts.error}</p>` : ''}
<form method="post" action="${opts.form.action}">
<input type="hidden" name="interaction" value="${opts.form.interaction}"><input type="hidden" name="csrf" value="${opts.form.csrf}">
<input type="hidden" name="key" value="${opts.key}">
<label for="password">New password</label>
<input type="password" id="password" name="password" autocomplete="new-password" minlength="${String(PASSWORD_MIN_LENGTH)}" required autofocus>
<p class="muted">At least ${String(PASSWORD_MIN_LENGTH)} characters; not your username, not a common password, not the current one.</p>
<label for="password_confirm">Confirm new password</label>
<input type="password" id="password_confirm" name="password_confirm" autocomplete="new-password" required>
<button type="submit">Change password and continue</button>
</form>`;
}
