import { api, BASE, completeSignIn, setSignedOutHandler, signedIn, signIn, signOut } from './auth.js';
import { h } from './dom.js';
import * as pages from './pages.js';

// The console's shell: hash routes (#/t/TENANT/clients…), the navigation with a tenant picker,
// the operator's name and the sign-out button. Pages live in pages.js.

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const who = document.getElementById('who');
const TENANT_KEY = 'tessera.console.tenant';

let operator;
let tenantIds = [];
let flashed;

const routes = [
  [/^#\/t\/([^/?]+)\/overview$/, (ctx, t) => pages.overview(ctx, t)],
  [/^#\/tenants$/, (ctx) => pages.tenants(ctx)],
  [/^#\/tenants\/([^/?]+)$/, (ctx, t) => pages.tenant(ctx, t)],
  [/^#\/t\/([^/?]+)\/clients$/, (ctx, t) => pages.clients(ctx, t)],
  [/^#\/t\/([^/?]+)\/clients\/([^/?]+)$/, (ctx, t, id) => pages.client(ctx, t, id)],
  [/^#\/t\/([^/?]+)\/apis$/, (ctx, t) => pages.apis(ctx, t)],
  [/^#\/t\/([^/?]+)\/apis\/([^/?]+)$/, (ctx, t, id) => pages.apiPage(ctx, t, id)],
  [/^#\/t\/([^/?]+)\/users$/, (ctx, t) => pages.users(ctx, t)],
  [/^#\/t\/([^/?]+)\/users\/([^/?]+)$/, (ctx, t, id) => pages.user(ctx, t, id)],
  [/^#\/t\/([^/?]+)\/keys$/, (ctx, t) => pages.keys(ctx, t)],
  [/^#\/t\/([^/?]+)\/audit$/, (ctx, t, _id, q) => pages.audit(ctx, t, q)],
];

const currentTenant = () => {
  const m = /^#\/(?:t|tenants)\/([^/?]+)/.exec(location.hash);
  const t = m ? decodeURIComponent(m[1]) : sessionStorage.getItem(TENANT_KEY);
  return t && tenantIds.includes(t) ? t : tenantIds.includes('default') ? 'default' : tenantIds[0];
};

const ctx = {
  get operator() { return operator; },
  go: (hash) => (location.hash === hash ? render() : (location.hash = hash)),
  reload: () => render(),
  flash: (text) => (flashed = text),
};

function landing(message) {
  nav.replaceChildren();
  who.replaceChildren();
  main.replaceChildren(h('section', { class: 'landing' },
    h('h1', {}, 'Tessera admin console'),
    h('p', {}, 'Sign in as an operator of the admin tenant.'),
    message ? h('p', { class: 'error', role: 'alert' }, message) : null,
    h('button', { type: 'button', id: 'sign-in', onclick: () => signIn() }, 'Sign in')));
}

function renderNav(tenant) {
  const e = encodeURIComponent(tenant);
  const links = [[`#/t/${e}/overview`, 'Overview'], ['#/tenants', 'Tenants'], [`#/t/${e}/clients`, 'Clients'], [`#/t/${e}/apis`, 'APIs'],
    [`#/t/${e}/users`, 'Users'], [`#/t/${e}/keys`, 'Keys'], [`#/t/${e}/audit`, 'Audit']];
  const picker = h('select', { id: 'tenant-picker', 'aria-label': 'Tenant' }, tenantIds.map((t) => h('option', { value: t, selected: t === tenant }, t)));
  picker.addEventListener('change', () => {
    sessionStorage.setItem(TENANT_KEY, picker.value);
    const rest = /^#\/t\/[^/?]+\/(\w+)/.exec(location.hash)?.[1] ?? 'overview';
    ctx.go(`#/t/${encodeURIComponent(picker.value)}/${rest}`);
  });
  const page = location.hash.split('?')[0];
  nav.replaceChildren(h('label', {}, 'Tenant ', picker), ...links.map(([href, text]) => h('a', { href, class: page.startsWith(href) ? 'active' : undefined }, text)));
  who.replaceChildren(h('span', { id: 'operator' }, `Signed in as ${operator.username}`), h('button', { type: 'button', id: 'sign-out', onclick: () => signOut() }, 'Sign out'));
}

let rendering = 0;
async function render() {
  const mine = ++rendering;
  if (!signedIn()) return landing();
  try {
    operator ??= await api('GET', '/me');
    tenantIds = (await pages.allTenants()).map((t) => t.id);
  } catch (err) {
    return landing(err.message);
  }
  const tenant = currentTenant();
  if (tenant) sessionStorage.setItem(TENANT_KEY, tenant);
  const [path, query] = location.hash.split('?');
  const route = routes.find(([re]) => re.test(path));
  if (!route) return ctx.go(`#/t/${encodeURIComponent(tenant)}/overview`);
  renderNav(tenant);
  const args = route[0].exec(path).slice(1).map(decodeURIComponent);
  try {
    const content = await route[1](ctx, args[0], args[1], new URLSearchParams(query ?? ''));
    if (mine !== rendering) return;
    const note = flashed ? h('p', { class: 'notice', role: 'status', id: 'flash' }, flashed) : null;
    flashed = undefined;
    main.replaceChildren(...[note, content].flat().filter(Boolean));
  } catch (err) {
    if (mine !== rendering) return;
    if (!signedIn()) return landing('Your session ended. Sign in again.');
    main.replaceChildren(h('h1', {}, 'Something went wrong'), h('p', { class: 'error', role: 'alert' }, err.message));
  }
}

setSignedOutHandler(() => {
  operator = undefined;
  landing('Your session ended. Sign in again.');
});
window.addEventListener('hashchange', () => render());

if (location.pathname === `${BASE}/admin/callback`) {
  completeSignIn().then((returnTo) => {
    history.replaceState(null, '', `${BASE}/admin${returnTo}`);
    return render();
  }, (err) => landing(err.message));
} else {
  render();
}
