import { html, type Html } from '../ui/html.js';

/** A message's content; the caller adds the addresses (MailMessage). */
export interface MailContent {
  subject: string;
  text: string;
  html: string;
}

export interface LinkMessageInput {
  tenantName: string;
  /** The account's username, named in the greeting when given. */
  username?: string;
  /** Sent as is: the caller builds it from the public URL, never from a request header. */
  link: string;
  expiresInMinutes?: number;
}

/**
 * One message as paragraphs, an optional action link, and closing paragraphs; rendered both
 * as plain text (the link alone on its line, so no client breaks or hides it) and as HTML
 * where every value goes through the escaping `html` tag.
 */
interface Draft {
  tenantName: string;
  subject: string;
  username?: string;
  intro: string[];
  action?: { label: string; link: string };
  outro: string[];
}

/** Names come from tenants and users: no line break may reach a header or fake a paragraph. */
const oneLine = (s: string): string => s.replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').trim();

const expiry = (minutes: number | undefined): string[] => {
  if (!minutes) return [];
  const span = minutes % 60 === 0 ? `${minutes / 60} hour${minutes === 60 ? '' : 's'}` : `${minutes} minute${minutes === 1 ? '' : 's'}`;
  return [`The link expires in ${span} and works once.`];
};

const P = 'margin:0 0 16px';
const BUTTON = 'display:inline-block;padding:12px 20px;background:#2454c5;color:#ffffff;text-decoration:none;border-radius:8px;font-weight:600';

function render(d: Draft): MailContent {
  const tenant = oneLine(d.tenantName);
  const greeting = d.username ? `Hello ${oneLine(d.username)},` : 'Hello,';
  const text = [
    greeting,
    ...d.intro,
    ...(d.action ? [d.action.link] : []),
    ...d.outro,
    `— ${tenant}`,
  ].join('\n\n');
  const paragraphs = (list: string[]): Html[] => list.map((p) => html`<p style="${P}">${p}</p>`);
  const body = html`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${oneLine(d.subject)}</title></head>
<body style="margin:0;padding:24px 12px;background:#f4f5f7;font:16px/1.5 -apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;color:#1d2330">
<div style="max-width:520px;margin:0 auto;padding:28px 24px;background:#ffffff;border-radius:12px">
<p style="${P};font-size:18px;font-weight:600">${tenant}</p>
<p style="${P}">${greeting}</p>
${paragraphs(d.intro)}${d.action
    ? html`<p style="${P}"><a href="${d.action.link}" style="${BUTTON}">${d.action.label}</a></p>
<p style="${P};font-size:13px;color:#5b6472">If the button does not work, copy this link into your browser:<br><span style="word-break:break-all">${d.action.link}</span></p>`
    : ''}
${paragraphs(d.outro)}</div></body></html>
`;
  return { subject: oneLine(d.subject), text: `${text}\n`, html: body.value };
}

export function verifyEmailMessage(i: LinkMessageInput): MailContent {
  const tenant = oneLine(i.tenantName);
  return render({
    tenantName: tenant, username: i.username,
    subject: `Confirm your email address for ${tenant}`,
    intro: [`Please confirm your email address for your ${tenant} account by opening this link:`],
    action: { label: 'Confirm email address', link: i.link },
    outro: [...expiry(i.expiresInMinutes), 'If you did not ask for this, you can ignore this message.'],
  });
}

export function finishSignUpMessage(i: LinkMessageInput): MailContent {
  const tenant = oneLine(i.tenantName);
  return render({
    tenantName: tenant, username: i.username,
    subject: `Finish creating your ${tenant} account`,
    intro: [`To finish creating your ${tenant} account${i.username ? ` (username ${oneLine(i.username)})` : ''}, open this link:`],
    action: { label: 'Finish creating my account', link: i.link },
    outro: [...expiry(i.expiresInMinutes), 'If you did not sign up, ignore this message: no account is created without the link.'],
  });
}

export function signUpExistingMessage(i: { tenantName: string; link: string }): MailContent {
  const tenant = oneLine(i.tenantName);
  return render({
    tenantName: tenant,
    subject: `You already have an account with ${tenant}`,
    intro: [
      `Someone (maybe you) tried to create an account with ${tenant} using this email address, but it already belongs to an account there.`,
      'If it was you, sign in, or reset your password if you have forgotten it, here:',
    ],
    action: { label: 'Go to my account', link: i.link },
    outro: ['If it was not you, ignore this message: nothing was changed.'],
  });
}

export function signUpUsernameTakenMessage(i: { tenantName: string; username: string }): MailContent {
  const tenant = oneLine(i.tenantName);
  const username = oneLine(i.username);
  return render({
    tenantName: tenant,
    subject: `Choose another username for your ${tenant} account`,
    intro: [
      `You started signing up for ${tenant} with the username "${username}", but that username is already taken, so no account was created.`,
      'Please start the sign-up again and choose another username.',
    ],
    outro: ['If you did not sign up, ignore this message.'],
  });
}

export function resetPasswordMessage(i: LinkMessageInput): MailContent {
  const tenant = oneLine(i.tenantName);
  return render({
    tenantName: tenant, username: i.username,
    subject: `Reset your ${tenant} password`,
    intro: [`Someone asked to reset the password of your ${tenant} account. To choose a new password, open this link:`],
    action: { label: 'Reset my password', link: i.link },
    outro: [...expiry(i.expiresInMinutes), 'If you did not ask for this, ignore this message: your password stays as it is.'],
  });
}

export function changeEmailMessage(i: LinkMessageInput): MailContent {
  const tenant = oneLine(i.tenantName);
  return render({
    tenantName: tenant, username: i.username,
    subject: `Confirm your new email address for ${tenant}`,
    intro: [`To use this address for your ${tenant} account from now on, confirm it by opening this link:`],
    action: { label: 'Confirm new email address', link: i.link },
    outro: [...expiry(i.expiresInMinutes), 'If you did not ask for this, ignore this message: nothing changes without the link.'],
  });
}

export function emailInUseMessage(i: { tenantName: string }): MailContent {
  const tenant = oneLine(i.tenantName);
  return render({
    tenantName: tenant,
    subject: `This address already has an account with ${tenant}`,
    intro: [
      `Someone asked to move an account with ${tenant} to this email address, but this address already belongs to an account there.`,
      'Nothing was changed.',
    ],
    outro: ['If it was you, use another address, or sign in to the account this address belongs to.'],
  });
}
