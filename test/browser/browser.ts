/**
 * A real browser for black-box tests (DESIGN.md §3.8): Debian's Chromium driven by
 * playwright-core. Nothing is downloaded: `.ci/run` installs the `chromium` package, and
 * CHROMIUM_PATH (default /usr/bin/chromium) names it. Without it the browser tests fail.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

export { startServer, type TesseraServer } from '../support/server.js';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Where screenshots and other artifacts go (gitignored). */
export const RESULTS_DIR = fileURLToPath(new URL('../../test-results/', import.meta.url));

/**
 * The flags this machine needs: no GPU, no sandbox (tests run as root), and no background
 * traffic: the network is closed, and Chromium's calls home would be refused at every start.
 */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches headless Chromium with a fresh temporary profile (playwright makes and removes it). */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}: the browser tests need Debian's chromium ` +
        '(`apt-get install -y chromium`, which .ci/run does), or CHROMIUM_PATH set to a Chromium binary',
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, chromiumSandbox: false, args: ARGS, timeout: 30_000 });
}

/** The path for an artifact named `name` under test-results/, creating the folder. */
export function resultPath(name: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  return `${RESULTS_DIR}${name}`;
}
