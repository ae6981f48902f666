/**
 * Where the examples find what `examples/setup.mjs` provisioned: the issuer, each API's
 * audience and resource-server credentials, the clients and the demo user. One JSON file,
 * data/examples.json by default (EXAMPLES_CONFIG names another), kept out of git with data/.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const DEFAULT_CONFIG = fileURLToPath(new URL('../data/examples.json', import.meta.url));

export const configPath = () => process.env.EXAMPLES_CONFIG || DEFAULT_CONFIG;

/** The provisioned configuration; a clear error if setup has not run. */
export function loadExampleConfig() {
  const path = configPath();
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    if (err.code === 'ENOENT') {
      throw new Error(`${path} does not exist: start Tessera (npm start) and run \`npm run example:setup\` first`);
    }
    throw new Error(`${path} could not be read: ${err.message}`);
  }
}

/** The port to listen on: PORT, else the one setup chose (which its URLs and redirect URIs use). */
export function listenPort(fallback) {
  const port = Number(process.env.PORT || fallback);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, not ${process.env.PORT}`);
  return port;
}
