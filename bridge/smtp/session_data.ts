/**
 * Message content for the SMTP session: DATA (RFC 5321 section 4.1.1.4) and BDAT (RFC 3030),
 * the checks made once the content has been read (size, SMTP smuggling), and the hand-off to
 * the backend, whose durable commit is the only thing that earns a 250 (RFC 5321 section 6.1).
 */
import { resolveDelivery } from "./backend.ts";
import { BdatReader, DataReader } from "./data.ts";
import { Replies, replyForError, type ReplySpec } from "./reply.ts";
import type { SmtpSession } from "./session.ts";

export function dataCommand(s: SmtpSession): void {
  const tx = s.tx;
  if (!tx) return s.reply(Replies.badSequence("need MAIL before DATA"));
  // RFC 3030 section 2: DATA cannot follow BDAT in the same transaction.
  if (tx.bdat) return s.reply(Replies.badSequence("DATA after BDAT"));
  // RFC 5321 section 3.3 and RFC 2920 section 3.1: no 354 when every RCPT failed.
  if (tx.rcpts.length === 0) return s.reply(Replies.noValidRecipients);
  // RFC 3030 section 3: BINARYMIME content can only travel by BDAT.
  if (tx.params.body === "BINARYMIME") return s.reply(Replies.badSequence("BINARYMIME needs BDAT"));
  if (!openHold(s)) return s.reply(Replies.storageFull);
  tx.data = new DataReader(s.config.maxMessageBytes);
  s.mode = "data";
  s.reply(Replies.dataGo);
  s.action({ type: "startData", maxBytes: s.config.maxMessageBytes });
}

/** The end-of-data line has been read. */
export async function dataFinished(s: SmtpSession): Promise<void> {
  const reader = s.tx!.data!;
  if (reader.bareLineEnding) {
    s.tx = undefined;
    return s.reply(Replies.bareLineEnding);
  }
  if (s.tx!.starved) {
    s.tx = undefined;
    return s.reply(Replies.storageFull);
  }
  if (reader.tooLarge) {
    s.tx = undefined;
    return s.reply(Replies.messageTooBig); // RFC 1870 section 6
  }
  await deliver(s, reader.message());
}

export async function bdatCommand(s: SmtpSession, size: number, last: boolean): Promise<void> {
  const max = s.config.maxMessageBytes;
  // A single chunk larger than a whole message is not worth reading to resynchronise.
  if (size > max) {
    s.reply(Replies.messageTooBig);
    return s.close();
  }
  // RFC 3030 section 2: the octets follow the command at once, so they are read (and dropped)
  // even when the chunk is refused; only then is the refusal sent.
  const tx = s.tx;
  let failure: ReplySpec | undefined;
  let repeated = false;
  if (!tx) failure = Replies.badSequence("need MAIL before BDAT");
  else if (tx.rcpts.length === 0) failure = Replies.noValidRecipients;
  else if (tx.failed) [failure, repeated] = [tx.failed, true];
  else if ((tx.bdat?.size ?? 0) + size > max) failure = tx.failed = Replies.messageTooBig;
  else if (!tx.bdat && !openHold(s)) failure = tx.failed = Replies.storageFull;
  const reader = failure ? new BdatReader(0) : (tx!.bdat ??= new BdatReader(max));
  reader.begin(size);
  s.chunk = { reader, size, last, failure, repeated };
  s.mode = "bdat";
  if (size > 0) s.action({ type: "expectBdat", size });
  else await bdatFinished(s);
}

/** The current chunk's octets have all been read. */
export async function bdatFinished(s: SmtpSession): Promise<void> {
  const chunk = s.chunk!;
  s.chunk = undefined;
  s.mode = "command";
  if (chunk.failure) {
    if (chunk.last) s.tx = undefined;
    // Later chunks of an already refused message repeat the refusal without counting as errors.
    return s.reply(chunk.failure, !chunk.repeated);
  }
  if (s.tx!.starved) {
    // The chunk was read but not kept: the message cannot be completed.
    s.tx!.failed = Replies.storageFull;
    if (chunk.last) s.tx = undefined;
    return s.reply(Replies.storageFull);
  }
  if (!chunk.last) {
    return s.reply({ code: 250, enhanced: "2.0.0", text: `${chunk.size} octets received` });
  }
  await deliver(s, s.tx!.bdat!.message());
}

/** Takes the new message's first share of the content budget; false when it is spent. */
function openHold(s: SmtpSession): boolean {
  const budget = s.conn.budget;
  if (!budget) return true;
  s.tx!.hold = budget.open();
  return s.tx!.hold !== undefined;
}

/**
 * Before content grows to `bytes`: a message past its first share asks for the rest of the
 * size limit at once and waits for it (the server reads nothing meanwhile: TCP backpressure).
 * A message still refused after the wait is read to its end, kept nowhere, and answered 452.
 */
export async function holdContent(s: SmtpSession, bytes: number): Promise<void> {
  const tx = s.tx;
  const hold = tx?.hold;
  if (!hold || tx.starved || bytes <= hold.held) return;
  // Octets past the limit are counted, never stored: the limit is all a message can hold.
  if (await hold.grow(s.config.maxMessageBytes)) return;
  tx.starved = true;
  tx.data?.discard();
  tx.bdat?.discard();
}

async function deliver(s: SmtpSession, message: Uint8Array): Promise<void> {
  const envelope = s.envelope();
  // The content stays in memory until the backend has answered: so does its budget share.
  const hold = s.tx!.hold;
  s.tx!.hold = undefined;
  // RFC 5321 section 4.1.1.4: the transaction ends with the reply, whatever it is.
  s.tx = undefined;
  let reply: ReplySpec;
  try {
    reply = resolveDelivery(await s.backend.deliver(envelope, message), envelope.rcptTo.length);
  } catch (error) {
    reply = replyForError(error, Replies.tempLocal); // never 250 without the durable commit
  } finally {
    hold?.release();
  }
  s.reply(reply);
}
