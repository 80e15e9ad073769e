/**
 * AUTH for the SMTP session (RFC 4954): when the command is allowed (after EHLO, outside a
 * transaction, once per session, only over TLS when so configured), the SASL exchange, and the
 * backend's verdict turned into 235, 535 or 454. The SASL decoding itself is in sasl.ts.
 */
import { Replies, replyForError } from "./reply.ts";
import { isMechanism, SaslExchange, type SaslStep } from "./sasl.ts";
import type { SmtpSession } from "./session.ts";

export async function authCommand(
  s: SmtpSession,
  mechanism: string,
  initialResponse?: string,
): Promise<void> {
  if (!s.offersAuth) return s.reply(Replies.authNotOffered);
  // RFC 4954 section 4: AUTH only after EHLO, not twice, and not during a mail transaction.
  if (!s.esmtp) return s.reply(Replies.badSequence("send EHLO first"));
  if (s.authenticatedAs) return s.reply(Replies.badSequence("already authenticated"));
  if (s.tx) return s.reply(Replies.badSequence("AUTH is not allowed during a mail transaction"));
  // RFC 4954 section 6 (538) and RFC 3207 section 4: no passwords over plaintext when required.
  if (s.config.requireTlsForAuth && !s.tls) return s.reply(Replies.tlsRequired);
  if (!isMechanism(mechanism)) return s.reply(Replies.unknownMechanism);
  const [exchange, step] = SaslExchange.start(mechanism, initialResponse);
  s.sasl = exchange;
  await advance(s, step);
}

/** A response line during the exchange (the session routes every line here until it ends). */
export async function authContinue(s: SmtpSession, line: string): Promise<void> {
  const exchange = s.sasl;
  if (!exchange) return;
  await advance(s, exchange.next(line));
}

async function advance(s: SmtpSession, step: SaslStep): Promise<void> {
  // RFC 4954 section 4: a 334 continuation carries the base64 challenge, no enhanced code.
  if (step.type === "challenge") return s.reply({ code: 334, text: step.challenge });
  s.sasl = undefined;
  if (step.type === "error") return s.reply(step.reply);
  let result;
  try {
    result = await s.backend.authenticate(step.username, step.password, s.conn.clientIp);
  } catch (error) {
    return s.reply(replyForError(error, Replies.authTemporary)); // RFC 4954 section 6: 454 4.7.0
  }
  if (result.ok) {
    s.authenticatedAs = result.accountAddress;
    s.apiKeyId = result.apiKeyId;
    return s.reply(Replies.authOk);
  }
  // RFC 4954 section 6: 535 5.7.8 for bad credentials, 454 4.7.0 when the check itself failed.
  s.reply(result.temporary ? Replies.authTemporary : Replies.authFailed);
}
