/**
 * A real SMTP server on a loopback port that keeps what it receives, for tests that send mail
 * the way production does (SMTP_URL = sink.url). Messages are parsed just enough to assert on
 * (mailparser is not a dependency): headers, multipart/alternative, quoted-printable/base64.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  /** The To, From and Subject headers, encoded-words decoded. */
  to: string;
  from: string;
  subject: string;
  text: string;
  html: string;
  headers: Record<string, string>;
  envelope: { from: string; to: string[] };
  /** The AUTH credentials, if the client signed in. */
  auth: { username: string; password: string } | undefined;
  raw: string;
}

export interface SmtpSink {
  /** `smtp://127.0.0.1:PORT` (or with `user:pass@` when asked): a value for SMTP_URL. */
  url: string;
  port: number;
  messages: ReceivedMail[];
  /** Answers the next `count` messages with `code` (451 is temporary, 550 permanent). */
  rejectNext(count: number, code?: number): void;
  waitFor(predicate: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>;
  close(): Promise<void>;
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const messages: ReceivedMail[] = [];
  const rejections: number[] = [];
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    disableReverseLookup: true,
    logger: false,
    // A pooled client keeps its connection open; the tests should not wait 30 s for it.
    closeTimeout: 200,
    onAuth: (auth, _session, callback) => callback(null, { user: { username: auth.username, password: auth.password } }),
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const code = rejections.shift();
        if (code) return callback(Object.assign(new Error('rejected by the test sink'), { responseCode: code }));
        const raw = Buffer.concat(chunks).toString('utf8');
        const envelope = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
        };
        messages.push({ ...parseMail(raw), envelope, auth: session.user as ReceivedMail['auth'], raw });
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    rejectNext: (count, code = 451) => rejections.push(...Array<number>(count).fill(code)),
    async waitFor(predicate, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find(predicate);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching mail within ${timeoutMs} ms (got ${messages.length})`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The http(s) links in a plain-text body (of the sink's or the memory mailer's messages). */
export function linksIn(text: string): string[] {
  return (text.match(/https?:\/\/[^\s<>"']+/g) ?? []).map((l) => l.replace(/[.,;:!?)]+$/, ''));
}

type Parsed = Omit<ReceivedMail, 'envelope' | 'auth' | 'raw'>;

/** Parses an RFC 5322 message (also an outbox `.eml` file): the first text/plain and text/html parts. */
export function parseMail(raw: string): Parsed {
  const { headers, body } = splitEntity(raw.replace(/\r\n/g, '\n'));
  const out: Parsed = { to: words(headers.to ?? ''), from: words(headers.from ?? ''), subject: words(headers.subject ?? ''), text: '', html: '', headers };
  collect(headers, body, out);
  return out;
}

function splitEntity(s: string): { headers: Record<string, string>; body: string } {
  const end = s.indexOf('\n\n');
  const head = end < 0 ? s : s.slice(0, end);
  const headers: Record<string, string> = {};
  // RFC 5322 §2.2.3: unfolding removes the line break before leading whitespace.
  for (const line of head.replace(/\n(?=[ \t])/g, '').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] ??= line.slice(colon + 1).trim();
  }
  return { headers, body: end < 0 ? '' : s.slice(end + 2) };
}

function params(value: string): { type: string; params: Record<string, string> } {
  const [type = ''] = value.split(';');
  const found: Record<string, string> = {};
  for (const m of value.matchAll(/;\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/g)) {
    found[m[1].toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3];
  }
  return { type: type.trim().toLowerCase(), params: found };
}

function collect(headers: Record<string, string>, body: string, out: Parsed): void {
  const { type, params: p } = params(headers['content-type'] ?? 'text/plain; charset=us-ascii');
  if (type.startsWith('multipart/') && p.boundary) {
    const delimiter = new RegExp(`^--${p.boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:--)?[ \\t]*$`, 'm');
    // RFC 2046 §5.1.1: the line break before a delimiter belongs to the delimiter.
    const parts = body.split(delimiter);
    for (const part of parts.slice(1, -1)) {
      const entity = splitEntity(part.replace(/^\n/, '').replace(/\n$/, ''));
      collect(entity.headers, entity.body, out);
    }
    return;
  }
  if (/attachment/i.test(headers['content-disposition'] ?? '')) return;
  const decoded = new TextDecoder(p.charset ?? 'utf-8').decode(transferDecode(body, headers['content-transfer-encoding']));
  if (type === 'text/plain' && !out.text) out.text = decoded;
  if (type === 'text/html' && !out.html) out.html = decoded;
}

function transferDecode(body: string, encoding = '7bit'): Buffer {
  switch (encoding.trim().toLowerCase()) {
    case 'base64':
      return Buffer.from(body.replace(/\s+/g, ''), 'base64');
    case 'quoted-printable':
      return qp(body.replace(/[ \t]+$/gm, '').replace(/=\n/g, ''));
    default:
      return Buffer.from(body, 'utf8');
  }
}

/** RFC 2045 §6.7: `=XX` is one byte; everything else stands for itself. */
function qp(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(s[i], 'utf8'));
  }
  return Buffer.from(bytes);
}

/** RFC 2047 encoded-words (`=?utf-8?Q?…?=`, `=?utf-8?B?…?=`); whitespace between two of them is dropped. */
function words(value: string): string {
  return value
    .replace(/(\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_, charset: string, enc: string, text: string) =>
      new TextDecoder(charset).decode(enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : qp(text.replace(/_/g, ' '))),
    );
}
