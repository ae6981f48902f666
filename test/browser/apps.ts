/**
 * What browser tests need beside Tessera: a tiny relying party on a loopback origin (its
 * redirect URI and pages), and a person at Tessera's sign-in pages (DESIGN.md §1 "Sign-in
 * pages": `username`/`password` with labels and one submit button; consent lists the scopes
 * and has two `decision` buttons, `allow` and `deny`).
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

export interface ReceivedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** A POSTed urlencoded form, parsed. */
  form?: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
}

export type Route = (req: IncomingMessage, res: ServerResponse, received: ReceivedRequest) => void;

export interface LoopbackApp {
  /** `http://127.0.0.1:PORT`: loopback, so a secure context for Web Crypto (keycloak-js, oidc-client-ts need it). */
  origin: string;
  /** Every request, in order (what a redirect URI received). */
  received: ReceivedRequest[];
  route(path: string, handler: Route): void;
  /** Serves a file with a content type. */
  file(path: string, file: string, type: string): void;
  close(): Promise<void>;
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A page that shows `data` as JSON in `<pre id="result">`. */
export function resultPage(title: string, data: unknown): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<style>body{font:16px system-ui,sans-serif;margin:2em}pre{background:#eef;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}</style></head>
<body><h1>${escape(title)}</h1><pre id="result" data-state="done">${escape(JSON.stringify(data, null, 2))}</pre></body></html>`;
}

/** An HTTP server on 127.0.0.1 with per-path handlers; it records every request and its form body. */
export async function startApp(): Promise<LoopbackApp> {
  const routes = new Map<string, Route>();
  const received: ReceivedRequest[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app.invalid');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const r: ReceivedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        ...(req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') && { form: Object.fromEntries(new URLSearchParams(body)) }),
      };
      received.push(r);
      const handler = routes.get(url.pathname);
      if (!handler) return res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      handler(req, res, r);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    received,
    route: (path, handler) => routes.set(path, handler),
    file(path, file, type) {
      routes.set(path, (_req, res) => res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(readFileSync(file)));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The visible label texts of a form control (its `labels`). */
async function labelsOf(page: Page, selector: string): Promise<string[]> {
  return page.locator(selector).evaluate((el) => [...((el as HTMLInputElement).labels ?? [])].filter((l) => l.offsetParent !== null).map((l) => l.innerText.trim()));
}

/**
 * Signs in on Tessera's login page as a person does: checks the form is the stable one
 * (labelled `username` and `password`, one submit button), types, and presses the button.
 */
export async function signIn(page: Page, issuer: string, user: { username: string; password: string }): Promise<void> {
  await page.waitForURL((u) => u.href.startsWith(issuer), { timeout: 15_000 });
  const form = page.locator('form:has(input[name="password"])');
  await form.waitFor({ timeout: 15_000 });
  expect(await labelsOf(page, 'input[name="username"]')).toEqual([expect.stringMatching(/\S/)]);
  expect(await labelsOf(page, 'input[name="password"]')).toEqual([expect.stringMatching(/\S/)]);
  expect(await page.locator('input[name="password"]').getAttribute('type')).toBe('password');
  const submits = form.locator('button[type="submit"], button:not([type]), input[type="submit"]');
  expect(await submits.count()).toBe(1);
  await page.locator('input[name="username"]').fill(user.username);
  await page.locator('input[name="password"]').fill(user.password);
  await submits.click();
}

/**
 * On the consent page: checks it names the client and each expected scope description, then
 * presses the `decision` button with `value`.
 */
export async function decide(page: Page, expected: { clientName: string; descriptions: string[] }, value: 'allow' | 'deny' = 'allow'): Promise<void> {
  const allow = page.locator('button[name="decision"][value="allow"]');
  await allow.waitFor({ timeout: 15_000 });
  expect(await page.locator('button[name="decision"]').evaluateAll((els) => els.map((e) => (e as HTMLButtonElement).value).sort())).toEqual(['allow', 'deny']);
  const text = await page.locator('body').innerText();
  expect(text).toContain(expected.clientName);
  for (const d of expected.descriptions) expect(text).toContain(d);
  await page.locator(`button[name="decision"][value="${value}"]`).click();
}

/** The JSON an app page shows in `<pre id="result">` once it is no longer pending. */
export async function shownResult(page: Page, timeout = 15_000): Promise<any> {
  const result = page.locator('#result:not([data-state="pending"])');
  await result.waitFor({ timeout });
  const text = (await result.textContent()) ?? '';
  const state = await result.getAttribute('data-state');
  expect(state, text).toBe('done');
  return JSON.parse(text);
}
