// Malformed HTTP requests for every route Tessera serves, as fast-check arbitraries. One generator
// for both runs: the property tests (test/fuzz/*.test.ts, over app.inject) and `npm run fuzz`
// (scripts/fuzz.mjs, over loopback HTTP). The targets come from the route tables themselves
// (src/http/routes.ts ROUTES, src/admin/routes.ts ADMIN_ROUTES), so a new route is fuzzed
// without anyone remembering to add it here.

/** Parameter names the endpoints read (grep of `.get('…')` over src/), plus a few strangers. */
const PARAM_NAMES = [
  'action', 'audience', 'client_assertion', 'client_assertion_type', 'client_id', 'client_secret', 'code', 'code_challenge',
  'code_challenge_method', 'code_verifier', 'csrf', 'current_password', 'days', 'decision', 'device_code', 'dpop_jkt', 'email',
  'grant_type', 'id_token_hint', 'interaction', 'key', 'login_hint', 'max_age', 'name', 'nonce', 'password', 'password_confirm',
  'post_logout_redirect_uri', 'prompt', 'redirect_uri', 'refresh_token', 'request', 'request_uri', 'resource', 'response_mode',
  'response_type', 'scope', 'state', 'token', 'token_id', 'token_type_hint', 'type', 'user_code', 'username', 'subject_token',
  'subject_token_type', 'requested_token_type', 'actor_token', 'actor_token_type', 'ui_locales', 'claims', 'acr_values', 'display',
  'id_token', 'access_token', 'limit', 'cursor', 'after', 'before', 'since', 'until', 'q', '__proto__', 'constructor', '', 'a[b]', 'x.y',
];

/** JSON fields the admin API and the registration endpoint read, plus prototype-pollution bait. */
const JSON_FIELDS = [
  'id', 'name', 'display_name', 'hostname', 'default_audience', 'redirect_uris', 'post_logout_redirect_uris', 'grant_types',
  'response_types', 'scope', 'scopes', 'token_endpoint_auth_method', 'jwks', 'jwks_uri', 'client_name', 'client_uri', 'logo_uri',
  'cors_origins', 'access_token_format', 'access_token_ttl', 'consent', 'username', 'password', 'email', 'email_verified', 'disabled',
  'tenants', 'audience', 'registration', 'dcr', 'session_idle_seconds', 'session_max_seconds', 'personal_token_max_days',
  'expires_in', 'max_uses', 'token_exchange', 'backchannel_logout_uri', 'software_statement', '__proto__', 'constructor', 'prototype',
];

const B64 = (s) => Buffer.from(s).toString('base64');
/** 30 kB that does not compress (PostgreSQL compresses index entries: a repeated letter would fit in one). */
const NOISE = (() => {
  let x = 2463534242;
  let out = '';
  while (out.length < 30_000) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out += 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[x & 63];
  }
  return out;
})();
const B64URL = (s) => Buffer.from(s).toString('base64url');
const HUGE = 100 * 1024;
/** Percent-encoding that survives lone surrogates (they become U+FFFD; raw broken encodings come from BROKEN_ENCODINGS). */
const enc = (s) => encodeURIComponent(s.toWellFormed());

/** Junk that looks like a JWT: three base64url parts, some of them parseable JSON with odd headers. */
function jwtLike(fc) {
  const header = fc.oneof(
    fc.constantFrom(
      { alg: 'none' }, { alg: 'ES256', typ: 'dpop+jwt', jwk: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' } },
      { alg: 'RS256', kid: '../../etc/passwd' }, { alg: 'HS256', typ: 'at+jwt' }, { typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'RSA', n: '', e: '' } },
      { alg: 'EdDSA', typ: 'dpop+jwt', jwk: { kty: 'OKP', crv: 'Ed25519', x: 12 } }, { alg: ['ES256'], jwk: null }, { crit: ['x'], alg: 'ES256' },
    ),
    fc.jsonValue({ maxDepth: 2 }),
  );
  const payload = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom({ htm: 'POST', htu: 'http://x', iat: 1e300, jti: 1 }, { exp: 'soon', iss: null, aud: [] }, { iss: 'a\u0000', sub: 'a\u0000', jti: '\u0000', exp: 4e9 }, { iss: NOISE.slice(0, 3000), sub: NOISE.slice(0, 3000) }));
  return fc.tuple(header, payload, fc.string({ maxLength: 20 })).map(([h, p, s]) => `${B64URL(JSON.stringify(h) ?? 'x')}.${B64URL(JSON.stringify(p) ?? 'x')}.${B64URL(s)}`);
}

/** Values: plausible ones (so requests get past the first checks), junk, wrong encodings, huge ones. */
function valueArb(fc, fx) {
  const plausible = fc.constantFrom(
    ...(fx.extraValues ?? []), ...(fx.accessToken ? [fx.accessToken] : []), ...(fx.idToken ? [fx.idToken] : []), fx.clientId, fx.publicClientId, fx.redirectUri, fx.username, fx.tenant, 'code', 'token', 'id_token', 'code id_token', 'none', 'openid',
    'openid profile email offline_access', 'S256', 'plain', 'login', 'consent', 'select_account', 'authorization_code', 'client_credentials',
    'refresh_token', 'password', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange',
    'urn:ietf:params:oauth:token-type:access_token', 'urn:ietf:params:oauth:token-type:jwt', 'urn:ietf:params:oauth:request_uri:AAAA',
    'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', 'allow', 'deny', 'query', 'fragment', 'form_post', 'web_page', 'access_token',
    'refresh_token', 'BCDF-GHJK', 'http://127.0.0.1/cb', 'https://evil.example/cb', 'javascript:alert(1)', '0', '-1', '1e309', 'NaN', '9007199254740993',
    'true', '[]', '{}', 'null', 'undefined', '__proto__', 'a'.repeat(300), '../..', '%00', ' ', '\t\n', '\u0000', '\uFFFF', '\uD800', '😀',
  );
  // Over the body limit (64 kB) or Node's header limit (16 kB), and just under them; rare, since
  // a request has several values and big ones are slow to make, send and refuse.
  const big = fc.constantFrom('a'.repeat(HUGE), 'é'.repeat(HUGE / 2), '%'.repeat(HUGE), 'a'.repeat(3000), 'b'.repeat(30_000), NOISE, NOISE.slice(0, 3000));
  return fc.oneof(
    { weight: 60, arbitrary: plausible },
    { weight: 30, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 20, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
    { weight: 20, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
    { weight: 20, arbitrary: jwtLike(fc) },
    { weight: 10, arbitrary: fc.integer().map(String) },
    { weight: 3, arbitrary: big },
  );
}

/** A piece of a URL or form body that is not valid percent-encoding or not valid UTF-8 once decoded. */
const BROKEN_ENCODINGS = ['%', '%z', '%zz', '%G0', '%C3%28', '%C0%AF', '%ED%A0%80', '%F4%90%80%80', '%FF%FE', '%E2%82', '%00', '%%', '+%2B+', '%u0041', '&&=&', '=='];

function encodedPairs(fc, fx) {
  const name = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...PARAM_NAMES) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });
  const pair = fc.tuple(name, valueArb(fc, fx), fc.nat(9), fc.constantFrom(...BROKEN_ENCODINGS)).map(([n, v, mode, broken]) =>
    // One pair in ten carries a raw broken encoding in its value or name.
    mode === 0 ? `${enc(n)}=${broken}${enc(v.slice(0, 50))}` : mode === 1 ? `${broken}=${enc(v.slice(0, 50))}` : `${enc(n)}=${enc(v)}`,
  );
  // Duplicated parameters: some pairs repeated verbatim.
  return fc.tuple(fc.array(pair, { maxLength: 8 }), fc.array(fc.nat(7), { maxLength: 2 })).map(([pairs, dups]) => {
    const all = [...pairs];
    for (const d of dups) if (pairs.length) all.push(pairs[d % pairs.length]);
    return all.join('&');
  });
}

function jsonBody(fc, fx) {
  const field = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...JSON_FIELDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) });
  const value = fc.oneof(valueArb(fc, fx), fc.jsonValue({ maxDepth: 3 }), fc.array(valueArb(fc, fx), { maxLength: 3 }));
  return fc.oneof(
    { weight: 5, arbitrary: fc.dictionary(field, value, { maxKeys: 6 }).map((o) => JSON.stringify(o)) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v) ?? 'null') },
    // Broken JSON, JSON with a duplicated key, and a JSON body nested very deep.
    { weight: 1, arbitrary: fc.constantFrom('{', '{"name":', '[1,2', '"\\ud800"', '{"a":1,"a":2}', '{"__proto__":{"admin":true}}', '['.repeat(5000) + ']'.repeat(5000), 'nul', '') },
  );
}

const MULTIPART = (fields) => {
  const b = '----fuzzboundary';
  return [`${fields.map(([n, v]) => `--${b}\r\ncontent-disposition: form-data; name="${n}"\r\n\r\n${v}\r\n`).join('')}--${b}--\r\n`, `multipart/form-data; boundary=${b}`];
};

/** A body and the content type it is sent with (often not the one the endpoint wants). */
function bodyArb(fc, fx) {
  const form = encodedPairs(fc, fx);
  const contentTypes = fc.constantFrom(
    'application/x-www-form-urlencoded', 'application/x-www-form-urlencoded; charset=latin1', 'APPLICATION/X-WWW-FORM-URLENCODED',
    'application/json', 'application/json; charset=utf-16', 'text/plain', 'multipart/form-data', 'application/jwt', 'application/octet-stream',
    '', ';;;', 'application/x-www-form-urlencoded;', 'application/json, application/x-www-form-urlencoded', '*/*',
  );
  return fc.oneof(
    { weight: 4, arbitrary: form.map((s) => ({ body: s, contentType: 'application/x-www-form-urlencoded' })) },
    { weight: 3, arbitrary: jsonBody(fc, fx).map((s) => ({ body: s, contentType: 'application/json' })) },
    { weight: 3, arbitrary: fc.tuple(fc.oneof(form, jsonBody(fc, fx)), contentTypes).map(([body, contentType]) => ({ body, contentType })) },
    { weight: 1, arbitrary: fc.array(fc.tuple(fc.constantFrom(...PARAM_NAMES), valueArb(fc, fx)), { maxLength: 4 }).map((f) => { const [body, contentType] = MULTIPART(f); return { body, contentType }; }) },
    // Bytes that are not UTF-8 (lone continuation bytes, overlongs, 0xFF), under a text content type.
    { weight: 1, arbitrary: fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain')).map(([bytes, contentType]) => ({ body: Buffer.concat([Buffer.from('client_id=\xff\xfe&grant_type=', 'latin1'), Buffer.from(bytes)]), contentType })) },
    { weight: 1, arbitrary: fc.constantFrom({ body: `a=${'b'.repeat(HUGE)}`, contentType: 'application/x-www-form-urlencoded' }, { body: JSON.stringify({ name: 'x'.repeat(HUGE) }), contentType: 'application/json' }) },
    { weight: 2, arbitrary: fc.constant({ body: undefined, contentType: undefined }) },
    { weight: 1, arbitrary: contentTypes.map((contentType) => ({ body: undefined, contentType })) },
  );
}

function authorizationArb(fc, fx) {
  const creds = fc.tuple(fc.oneof(fc.constant(fx.clientId), fc.string({ maxLength: 20 })), fc.oneof(fc.constant(fx.clientSecret), fc.string({ maxLength: 20 }))).map(([i, s]) => `${i}:${s}`);
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: creds.map((c) => `Basic ${B64(c)}`) },
    { weight: 1, arbitrary: fc.constantFrom(...BROKEN_ENCODINGS).map((b) => `Basic ${B64(`${b}:${b}`)}`) },
    { weight: 1, arbitrary: fc.constantFrom('Basic', 'Basic ', 'Basic !!!', `Basic ${B64('nocolon')}`, `Basic ${B64(':')}`, `Basic ${B64('\xff\xfe:\x00')}`, `Basic ${B64('a%00:b')}`, `Basic ${B64('\u0000:\u0000')}`, `Basic ${B64(`${NOISE.slice(0, 6000)}:x`)}`, 'Bearer', 'Bearer ', 'Bearer a b', 'DPoP', 'Negotiate abc', 'basic x, bearer y', 'Bearer a,Bearer b', `Basic ${'A'.repeat(6000)}`) },
    { weight: 2, arbitrary: fc.tuple(fc.constantFrom('Bearer', 'DPoP', 'bearer', 'BEARER'), fc.oneof(jwtLike(fc), fc.string({ maxLength: 40 }), fc.constant(fx.operatorToken ?? 'x'))).map(([s, v]) => `${s} ${v}`) },
  );
}

function headersArb(fc, fx) {
  const opt = (arb, weight = 3) => fc.oneof({ weight, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
  return fc.record({
    authorization: authorizationArb(fc, fx),
    cookie: opt(fc.oneof(
      fc.constantFrom(...(fx.cookie ? [fx.cookie, fx.cookie, `${fx.cookie}; ${fx.cookie}`] : []), `tessera_session_${fx.tenant}=junk`, `tessera_browser_${fx.tenant}=%zz`, `tessera_session_${fx.tenant}=a%00b; tessera_browser_${fx.tenant}=%00`, `tessera_session_${fx.tenant}=${NOISE.slice(0, 6000)}`, 'a=%zz; =; ;;; b', `tessera_session_${fx.tenant}=${'x'.repeat(7000)}`, 'x'.repeat(7000)),
      fc.tuple(fc.constantFrom(`tessera_session_${fx.tenant}`, `tessera_browser_${fx.tenant}`, 'x'), fc.string({ maxLength: 30 })).map(([n, v]) => `${n}=${enc(v)}`),
    )),
    dpop: opt(fc.oneof(jwtLike(fc), fc.constantFrom('', 'a.b.c', '...', 'x'.repeat(9000)))),
    origin: opt(fc.constantFrom('http://evil.example', 'null', '', 'http://127.0.0.1', '%zz', 'http://a b')),
    accept: opt(fc.constantFrom('text/html', 'application/json', '*/*;q=abc', '', 'text/html, application/json;q=0.1')),
    'x-forwarded-for': opt(fc.constantFrom('1.2.3.4', 'junk', '::1, 10.0.0.1', ''), 6),
    'x-forwarded-proto': opt(fc.constantFrom('https', 'gopher', ''), 6),
    'x-forwarded-host': opt(fc.constantFrom('evil.example', '', 'a:b:c'), 6),
    host: opt(fc.constantFrom('evil.example', 'EVIL.example:99999', '[::1', 'a b', '127.0.0.1:1', 'tessera.test.'), 8),
  }).map((h) => Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)));
}

/** Path segments that are not what a router or decoder expects. */
const PATH_JUNK = ['__proto__', 'constructor', '%', '%zz', '%C0%AF', '%00', '..', '%2e%2e', '%FF%FE', '%E2%82', ';x=1', '~', '%2F', 'a'.repeat(3000), '\u00e9', '%u0041', ' '];

/**
 * Every route to fuzz, from the route tables. `fx` names the fixtures: tenant, clientId,
 * clientSecret, publicClientId, redirectUri, username, operatorToken.
 */
export function fuzzTargets(routes, adminRoutes, fx) {
  const targets = [];
  for (const r of routes) {
    const prefixes = [`/realms/${fx.tenant}`, `/auth/realms/${fx.tenant}`];
    const urls = [...prefixes.map((p) => p + r.path), ...(r.defaultAliases ?? [])];
    if (r.path === '/.well-known/oauth-authorization-server') urls.push(`/.well-known/oauth-authorization-server/realms/${fx.tenant}`);
    targets.push({ name: r.path, kind: r.browser ? 'browser' : 'api', methods: r.methods, urls });
  }
  for (const r of adminRoutes) {
    targets.push({ name: `admin ${r.method} ${r.path}`, kind: 'admin', methods: [r.method], urls: [`/admin/api/v1${r.path}`] });
  }
  targets.push({ name: 'admin GET /openapi.json', kind: 'admin', methods: ['GET'], urls: ['/admin/api/v1/openapi.json'] });
  // The admin console's static pages (src/admin/console/serve.ts).
  targets.push({ name: 'console /admin', kind: 'browser', methods: ['GET'], urls: ['/admin', '/admin/', '/admin/callback', '/admin/assets/:name'] });
  return targets;
}

/** Fills `:param` and `{param}` placeholders, with a real value or junk; may then mangle the path. */
function pathArb(fc, target, fx) {
  const known = fc.constantFrom(fx.tenant, fx.clientId, fx.publicClientId, fx.userId ?? 'u', 'admin', 'no-such-thing');
  const junkSegment = fc.oneof(fc.constantFrom(...PATH_JUNK), fc.string({ maxLength: 20 }).map(enc));
  const filler = fc.oneof({ weight: 3, arbitrary: known }, { weight: 2, arbitrary: junkSegment });
  const mangle = fc.oneof(
    { weight: 12, arbitrary: fc.constant((p) => p) },
    { weight: 1, arbitrary: fc.constant((p) => `${p}/`) },
    { weight: 1, arbitrary: junkSegment.map((j) => (p) => `${p}/${j}`) },
    { weight: 1, arbitrary: junkSegment.map((j) => (p) => p.replace(/\/[^/]*$/, `/${j}`)) },
    { weight: 1, arbitrary: fc.constant((p) => p.replace('/', '//')) },
    { weight: 1, arbitrary: fc.constant((p) => p.toUpperCase()) },
    { weight: 1, arbitrary: junkSegment.map((j) => (p) => p.replace(`/realms/${fx.tenant}`, `/realms/${j}`)) },
  );
  return fc.tuple(fc.constantFrom(...target.urls), fc.array(filler, { minLength: 4, maxLength: 4 }), mangle).map(([url, fills, m]) => {
    let i = 0;
    return m(url.replace(/:\w+|\{\w+\}/g, () => fills[i++ % fills.length]));
  });
}

/** Parameters each endpoint needs before it looks further, sent (with a plausible value, mostly) by plausible requests. */
const NEEDED = {
  '/protocol/openid-connect/token': ['grant_type', 'scope'],
  '/protocol/openid-connect/auth': ['client_id', 'redirect_uri', 'response_type', 'scope'],
  '/protocol/openid-connect/ext/par/request': ['redirect_uri', 'response_type', 'scope'],
  '/protocol/openid-connect/revoke': ['token', 'token_type_hint'],
  '/protocol/openid-connect/token/introspect': ['token', 'token_type_hint'],
  '/protocol/openid-connect/auth/device': ['scope'],
  '/device': ['user_code'],
  '/protocol/openid-connect/logout': ['id_token_hint', 'post_logout_redirect_uri', 'client_id'],
  '/protocol/openid-connect/validate': ['access_token'],
};

function neededPairs(fc, target, fx) {
  const names = NEEDED[target.name] ?? [];
  const specific = {
    grant_type: ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'urn:ietf:params:oauth:grant-type:device_code', 'urn:ietf:params:oauth:grant-type:token-exchange', 'implicit'],
    scope: ['read', 'openid', 'openid read offline_access', 'openid profile email'],
    client_id: [fx.clientId, fx.publicClientId],
    redirect_uri: [fx.redirectUri, 'http://127.0.0.1/cb'],
    response_type: ['code', 'token', 'id_token', 'code id_token', 'id_token token', 'none'],
    token: [fx.accessToken ?? 'x', fx.idToken ?? 'x'],
    token_type_hint: ['access_token', 'refresh_token'],
    id_token_hint: [fx.idToken ?? 'x'],
    access_token: [fx.accessToken ?? 'x'],
  };
  return fc.tuple(...names.map((n) => fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...(specific[n] ?? [''])) }, { weight: 1, arbitrary: valueArb(fc, fx) }).map((v) => `${n}=${enc(v)}`)))
    .map((pairs) => pairs.join('&'));
}

/**
 * A request that is right in every way but its parameters: the canonical URL, the route's method,
 * the content type it wants, valid credentials, and parameter names it reads. It gets past the
 * first checks, so the values reach the code behind them.
 */
function plausibleArb(fc, target, fx) {
  const json = target.kind === 'admin' || target.name.startsWith('/clients-registrations');
  const auth = target.kind === 'admin' ? fc.constant(`Bearer ${fx.operatorToken}`)
    : fc.constantFrom(`Basic ${B64(`${encodeURIComponent(fx.clientId)}:${encodeURIComponent(fx.clientSecret)}`)}`, undefined, ...(fx.accessToken ? [`Bearer ${fx.accessToken}`, `DPoP ${fx.accessToken}`] : []));
  return fc.record({
    method: fc.constantFrom(...target.methods),
    url: fc.tuple(fc.constantFrom(...target.urls), fc.constantFrom(fx.clientId, fx.tenant, fx.userId ?? 'u', 'no-such-thing')).map(([u, id]) => u.replace(/:\w+|\{\w+\}/g, (m) => (m === '{tenant}' ? fx.tenant : id))),
    query: fc.tuple(neededPairs(fc, target, fx), encodedPairs(fc, fx)).map(([n, f]) => [n, f].filter(Boolean).join('&')),
    // On the pages, half the forms carry the live interaction and its CSRF token, so they reach the sign-in steps.
    form: fc.tuple(neededPairs(fc, target, fx), encodedPairs(fc, fx), fc.boolean()).map(([n, f, live]) =>
      [live && target.kind === 'browser' ? fx.formPrefix : '', n, f].filter(Boolean).join('&')),
    json: jsonBody(fc, fx),
    authorization: auth,
    cookie: fc.constantFrom(fx.cookie, undefined),
  }).map(({ method, url, query, form, json: j, authorization, cookie }) => {
    const withBody = method !== 'GET' && method !== 'DELETE';
    const headers = Object.fromEntries(Object.entries({
      authorization, cookie, ...(withBody && { 'content-type': json ? 'application/json' : 'application/x-www-form-urlencoded' }),
    }).filter(([, v]) => v !== undefined));
    return { target: target.name, kind: target.kind, method, url: query && !withBody ? `${url}?${query}` : url, headers, body: withBody ? (json ? j : form) : undefined };
  });
}

/**
 * One request: `{ target, kind, method, url, headers, body }` (body a string, a Buffer or undefined).
 * A third are plausible (plausibleArb); the rest are wrong in any number of ways, mostly with
 * the route's own methods, sometimes any other.
 */
export function requestArb(fc, targets, fx) {
  // One arbitrary per target, built once: building them per request was most of the generation time.
  const perTarget = targets.map((target) => fc.oneof({ weight: 1, arbitrary: plausibleArb(fc, target, fx) }, { weight: 2, arbitrary: malformedArb(fc, target, fx) }));
  return fc.oneof(...perTarget);
}

function malformedArb(fc, target, fx) {
  return fc.record({
      method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...target.methods) }, { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD') }),
      path: pathArb(fc, target, fx),
      query: fc.oneof({ weight: 2, arbitrary: fc.constant('') }, { weight: 3, arbitrary: encodedPairs(fc, fx) }),
      body: bodyArb(fc, fx),
      headers: headersArb(fc, fx),
    }).map(({ method, path, query, body, headers }) => {
      const h = { ...headers };
      const withBody = body.body !== undefined && method !== 'GET' && method !== 'HEAD';
      if (body.contentType !== undefined && (withBody || body.contentType)) h['content-type'] = body.contentType;
      if (h['content-type'] === '') delete h['content-type'];
      return { target: target.name, kind: target.kind, method, url: query ? `${path}?${query}` : path, headers: h, body: withBody ? body.body : undefined };
    });
}

/** The `error` codes the server may send: the OAuthErrorCode union of src/errors.ts. */
export function errorCodesFrom(errorsTs) {
  const union = errorsTs.slice(errorsTs.indexOf('export type OAuthErrorCode'), errorsTs.indexOf(';', errorsTs.indexOf('export type OAuthErrorCode')));
  return new Set([...union.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]));
}

/**
 * What is wrong with an answer, or null: a 5xx, a JSON body that does not parse, a JSON error
 * whose `error` is not one the server documents, a redirect without a Location.
 */
export function problemWith(res, errorCodes) {
  if (res.status >= 500) return `status ${res.status}`;
  const type = String(res.headers['content-type'] ?? '');
  if (type.startsWith('application/json') && res.body.length) {
    let json;
    try {
      json = JSON.parse(res.body);
    } catch {
      return 'the JSON body does not parse';
    }
    if (res.status >= 400) {
      if (!json || typeof json.error !== 'string' || !errorCodes.has(json.error)) return `error body without a known error code: ${res.body.slice(0, 200)}`;
      if (json.error_description !== undefined && typeof json.error_description !== 'string') return 'error_description is not a string';
    }
  }
  if (res.status >= 300 && res.status < 400 && res.status !== 304 && !res.headers.location) return `${res.status} without a Location`;
  return null;
}

/** The authorization request that opens a sign-in for the confidential fixture client. */
export const interactionUrl = (fx) =>
  `/realms/${fx.tenant}/protocol/openid-connect/auth?${new URLSearchParams({ client_id: fx.clientId, redirect_uri: fx.redirectUri, response_type: 'code', scope: 'openid read', state: 'fuzz' })}`;

/** From the sign-in page and its Set-Cookie: the interaction id, its CSRF token and the browser cookie. */
export function interactionFixtures(html, setCookie) {
  const field = (name) => html.match(new RegExp(`name="${name}" value="([^"]*)"`))?.[1];
  const cookies = (Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []).map((c) => c.split(';')[0]);
  const [interaction, csrf] = [field('interaction'), field('csrf')];
  return {
    extraValues: [interaction, csrf].filter(Boolean),
    cookie: cookies.join('; ') || undefined,
    formPrefix: interaction && csrf ? `interaction=${encodeURIComponent(interaction)}&csrf=${encodeURIComponent(csrf)}` : undefined,
  };
}
