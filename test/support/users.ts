/**
 * Users for black-box tests, made the way an operator makes them: `tessera user create
 * --password-stdin`, the password on standard input (never on the command line).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TesseraServer } from './server.js';

const BIN = fileURLToPath(new URL('../../bin/tessera.js', import.meta.url));

export interface CreatedUser {
  id: string;
  username: string;
  email?: string;
}

/** Runs `printf 'PASSWORD\n' | tessera user create --tenant T --username U --password-stdin [--email E] --json`. */
export function createUser(server: TesseraServer, user: { username: string; password: string; email?: string; tenant?: string; name?: string }): Promise<CreatedUser> {
  const args = ['user', 'create', '--tenant', user.tenant ?? 'default', '--username', user.username, '--password-stdin', '--json'];
  if (user.email) args.push('--email', user.email, '--email-verified');
  if (user.name) args.push('--name', user.name);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: server.cliEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0 || stderr !== '') return reject(new Error(`tessera ${args.join(' ')} exited with ${code}: ${stderr}${stdout}`));
      resolve(JSON.parse(stdout));
    });
    child.stdin.end(`${user.password}\n`);
  });
}
