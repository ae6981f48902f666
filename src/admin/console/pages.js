import { all, api } from './auth.js';
import { barChart, hourly } from './charts.js';
import { form, h, showError, time } from './dom.js';

// One function per console page. Each returns the page's elements; `ctx.go(hash)` navigates,
// `ctx.reload()` renders the current page again. Every read and change goes through the admin API.

const enc = encodeURIComponent;
const T = (tenant) => `/tenants/${enc(tenant)}`;
const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', 'implicit', 'password',
  'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange'];
const AUDIT_TYPES = ['sign_in', 'sign_in.success', 'sign_in.failure', 'token', 'token.issued', 'token.refreshed', 'token.revoked', 'consent',
  'user', 'client', 'api', 'tenant', 'key', 'session', 'grant', 'logout'];

const link = (href, text) => h('a', { href }, text);
const table = (headers, rows, empty = 'None yet.') =>
  rows.length ? h('table', {}, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))) : h('p', { class: 'muted' }, empty);
const notice = (text) => h('p', { class: 'notice', role: 'status' }, text);

/** A secret shown once, in a read-only field to copy. */
const secretBox = (id, label, value) =>
  h('div', { class: 'secret', role: 'status' }, h('label', { for: id }, `${label} — shown once, copy it now`), h('input', { type: 'text', id, readonly: true, value }));

const button = (text, onclick, cls) => h('button', { type: 'button', class: cls, onclick }, text);

/** A button that calls the API after a confirmation and shows a refusal next to itself. */
function action(text, { confirm: question, cls = 'secondary', run }) {
  const slot = h('span', { class: 'form-errors' });
  const b = h('button', { type: 'button', class: cls }, text);
  b.addEventListener('click', async () => {
    if (question && !window.confirm(question)) return;
    slot.replaceChildren();
    b.disabled = true;
    try {
      await run();
    } catch (err) {
      showError(slot, err);
    } finally {
      b.disabled = false;
    }
  });
  return h('span', {}, b, slot);
}

export async function overview(ctx, tenant) {
  const since = Math.floor(Date.now() / 1000) - 86_400;
  const [signIns, tokens] = await Promise.all([
    all(`${T(tenant)}/audit-events?type=sign_in&since=${since}`),
    all(`${T(tenant)}/audit-events?type=token.issued&since=${since}`),
  ]);
  const of = (type) => signIns.filter((e) => e.type === type);
  return [
    h('h1', {}, `Overview of ${tenant}`),
    h('p', { class: 'muted' }, 'The last 24 hours, per hour (UTC), from the audit events.'),
    h('div', { class: 'charts', id: 'charts' },
      barChart({ title: 'Sign-ins', cls: 'sign-ins', buckets: hourly(of('sign_in.success')) }),
      barChart({ title: 'Failed sign-ins', cls: 'failures', buckets: hourly(of('sign_in.failure')) }),
      barChart({ title: 'Tokens issued', cls: 'tokens', buckets: hourly(tokens) })),
  ];
}

export async function tenants(ctx) {
  const items = await all('/tenants');
  return [
    h('h1', {}, 'Tenants'),
    table(['id', 'name', 'issuer', 'sign-up', ''], items.map((t) => [link(`#/tenants/${enc(t.id)}`, t.id), t.display_name, h('code', {}, t.issuer), t.registration ? 'on' : 'off', link(`#/t/${enc(t.id)}/clients`, 'clients')])),
    ctx.operator.tenants === null
      ? form({
          id: 'create-tenant', title: 'Create a tenant', submit: 'Create tenant',
          fields: [
            { name: 'id', label: 'Tenant id', help: '1–64 letters, digits, ".", "_" or "-"; part of the issuer URL' },
            { name: 'display_name', label: 'Display name' },
            { name: 'default_audience', label: 'Default audience', help: 'optional: aud of tokens whose request names no API' },
          ],
          onsubmit: async (v) => {
            const t = await api('POST', '/tenants', { id: v.id, ...(v.display_name && { display_name: v.display_name }), ...(v.default_audience && { default_audience: v.default_audience }) });
            ctx.flash(`Tenant ${t.id} created.`);
            ctx.reload();
          },
        })
      : null,
  ];
}

export async function tenant(ctx, id) {
  const t = await api('GET', T(id));
  return [
    h('h1', {}, `Tenant ${t.id}`),
    h('p', {}, 'Issuer: ', h('code', {}, t.issuer)),
    form({
      id: 'edit-tenant', title: 'Settings', submit: 'Save settings',
      fields: [
        { name: 'display_name', label: 'Display name', value: t.display_name },
        { name: 'default_audience', label: 'Default audience', value: t.default_audience ?? '' },
        { name: 'registration', label: 'Self-service sign-up (registration)', kind: 'checkbox', value: t.registration },
        { name: 'require_verified_email', label: 'Require a verified email to sign in', kind: 'checkbox', value: t.require_verified_email },
        { name: 'email_from', label: 'Email sender (From)', value: t.email_from ?? '' },
        { name: 'session_idle_seconds', label: 'Session idle timeout (seconds)', kind: 'number', value: t.session_idle_seconds },
        { name: 'session_max_seconds', label: 'Session maximum (seconds)', kind: 'number', value: t.session_max_seconds },
        { name: 'personal_token_max_days', label: 'Personal token maximum (days)', kind: 'number', value: t.personal_token_max_days },
      ],
      onsubmit: async (v) => {
        await api('PATCH', T(id), { ...v, default_audience: v.default_audience || null, email_from: v.email_from || null });
        ctx.flash('Settings saved.');
        ctx.reload();
      },
    }),
    h('p', {}, link(`#/t/${enc(id)}/clients`, 'Clients'), ' · ', link(`#/t/${enc(id)}/apis`, 'APIs'), ' · ', link(`#/t/${enc(id)}/users`, 'Users'), ' · ', link(`#/t/${enc(id)}/keys`, 'Signing keys'), ' · ', link(`#/t/${enc(id)}/audit`, 'Audit events')),
    id === 'admin' || id === 'default' ? null : action('Delete tenant', { cls: 'danger', confirm: `Delete tenant ${id} and everything in it?`, run: async () => { await api('DELETE', T(id)); ctx.flash(`Tenant ${id} deleted.`); ctx.go('#/tenants'); } }),
  ];
}

const clientFields = (c = {}) => [
  { name: 'client_name', label: 'Name', value: c.client_name },
  { name: 'redirect_uris', label: 'Redirect URIs', kind: 'textarea', list: true, value: c.redirect_uris, help: 'one a line; https, or http on a loopback host' },
  { name: 'grant_types', label: 'Grant types', kind: 'checks', options: GRANT_TYPES, value: c.grant_types ?? ['authorization_code', 'refresh_token'] },
  { name: 'scope', label: 'Scopes', value: c.scope, help: 'space-separated scopes the client may request' },
  { name: 'consent', label: 'Consent', kind: 'select', options: ['required', 'skip'], value: c.consent ?? 'required' },
  { name: 'access_token_format', label: 'Access token format', kind: 'select', options: ['jwt', 'opaque'], value: c.access_token_format ?? 'jwt' },
];

const clientBody = (v) => ({
  client_name: v.client_name, redirect_uris: v.redirect_uris, grant_types: v.grant_types, scope: v.scope, consent: v.consent, access_token_format: v.access_token_format,
});

export async function clients(ctx, tenant) {
  const items = await all(`${T(tenant)}/clients`);
  const created = h('div', { id: 'created' });
  return [
    h('h1', {}, `Clients of ${tenant}`),
    created,
    table(['client id', 'name', 'grant types', 'redirect URIs'], items.map((c) => [link(`#/t/${enc(tenant)}/clients/${enc(c.client_id)}`, c.client_id), c.client_name, c.grant_types.join(' '), c.redirect_uris.map((u) => h('div', {}, h('code', {}, u)))])),
    form({
      id: 'create-client', title: 'Create a client', submit: 'Create client',
      fields: [...clientFields(), { name: 'public', label: 'Public client (no secret, PKCE required)', kind: 'checkbox' }],
      onsubmit: async (v, el) => {
        const c = await api('POST', `${T(tenant)}/clients`, { ...clientBody(v), public: v.public });
        el.reset();
        created.replaceChildren(notice(`Client ${c.client_name} created: ${c.client_id}`), h('p', {}, 'Client id: ', h('code', { id: 'client-id' }, c.client_id)),
          c.client_secret ? secretBox('client-secret', 'Client secret', c.client_secret) : null, h('p', {}, link(`#/t/${enc(tenant)}/clients/${enc(c.client_id)}`, 'Edit this client')));
      },
    }),
  ];
}

export async function client(ctx, tenant, id) {
  const c = await api('GET', `${T(tenant)}/clients/${enc(id)}`);
  const secret = h('div', {});
  return [
    h('h1', {}, `Client ${c.client_name}`),
    h('p', {}, 'Client id: ', h('code', {}, c.client_id), ' · authentication: ', c.token_endpoint_auth_method),
    secret,
    form({
      id: 'edit-client', title: 'Settings', submit: 'Save client',
      fields: [
        ...clientFields(c),
        { name: 'post_logout_redirect_uris', label: 'Post-logout redirect URIs', kind: 'textarea', list: true, value: c.post_logout_redirect_uris },
        { name: 'cors_origins', label: 'CORS origins', kind: 'textarea', list: true, value: c.cors_origins },
        { name: 'access_token_ttl', label: 'Access token lifetime (seconds)', kind: 'number', value: c.access_token_ttl ?? '' },
      ],
      onsubmit: async (v) => {
        await api('PATCH', `${T(tenant)}/clients/${enc(id)}`, { ...clientBody(v), post_logout_redirect_uris: v.post_logout_redirect_uris, cors_origins: v.cors_origins, access_token_ttl: v.access_token_ttl });
        ctx.flash('Client saved.');
        ctx.reload();
      },
    }),
    c.token_endpoint_auth_method === 'none' ? null : action('Rotate secret', {
      confirm: 'The current secret stops working at once. Rotate it?',
      run: async () => {
        const r = await api('POST', `${T(tenant)}/clients/${enc(id)}/secret`);
        secret.replaceChildren(secretBox('client-secret', 'New client secret', r.client_secret));
      },
    }),
    action('Delete client', { cls: 'danger', confirm: `Delete client ${c.client_name} and every token issued to it?`, run: async () => { await api('DELETE', `${T(tenant)}/clients/${enc(id)}`); ctx.flash('Client deleted.'); ctx.go(`#/t/${enc(tenant)}/clients`); } }),
  ];
}

/** Scopes as lines `name=description`. */
const scopeLines = (scopes = []) => scopes.map((s) => (s.description && s.description !== s.name ? `${s.name}=${s.description}` : s.name));
const parseScopes = (lines) => lines.map((l) => {
  const i = l.indexOf('=');
  return i < 0 ? { name: l } : { name: l.slice(0, i).trim(), description: l.slice(i + 1).trim() };
});
const apiFields = (a = {}) => [
  { name: 'audience', label: 'Audience (API identifier)', value: a.audience, help: 'an absolute URI, e.g. https://api.example.com/' },
  { name: 'name', label: 'Name', value: a.name },
  { name: 'scopes', label: 'Scopes', kind: 'textarea', list: true, value: scopeLines(a.scopes), help: 'one a line: name=description (the consent page shows the description)' },
  { name: 'access_token_ttl', label: 'Access token lifetime (seconds)', kind: 'number', value: a.access_token_ttl ?? '' },
];
const apiBody = (v) => ({ audience: v.audience, ...(v.name && { name: v.name }), scopes: parseScopes(v.scopes), access_token_ttl: v.access_token_ttl });

export async function apis(ctx, tenant) {
  const items = await all(`${T(tenant)}/apis`);
  const created = h('div', { id: 'created' });
  return [
    h('h1', {}, `APIs of ${tenant}`),
    created,
    table(['name', 'audience', 'scopes'], items.map((a) => [link(`#/t/${enc(tenant)}/apis/${enc(a.id)}`, a.name), h('code', {}, a.audience), a.scopes.map((s) => s.name).join(' ')])),
    form({
      id: 'create-api', title: 'Create an API', submit: 'Create API', fields: apiFields(),
      onsubmit: async (v, el) => {
        const a = await api('POST', `${T(tenant)}/apis`, apiBody(v));
        el.reset();
        created.replaceChildren(notice(`API ${a.name} created with scopes ${a.scopes.map((s) => s.name).join(', ')}.`),
          h('p', {}, 'Introspection client id: ', h('code', {}, a.client_id)), secretBox('api-secret', 'Introspection secret', a.client_secret));
      },
    }),
  ];
}

export async function apiPage(ctx, tenant, id) {
  const a = await api('GET', `${T(tenant)}/apis/${enc(id)}`);
  return [
    h('h1', {}, `API ${a.name}`),
    form({
      id: 'edit-api', title: 'Settings and scopes', submit: 'Save API', fields: apiFields(a),
      onsubmit: async (v) => { await api('PATCH', `${T(tenant)}/apis/${enc(id)}`, apiBody(v)); ctx.flash('API saved.'); ctx.reload(); },
    }),
    action('Delete API', { cls: 'danger', confirm: `Delete API ${a.name}?`, run: async () => { await api('DELETE', `${T(tenant)}/apis/${enc(id)}`); ctx.flash('API deleted.'); ctx.go(`#/t/${enc(tenant)}/apis`); } }),
  ];
}

/** In the admin tenant, users are operators: global, or scoped to a comma-separated list of tenants. */
const operatorField = (tenant, u) => (tenant === 'admin'
  ? [{ name: 'operator_tenants', label: 'Operator of tenants', value: (u?.operator_tenants ?? []).join(', '), help: 'comma-separated tenant ids; empty: a global operator (every tenant)' }]
  : []);
const operatorBody = (tenant, v) => {
  if (tenant !== 'admin' || v.operator_tenants === undefined) return {};
  const ids = v.operator_tenants.split(',').map((t) => t.trim()).filter(Boolean);
  return { operator_tenants: ids.length ? ids : null };
};

export async function users(ctx, tenant) {
  const items = await all(`${T(tenant)}/users`);
  return [
    h('h1', {}, `Users of ${tenant}`),
    table(['username', 'email', 'name', 'state', 'created'], items.map((u) => [link(`#/t/${enc(tenant)}/users/${enc(u.id)}`, u.username), u.email ?? '', u.name ?? '', u.disabled ? 'disabled' : 'enabled', time(u.created_at)])),
    form({
      id: 'create-user', title: 'Create a user', submit: 'Create user',
      fields: [
        { name: 'username', label: 'Username' },
        { name: 'password', label: 'Password', kind: 'password', autocomplete: 'new-password' },
        { name: 'email', label: 'Email', kind: 'email' },
        { name: 'email_verified', label: 'Email is verified', kind: 'checkbox' },
        { name: 'name', label: 'Full name' },
        { name: 'must_change_password', label: 'Must change the password at next sign-in', kind: 'checkbox' },
        ...operatorField(tenant),
      ],
      onsubmit: async (v) => {
        const body = { username: v.username, email_verified: v.email_verified, must_change_password: v.must_change_password, ...operatorBody(tenant, v) };
        for (const k of ['password', 'email', 'name']) if (v[k]) body[k] = v[k];
        const u = await api('POST', `${T(tenant)}/users`, body);
        ctx.flash(`User ${u.username} created.`);
        ctx.reload();
      },
    }),
  ];
}

export async function user(ctx, tenant, id) {
  const base = `${T(tenant)}/users/${enc(id)}`;
  const [u, sessions, grants, tokens] = await Promise.all([api('GET', base), all(`${base}/sessions`), all(`${base}/grants`), all(`${base}/personal-tokens`)]);
  return [
    h('h1', {}, `User ${u.username}`),
    h('p', { class: 'muted' }, `id ${u.id} · created ${time(u.created_at)}`),
    form({
      id: 'edit-user', title: 'Profile', submit: 'Save user',
      fields: [
        { name: 'username', label: 'Username', value: u.username },
        { name: 'email', label: 'Email', kind: 'email', value: u.email ?? '' },
        { name: 'email_verified', label: 'Email is verified', kind: 'checkbox', value: u.email_verified },
        { name: 'name', label: 'Full name', value: u.name ?? '' },
        { name: 'disabled', label: 'Disabled (cannot sign in; ends their sessions)', kind: 'checkbox', value: u.disabled },
        { name: 'must_change_password', label: 'Must change the password at next sign-in', kind: 'checkbox', value: u.must_change_password },
        ...(u.id === ctx.operator.id ? [] : operatorField(tenant, u)),
      ],
      onsubmit: async (v) => {
        const body = { ...v, ...operatorBody(tenant, v) };
        // An operator cannot disable or re-scope themselves: those fields are sent only when they change.
        if (u.id === ctx.operator.id && body.disabled === u.disabled) delete body.disabled;
        await api('PATCH', base, body);
        ctx.flash('User saved.');
        ctx.reload();
      },
    }),
    form({
      id: 'set-password', title: 'Set a password', submit: 'Set password',
      fields: [{ name: 'password', label: 'New password', kind: 'password', autocomplete: 'new-password' }],
      onsubmit: async (v) => { await api('PATCH', base, { password: v.password }); ctx.flash('Password set; their sessions ended.'); ctx.reload(); },
    }),
    h('h2', {}, 'Sessions'),
    table(['session', 'signed in', 'methods', 'expires', ''], sessions.map((s) => [h('code', {}, s.id), time(s.auth_time), s.amr.join(' '), time(s.expires_at),
      action('Revoke session', { run: async () => { await api('DELETE', `${base}/sessions/${enc(s.id)}`); ctx.flash('Session revoked.'); ctx.reload(); } })]), 'No live sessions.'),
    h('h2', {}, 'Grants'),
    table(['client', 'scope', 'since', 'expires', ''], grants.map((g) => [h('code', {}, g.client_id), g.scope, time(g.created_at), time(g.expires_at),
      action('Revoke grant', { run: async () => { await api('DELETE', `${base}/grants/${enc(g.id)}`); ctx.flash('Grant revoked, with its tokens.'); ctx.reload(); } })]), 'No live grants.'),
    h('h2', {}, 'Personal tokens'),
    table(['name', 'scopes', 'created', 'expires', ''], tokens.map((p) => [p.name, p.scopes.join(' '), time(p.created_at), time(p.expires_at),
      action(`Revoke token ${p.name}`, { run: async () => { await api('DELETE', `${base}/personal-tokens/${enc(p.id)}`); ctx.flash('Personal token revoked.'); ctx.reload(); } })]), 'No personal tokens.'),
    h('h2', {}, 'Danger zone'),
    action('Delete user', { cls: 'danger', confirm: `Delete ${u.username} with their sessions and grants?`, run: async () => { await api('DELETE', base); ctx.flash('User deleted.'); ctx.go(`#/t/${enc(tenant)}/users`); } }),
  ];
}

export async function keys(ctx, tenant) {
  const items = await all(`${T(tenant)}/keys`);
  return [
    h('h1', {}, `Signing keys of ${tenant}`),
    table(['kid', 'alg', 'purpose', 'status', 'created', 'signs from', ''], items.map((k) => [h('code', {}, k.kid), k.alg, k.purpose, k.status, time(k.created_at), time(k.activates_at),
      // A compromised key is pulled at once: tokens it signed stop verifying.
      action(`Revoke key ${k.kid}`, { cls: 'danger', confirm: `Revoke ${k.kid}? Tokens it signed stop verifying at once.`, run: async () => {
        const r = await api('POST', `${T(tenant)}/keys/${enc(k.kid)}/revoke`, {});
        ctx.flash(`Revoked ${r.revoked}${r.replacement ? `; ${r.replacement.kid} signs now` : ''}.`);
        ctx.reload();
      } })])),
    form({
      id: 'rotate-keys', title: 'Rotate', submit: 'Rotate keys',
      fields: [
        { name: 'purpose', label: 'Keys', kind: 'select', options: ['all', 'access', 'id', 'refresh'], value: 'all' },
        { name: 'immediately', label: 'Sign with the new keys now (emergencies: skips the JWKS cache lifetime)', kind: 'checkbox' },
      ],
      onsubmit: async (v) => {
        const r = await api('POST', `${T(tenant)}/keys/rotate`, { immediately: v.immediately, ...(v.purpose !== 'all' && { purpose: v.purpose }) });
        ctx.flash(`Added ${r.added.map((k) => k.kid).join(', ')}.`);
        ctx.reload();
      },
    }),
  ];
}

export async function audit(ctx, tenant, query) {
  const type = query.get('type') ?? '';
  const rows = h('tbody', {});
  const more = h('div', {});
  const load = async (cursor) => {
    const q = new URLSearchParams({ limit: '50', ...(type && { type }), ...(cursor && { cursor }) });
    const page = await api('GET', `${T(tenant)}/audit-events?${q}`);
    rows.append(...page.items.map((e) => h('tr', {}, [time(e.at), e.type, e.actor, e.user_id ?? '', e.client_id ?? '', e.ip ?? '', h('code', {}, JSON.stringify(e.detail))].map((c) => h('td', {}, c)))));
    more.replaceChildren(page.next_cursor ? button('Older events', () => load(page.next_cursor), 'secondary') : h('p', { class: 'muted' }, 'No older events.'));
  };
  await load();
  const select = h('select', { id: 'audit-type' }, h('option', { value: '' }, 'all'), AUDIT_TYPES.map((t) => h('option', { value: t, selected: t === type }, t)));
  select.addEventListener('change', () => ctx.go(`#/t/${enc(tenant)}/audit${select.value ? `?type=${enc(select.value)}` : ''}`));
  return [
    h('h1', {}, `Audit events of ${tenant}`),
    h('p', {}, h('label', { for: 'audit-type' }, 'Type '), select),
    h('table', { id: 'audit' }, h('thead', {}, h('tr', {}, ['time', 'type', 'actor', 'user', 'client', 'ip', 'detail'].map((x) => h('th', {}, x)))), rows),
    more,
  ];
}

export const allTenants = () => all('/tenants');
