import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { createMailer, MailError, type Mailer, type MailMessage } from '../src/mail/mailer.js';
import { MemoryMailer } from '../src/mail/memory.js';
import * as templates from '../src/mail/messages.js';
import { MailQueue } from '../src/mail/queue.js';
import { linksIn, parseMail, startSmtpSink, type SmtpSink } from './support/smtp_sink.js';

/** Long enough for quoted-printable to wrap it, with the characters QP must escape (`=`). */
const LINK =
  'https://tessera.test/realms/acme/account/verify?token=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4==&next=%2Faccount%2Fsecurity%3Ftab%3Dpassword&lang=en';

/** A logger whose JSON lines the test reads. */
function capture(level = 'debug') {
  const lines: string[] = [];
  const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(...String(chunk).trim().split('\n')), done()) });
  const logger = createLogger(level, stream);
  return { logger, lines, entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const message = (content: templates.MailContent, to = 'alice@example.org', fromName = 'Acme'): MailMessage => ({
  to, fromName, fromAddress: 'no-reply@tessera.test', ...content,
});

const mailConfig = (over: Partial<ReturnType<typeof loadConfig>['mail']> = {}) => ({ smtpUrl: undefined, defaultFrom: 'no-reply@tessera.test', outboxDir: 'unused', ...over });

describe('SMTP mailer', () => {
  let sink: SmtpSink;
  const mailers: Mailer[] = [];
  beforeAll(async () => (sink = await startSmtpSink()));
  afterEach(async () => {
    for (const m of mailers.splice(0)) await m.close();
    sink.messages.length = 0;
  });
  afterAll(() => sink.close());
  const smtp = (url = sink.url) => {
    const m = createMailer(mailConfig({ smtpUrl: url }), capture().logger);
    mailers.push(m);
    return m;
  };

  it('delivers text and html parts from the tenant, with a long link intact through quoted-printable', async () => {
    const content = templates.verifyEmailMessage({ tenantName: 'Acme "Rockets", Inc.', username: 'alice', link: LINK, expiresInMinutes: 30 });
    const mailer = smtp();
    expect(mailer.kind).toBe('smtp');
    await mailer.send(message(content, 'alice@example.org', 'Acme "Rockets", Inc.'));
    const mail = await sink.waitFor(() => true);
    expect(mail.envelope).toEqual({ from: 'no-reply@tessera.test', to: ['alice@example.org'] });
    expect(mail.to).toBe('alice@example.org');
    // One display name, quoted: the comma does not split it into two addresses.
    expect(mail.from).toBe('"Acme \\"Rockets\\", Inc." <no-reply@tessera.test>');
    expect(mail.subject).toBe('Confirm your email address for Acme "Rockets", Inc.');
    expect(mail.headers['content-type']).toMatch(/^multipart\/alternative;/);
    expect(mail.raw).toMatch(/Content-Transfer-Encoding: quoted-printable/i);
    expect(mail.text.replace(/\r\n/g, '\n')).toBe(content.text);
    expect(mail.html.replace(/\r\n/g, '\n')).toBe(content.html);
    expect(linksIn(mail.text)).toEqual([LINK]);
    expect(mail.auth).toBeUndefined();
  });

  it('signs in with the user and password of SMTP_URL, percent-decoded', async () => {
    await smtp(`smtp://mailer%40acme:p%40ss%3Aword@127.0.0.1:${sink.port}`).send(message(templates.emailInUseMessage({ tenantName: 'Acme' })));
    const mail = await sink.waitFor(() => true);
    expect(mail.auth).toEqual({ username: 'mailer@acme', password: 'p@ss:word' });
  });

  it('encodes a non-ASCII tenant name in the subject and sender', async () => {
    const content = templates.resetPasswordMessage({ tenantName: 'Zoë’s Café', username: 'zoë', link: LINK });
    await smtp().send(message(content, 'zoe@example.org', 'Zoë’s Café'));
    const mail = await sink.waitFor(() => true);
    expect(mail.subject).toBe('Reset your Zoë’s Café password');
    expect(mail.from).toBe('Zoë’s Café <no-reply@tessera.test>');
    expect(mail.text.replace(/\r\n/g, '\n')).toBe(content.text);
  });

  it('reports a refusal as a MailError, permanent for 5xx only', async () => {
    const mailer = smtp();
    const msg = message(templates.emailInUseMessage({ tenantName: 'Acme' }));
    sink.rejectNext(1, 451);
    await expect(mailer.send(msg)).rejects.toMatchObject({ name: 'MailError', permanent: false });
    sink.rejectNext(1, 550);
    await expect(mailer.send(msg)).rejects.toMatchObject({ name: 'MailError', permanent: true });
    expect(sink.messages).toEqual([]);
  });

  it('retries a temporary refusal through the queue, and gives up at once on a permanent one', async () => {
    const log = capture();
    const queue = new MailQueue(smtp(), log.logger, { retryDelaysMs: [10, 10] });
    sink.rejectNext(1, 451);
    queue.enqueue(message(templates.emailInUseMessage({ tenantName: 'Acme' }), 'first@example.org'));
    await queue.idle();
    expect(sink.messages.map((m) => m.to)).toEqual(['first@example.org']);
    sink.rejectNext(1, 550);
    queue.enqueue(message(templates.emailInUseMessage({ tenantName: 'Acme' }), 'second@example.org'));
    await queue.idle();
    expect(sink.messages.map((m) => m.to)).toEqual(['first@example.org']);
    expect(log.entries().filter((e) => (e.level as number) >= 40).map((e) => [e.msg, e.domain, e.attempts])).toEqual([
      ['mail could not be sent; will retry', 'example.org', 1],
      ['mail could not be sent; given up', 'example.org', 1],
    ]);
  });
});

describe('development outbox', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-outbox-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('warns once at startup, writes an .eml file readable by its owner only, and logs the message', async () => {
    const log = capture('info');
    const outbox = join(dir, 'nested', 'outbox');
    const mailer = createMailer(mailConfig({ outboxDir: outbox }), log.logger);
    expect(mailer.kind).toBe('outbox');
    expect(log.entries()).toEqual([
      expect.objectContaining({ level: 40, outbox, msg: 'mail goes to the development outbox (files and the log), not to anyone: set SMTP_URL in production' }),
    ]);
    const content = templates.finishSignUpMessage({ tenantName: 'Acme', username: 'alice', link: LINK, expiresInMinutes: 60 });
    await mailer.send(message(content));
    await mailer.close();

    const files = readdirSync(outbox);
    expect(files).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d-]+Z-[0-9a-f]{8}\.eml$/)]);
    const file = join(outbox, files[0]);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const mail = parseMail(readFileSync(file, 'utf8'));
    expect([mail.to, mail.from, mail.subject, mail.text, mail.html]).toEqual([
      'alice@example.org', 'Acme <no-reply@tessera.test>', 'Finish creating your Acme account', content.text, content.html,
    ]);
    const [, sent] = log.entries();
    expect(sent).toMatchObject({ level: 30, msg: 'mail written to the development outbox', to: 'alice@example.org', subject: content.subject, file, text: content.text });
  });
});

/** Fails its first `failures` sends (or forever), counting attempts. */
class FlakyMailer implements Mailer {
  readonly kind = 'memory' as const;
  attempts = 0;
  closed = false;
  readonly delivered: MailMessage[] = [];
  constructor(private failures = Infinity) {}
  async send(m: MailMessage): Promise<void> {
    if (++this.attempts <= this.failures) throw new MailError('421 try again later', 'ECONNECTION', false);
    this.delivered.push(m);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

describe('mail queue', () => {
  const msg = message(templates.resetPasswordMessage({ tenantName: 'Acme', username: 'alice', link: LINK }));

  it('retries a failing mailer twice, then gives up without throwing and logs no body', async () => {
    const log = capture();
    const mailer = new FlakyMailer();
    const queue = new MailQueue(mailer, log.logger, { retryDelaysMs: [10, 20] });
    expect(queue.enqueue(msg)).toBeUndefined();
    await queue.idle();
    expect(mailer.attempts).toBe(3);
    expect(log.entries().map((e) => [e.level, e.msg, e.attempts, e.domain, e.subject, e.reason])).toEqual([
      [40, 'mail could not be sent; will retry', 1, 'example.org', 'Reset your Acme password', '421 try again later'],
      [40, 'mail could not be sent; will retry', 2, 'example.org', 'Reset your Acme password', '421 try again later'],
      [50, 'mail could not be sent; given up', 3, 'example.org', 'Reset your Acme password', '421 try again later'],
    ]);
    expect(log.lines.join('\n')).not.toMatch(/alice@|token=|Zm9vYmFy/);
  });

  it('delivers on a retry after a temporary failure', async () => {
    const mailer = new FlakyMailer(1);
    const queue = new MailQueue(mailer, capture().logger, { retryDelaysMs: [10, 20] });
    queue.enqueue(msg);
    await queue.idle();
    expect([mailer.attempts, mailer.delivered]).toEqual([2, [msg]]);
  });

  it('on close, sends waiting retries at once, closes the mailer, and drops later messages', async () => {
    const log = capture();
    const mailer = new FlakyMailer(1);
    const queue = new MailQueue(mailer, log.logger, { retryDelaysMs: [60_000] });
    queue.enqueue(msg);
    await vi.waitFor(() => expect(mailer.attempts).toBe(1));
    const started = Date.now();
    await queue.close();
    expect(Date.now() - started).toBeLessThan(1000);
    expect([mailer.delivered, mailer.closed]).toEqual([[msg], true]);
    queue.enqueue(msg);
    await queue.idle();
    expect(mailer.attempts).toBe(2);
    expect(log.entries().at(-1)).toMatchObject({ level: 40, msg: 'mail dropped: the server is shutting down', domain: 'example.org' });
  });

  it('stops waiting for a stuck mailer after its bound', async () => {
    const log = capture();
    const stuck: Mailer = { kind: 'memory', send: () => new Promise(() => {}), close: vi.fn(async () => {}) };
    const queue = new MailQueue(stuck, log.logger, { closeTimeoutMs: 50 });
    queue.enqueue(msg);
    await new Promise((r) => setTimeout(r, 10));
    await queue.close();
    expect(stuck.close).toHaveBeenCalledOnce();
    expect(log.entries()).toEqual([expect.objectContaining({ level: 40, pending: 1, msg: 'mail still being sent at shutdown was abandoned' })]);
  });

  it('lets tests wait for a message with the memory mailer', async () => {
    const mailer = new MemoryMailer();
    const queue = new MailQueue(mailer, capture().logger);
    const waited = mailer.waitFor((m) => m.to === 'alice@example.org', 1000);
    queue.enqueue(msg);
    expect(await waited).toEqual(msg);
    expect(linksIn((await waited).text)).toEqual([LINK]);
    await expect(mailer.waitFor((m) => m.to === 'bob@example.org', 50)).rejects.toThrow(
      'no matching message within 50 ms (messages: alice@example.org: Reset your Acme password)',
    );
  });
});

describe('mail configuration', () => {
  it('defaults to the outbox in data/outbox, from no-reply at the public host', () => {
    expect(loadConfig({ TESSERA_PUBLIC_URL: 'https://auth.example.com/' }).mail).toEqual({
      smtpUrl: undefined, defaultFrom: 'no-reply@auth.example.com', outboxDir: 'data/outbox',
    });
    expect(loadConfig({ PORT: '9100' }).mail.defaultFrom).toBe('no-reply@localhost');
  });

  it('reads SMTP_URL, MAIL_FROM and TESSERA_OUTBOX_DIR', () => {
    const env = { SMTP_URL: 'smtps://user:pw@mail.example.com:465', MAIL_FROM: 'accounts@example.com', TESSERA_OUTBOX_DIR: '/tmp/out' };
    expect(loadConfig(env).mail).toEqual({ smtpUrl: env.SMTP_URL, defaultFrom: 'accounts@example.com', outboxDir: '/tmp/out' });
  });

  it.each(['http://mailer:hunter2@mail.example.com', 'smtp://mailer:hunter2@', 'mailer:hunter2@mail.example.com:587'])(
    'refuses SMTP_URL %s without repeating the password',
    (url) => {
      const error = 'invalid configuration: SMTP_URL: must be smtp://[user:password@]host[:port] or smtps://…';
      expect(() => loadConfig({ SMTP_URL: url })).toThrow(error);
      try {
        loadConfig({ SMTP_URL: url });
      } catch (err) {
        expect((err as Error).message).toBe(error);
      }
    },
  );

  it('refuses a MAIL_FROM that is not a bare address', () => {
    expect(() => loadConfig({ MAIL_FROM: 'Acme <no-reply@example.com>' })).toThrow(
      'invalid configuration: MAIL_FROM: must be a bare email address, such as no-reply@example.com',
    );
  });

  it('takes the same keys as flags of tessera start', async () => {
    const { main } = await import('../src/cli/main.js');
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    try {
      expect(await main(['start', '--smtp-url', 'http://mailer:hunter2@mail.example.com'])).toBe(1);
      expect(await main(['start', '--mail-from', 'nobody'])).toBe(1);
      expect(errors.mock.calls.map((c) => c[0])).toEqual([
        'tessera start: invalid configuration: SMTP_URL: must be smtp://[user:password@]host[:port] or smtps://…',
        'tessera start: invalid configuration: MAIL_FROM: must be a bare email address, such as no-reply@example.com',
      ]);
    } finally {
      errors.mockRestore();
    }
  });
});

describe('mail templates', () => {
  const hostile = { tenantName: 'Acme <script>alert(1)</script>', username: '<b>bob</b> & "co"', link: `${LINK}&x="><img src=x>` };
  const all: [string, templates.MailContent][] = [
    ['verifyEmailMessage', templates.verifyEmailMessage({ ...hostile, expiresInMinutes: 30 })],
    ['finishSignUpMessage', templates.finishSignUpMessage({ ...hostile, expiresInMinutes: 1440 })],
    ['signUpExistingMessage', templates.signUpExistingMessage(hostile)],
    ['signUpUsernameTakenMessage', templates.signUpUsernameTakenMessage(hostile)],
    ['resetPasswordMessage', templates.resetPasswordMessage({ ...hostile, expiresInMinutes: 15 })],
    ['changeEmailMessage', templates.changeEmailMessage({ ...hostile, expiresInMinutes: 60 })],
    ['emailInUseMessage', templates.emailInUseMessage(hostile)],
  ];

  it.each(all)('%s escapes every value in its HTML', (_name, content) => {
    expect(content.html).not.toMatch(/<script|<b>|<img/);
    expect(content.html).toContain('Acme &lt;script&gt;alert(1)&lt;/script&gt;');
    if (content.html.includes('href=')) {
      expect(content.html).toContain(`href="${LINK.replace(/&/g, '&amp;')}&amp;x=&quot;&gt;&lt;img src=x&gt;"`);
    }
  });

  it.each(all)('%s puts its link, if any, alone on a line of the text', (_name, content) => {
    const lines = content.text.split('\n');
    expect(lines.filter((l) => l.includes('https://'))).toEqual(content.html.includes('href=') ? [hostile.link] : []);
  });

  it('names the tenant in every subject, on one line', () => {
    expect(all.map(([, c]) => c.subject)).toEqual([
      'Confirm your email address for Acme <script>alert(1)</script>',
      'Finish creating your Acme <script>alert(1)</script> account',
      'You already have an account with Acme <script>alert(1)</script>',
      'Choose another username for your Acme <script>alert(1)</script> account',
      'Reset your Acme <script>alert(1)</script> password',
      'Confirm your new email address for Acme <script>alert(1)</script>',
      'This address already has an account with Acme <script>alert(1)</script>',
    ]);
    expect(templates.emailInUseMessage({ tenantName: 'Acme\r\nBcc: x@evil.test' }).subject).toBe('This address already has an account with Acme Bcc: x@evil.test');
  });

  it('writes a plain-text message a person can follow', () => {
    expect(templates.resetPasswordMessage({ tenantName: 'Acme', username: 'alice', link: 'https://tessera.test/r?t=1', expiresInMinutes: 30 }).text).toBe(
      [
        'Hello alice,',
        'Someone asked to reset the password of your Acme account. To choose a new password, open this link:',
        'https://tessera.test/r?t=1',
        'The link expires in 30 minutes and works once.',
        'If you did not ask for this, ignore this message: your password stays as it is.',
        '— Acme',
      ].join('\n\n') + '\n',
    );
    expect(templates.signUpUsernameTakenMessage({ tenantName: 'Acme', username: 'alice' }).text).toBe(
      [
        'Hello,',
        'You started signing up for Acme with the username "alice", but that username is already taken, so no account was created.',
        'Please start the sign-up again and choose another username.',
        'If you did not sign up, ignore this message.',
        '— Acme',
      ].join('\n\n') + '\n',
    );
  });
});
