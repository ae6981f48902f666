/**
 * A relying party's back-channel logout endpoint on loopback (OpenID Connect Back-Channel
 * Logout 1.0 §2.5): records what it gets and answers as told — slowly, with an error, or
 * never. Shared by test/backchannel_logout.test.ts and test/security/g_outbound.test.ts.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  answeredAt?: number;
}

/** A relying party's back-channel logout endpoint on loopback: records what it gets, answers as told. */
export class Receiver {
  received: Received[] = [];
  delayMs = 0;
  status = 200;
  /** Never answer (a receiver that hangs). */
  hang = false;
  headers: Record<string, string> = {};
  private server: Server;
  constructor(readonly host = '127.0.0.1') {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const entry: Received = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() };
        this.received.push(entry);
        if (this.hang) return;
        setTimeout(() => {
          entry.answeredAt = Date.now();
          res.writeHead(this.status, this.headers).end('ignored body');
        }, this.delayMs);
      });
    });
  }
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, this.host, resolve));
    return this;
  }
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }
  url(path = '/backchannel-logout'): string {
    return `http://${this.host}:${this.port}${path}`;
  }
  reset(): void {
    this.received = [];
    this.delayMs = 0;
    this.status = 200;
    this.hang = false;
    this.headers = {};
  }
  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
