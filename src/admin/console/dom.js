// Building the DOM without innerHTML: every text goes in as a text node, so nothing an API
// returns can become markup, and event handlers are attached as listeners (the CSP allows no
// inline handlers).

/** h('button', { class: 'x', onclick: fn }, 'text', child…) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' && 'value' in el) el.value = v;
    else if (k === 'checked') el.checked = Boolean(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const SVG = 'http://www.w3.org/2000/svg';
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

export const time = (epoch) => (epoch ? new Date(epoch * 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC' : '—');

let fieldSeq = 0;

/**
 * A form from field descriptions. Each field has an error slot next to it (`data-field`), where
 * an API error naming that field (`redirect_uris[1]` → `redirect_uris`) is shown.
 * Field kinds: text, password, email, number, textarea (one value a line → array when `list`),
 * checkbox, checks (several values → array), select.
 */
export function form({ id, title, fields, submit, onsubmit, extra }) {
  const errors = h('div', { class: 'form-errors' });
  const controls = {};
  const rows = fields.map((f) => {
    const cid = `f${++fieldSeq}-${f.name}`;
    let control;
    if (f.kind === 'textarea') control = h('textarea', { id: cid, name: f.name, rows: f.rows ?? 3 }, (f.list ? (f.value ?? []).join('\n') : f.value) ?? '');
    else if (f.kind === 'checkbox') control = h('input', { type: 'checkbox', id: cid, name: f.name, checked: Boolean(f.value) });
    else if (f.kind === 'select') control = h('select', { id: cid, name: f.name }, f.options.map((o) => h('option', { value: o, selected: o === f.value }, o)));
    else if (f.kind === 'checks') {
      control = h('div', { class: 'checks', id: cid, role: 'group', 'aria-label': f.label },
        f.options.map((o) => h('label', {}, h('input', { type: 'checkbox', name: f.name, value: o, checked: (f.value ?? []).includes(o) }), o)));
    } else control = h('input', { type: f.kind ?? 'text', id: cid, name: f.name, value: f.value ?? '', autocomplete: f.autocomplete ?? 'off', required: f.required });
    controls[f.name] = { f, control };
    const label = f.kind === 'checks' ? h('label', {}, f.label) : h('label', { for: cid }, f.label);
    return h('div', { class: 'field' }, f.kind === 'checkbox' ? h('label', { class: 'inline', for: cid }, control, ' ', f.label) : [label, control],
      f.help ? h('div', { class: 'help' }, f.help) : null, h('p', { class: 'field-error', 'data-field': f.name, role: 'alert' }));
  });
  const el = h('form', { class: 'card', id, novalidate: true }, title ? h('h2', {}, title) : null, rows, errors, h('button', { type: 'submit' }, submit), extra ?? null);
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(el);
    const values = {};
    for (const [name, { f, control }] of Object.entries(controls)) {
      if (f.kind === 'checkbox') values[name] = control.checked;
      else if (f.kind === 'checks') values[name] = [...control.querySelectorAll('input:checked')].map((i) => i.value);
      else if (f.kind === 'textarea' && f.list) values[name] = control.value.split('\n').map((v) => v.trim()).filter(Boolean);
      else if (f.kind === 'number') values[name] = control.value === '' ? undefined : Number(control.value);
      else values[name] = control.value;
    }
    const button = el.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      await onsubmit(values, el);
    } catch (err) {
      showError(el, err);
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

export function clearErrors(el) {
  for (const p of el.querySelectorAll('.field-error')) p.textContent = '';
  const general = el.querySelector('.form-errors');
  if (general) general.replaceChildren();
}

/** An API error next to its field when the form has one, otherwise above the button. */
export function showError(el, err) {
  const field = err?.field ? String(err.field).split(/[.[]/)[0] : undefined;
  const slot = field ? el.querySelector(`.field-error[data-field="${CSS.escape(field)}"]`) : null;
  const message = err?.message ?? String(err);
  if (slot) slot.textContent = message;
  else (el.querySelector('.form-errors') ?? el).append(h('p', { class: 'error', role: 'alert' }, message));
}
