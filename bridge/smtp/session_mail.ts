/**
 * The mail transaction's envelope commands for the SMTP session: MAIL (RFC 5321 section
 * 4.1.1.2) and RCPT (section 4.1.1.3), with the order rules of section 4.1.4, the size and
 * recipient limits, submission's AUTH requirement, and the backend's sender and recipient
 * verdicts (where the no-open-relay rule is decided).
 */
import type { Address } from "../../schemas/address.ts";
import type { Recipient, Verdict } from "./backend.ts";
import type { MailParams } from "./parse.ts";
import { Replies, replyForError, type ReplySpec } from "./reply.ts";
import type { SmtpSession } from "./session.ts";

export async function mailCommand(
  s: SmtpSession,
  from: Address | null,
  params: MailParams,
): Promise<void> {
  // RFC 5321 section 4.1.4: MAIL needs a prior EHLO/HELO and no transaction in progress.
  if (!s.helo) return s.reply(Replies.badSequence("send EHLO/HELO first"));
  if (s.tx) return s.reply(Replies.badSequence("nested MAIL command"));
  // RFC 5321 section 4.1.1.11: service extensions' parameters need EHLO.
  const esmtpUsed = params.smtputf8 || Object.keys(params).length > 1;
  if (!s.esmtp && esmtpUsed) return s.reply(Replies.unknownParameter("(send EHLO first)"));
  // RFC 6409 section 4.3 and RFC 4954 section 6: submission needs AUTH first (530 5.7.0).
  if (s.config.mode === "submission" && !s.authenticatedAs) return s.reply(Replies.authRequired);
  // RFC 1870 section 6: a declared size over the limit is refused at once.
  if (params.size !== undefined && params.size > s.config.maxMessageBytes) {
    return s.reply(Replies.messageTooBig);
  }
  // RFC 4954 section 5: AUTH= from an unauthenticated client is treated as AUTH=<>.
  if (params.auth !== undefined && !s.authenticatedAs) params = { ...params, auth: null };
  s.tx = { from, params, rcpts: [] };
  const checkSender = s.backend.checkSender?.bind(s.backend);
  if (checkSender) {
    const verdict = await ask(() => checkSender(s.envelope()));
    if (!verdict.ok) {
      s.tx = undefined;
      return s.reply(verdict);
    }
  }
  s.reply(Replies.senderOk);
}

export async function rcptCommand(s: SmtpSession, rcpt: Recipient): Promise<void> {
  const tx = s.tx;
  if (!tx) return s.reply(Replies.badSequence("need MAIL before RCPT"));
  if (tx.data || tx.bdat) return s.reply(Replies.badSequence("content already started"));
  if (tx.rcpts.some((r) => r.address === rcpt.address)) return s.reply(Replies.recipientOk);
  // RFC 5321 section 4.5.3.1.10: too many recipients is 452, never 5xx.
  if (tx.rcpts.length >= s.config.maxRecipients) return s.reply(Replies.tooManyRecipients);
  const verdict = await ask(() => s.backend.checkRecipient(s.envelope(), rcpt));
  if (!verdict.ok) return s.reply(verdict);
  tx.rcpts.push(rcpt);
  s.reply(Replies.recipientOk);
}

type Refusal = { ok: false } & ReplySpec;

// A backend that throws is a temporary local problem (451 4.3.0), unless it threw an SmtpError.
async function ask(fn: () => Promise<Verdict>): Promise<{ ok: true } | Refusal> {
  try {
    const verdict = await fn();
    if (verdict.ok) return { ok: true };
    return { ok: false, code: verdict.code, enhanced: verdict.enhanced, text: verdict.text };
  } catch (error) {
    return { ok: false, ...replyForError(error, Replies.tempLocal) };
  }
}
