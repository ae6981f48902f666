/**
 * What the load scripts (`npm run fuzz`, `npm run soak`) share: their settings from the
 * environment, a loopback port, and the CLI run beside the server they drive.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const TESSERA = path.join(REPO, 'bin', 'tessera.js');

/** A positive integer from the environment variable `name`, or `dflt`; anything else ends the run (exit 2). */
export function positiveInt(name, dflt) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

/** A loopback port nothing listens on right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Runs `tessera ARGS --json` with `input` on standard input; resolves with its JSON answer ({} if it printed none). */
export function tesseraJson(args, env, input = '') {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TESSERA, ...args, '--json'], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    // A command that never reads its input may exit first; the write then fails harmlessly.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`tessera ${args.join(' ')} exited with ${code}: ${err.slice(-2000)}`));
      const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
      resolve(line ? JSON.parse(line) : {});
    });
  });
}
