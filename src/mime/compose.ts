/**
 * Composes the messages the send API builds most: text and/or HTML, no attachments (RFC 5322
 * header section, RFC 2045-2047 MIME). nodemailer's composer (behind the MIME port) builds
 * everything else; on a 4 KB receipt it cost about 95 µs and a worker-thread round trip, this
 * about 10 µs on the event loop, and it is edge-safe.
 *
 * Rules: non-ASCII display names and unstructured fields become RFC 2047 "B" encoded-words of
 * at most 75 characters (section 2) that never split a UTF-8 sequence; lines are folded before
 * 78 characters where the field allows (RFC 5322 section 2.2.3). A body that is ASCII with lines
 * of at most 998 octets goes as 7bit, anything else as quoted-printable (RFC 2045 section 6.7),
 * so the message is 7-bit clean for any relay. Line breaks are CRLF throughout. Pure: no I/O.
 */
import type { ComposeInput, NamedAddress } from "../../schemas/mail.ts";
import { rfc5322Date } from "./dsn.ts";
import { encodedWords } from "./encoded_words.ts";
import { encodeQuotedPrintable } from "./transfer.ts";

export { encodedWords };

const encoder = new TextEncoder();

/** What this composer takes; the rest goes to the MIME port. */
export function composesSimply(input: ComposeInput): boolean {
  return input.attachments.length === 0;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
// RFC 5322 section 3.2.3 atext, plus the spaces between a phrase's words.
const PHRASE_ATOMS = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~ ]*$/;

/** A display name: atoms as they are, other ASCII quoted, anything else encoded. */
function phrase(name: string): string {
  if (PRINTABLE_ASCII.test(name)) {
    return PHRASE_ATOMS.test(name) ? name : `"${name.replace(/(["\\])/g, "\\$1")}"`;
  }
  return encodedWords(name).join(" ");
}

export const mailbox = (
  a: NamedAddress,
) => (a.name ? `${phrase(a.name)} <${a.address}>` : a.address);

/** `Name: value`, folded at spaces before 78 characters where the value has any. */
export function field(name: string, value: string): string {
  const line = `${name}: ${value}`;
  if (line.length <= 78) return line;
  const words = line.split(" ");
  let out = words[0];
  let width = out.length;
  for (const [i, word] of words.slice(1).entries()) {
    // Not right after the field name: the value starts on the field's own line.
    if (width + 1 + word.length > 78 && i > 0) {
      out += "\r\n " + word;
      width = word.length + 1;
    } else {
      out += " " + word;
      width += 1 + word.length;
    }
  }
  return out;
}

/** An unstructured field (Subject, extra headers): encoded-words when not plain ASCII. */
export const unstructured = (name: string, value: string) =>
  PRINTABLE_ASCII.test(value)
    ? field(name, value)
    : `${name}: ${encodedWords(value).join("\r\n ")}`;

export const addressField = (name: string, list: NamedAddress[]) =>
  field(name, list.map(mailbox).join(", "));

/** Quoted-printable (RFC 2045 section 6.7) of text whose lines are already split. */
export const quotedPrintable = (lines: string[]): string =>
  encodeQuotedPrintable(encoder.encode(lines.join("\r\n")));

/** A text body as 7bit when it can be, else quoted-printable; CRLF line breaks. */
function bodyPart(type: "plain" | "html", content: string): { headers: string[]; body: string } {
  const lines = content.split(/\r\n|\r|\n/);
  // deno-lint-ignore no-control-regex -- 7bit: ASCII without NUL (RFC 2045 section 2.7)
  const sevenBit = /^[\x01-\x7f]*$/.test(content) && lines.every((l) => l.length <= 998);
  return {
    headers: [
      `Content-Type: text/${type}; charset=utf-8`,
      `Content-Transfer-Encoding: ${sevenBit ? "7bit" : "quoted-printable"}`,
    ],
    body: sevenBit ? lines.join("\r\n") : quotedPrintable(lines),
  };
}

/**
 * The message's own header fields, in the order both composers write them: the caller's extra
 * fields (the API refuses the ones written here), From, To, Cc, Reply-To, Subject, Message-ID,
 * Date, In-Reply-To, References, MIME-Version. Bcc is never written (RFC 5322 section 3.6.3).
 */
export function messageHeaders(input: ComposeInput): string[] {
  const head: string[] = [];
  for (const h of input.headers) head.push(unstructured(h.name, h.value));
  head.push(addressField("From", [input.from]));
  if (input.to.length > 0) head.push(addressField("To", input.to));
  if (input.cc.length > 0) head.push(addressField("Cc", input.cc));
  if (input.replyTo.length > 0) head.push(addressField("Reply-To", input.replyTo));
  head.push(unstructured("Subject", input.subject));
  head.push(`Message-ID: ${input.messageId}`);
  head.push(`Date: ${rfc5322Date(input.date.getTime())}`);
  if (input.inReplyTo) head.push(`In-Reply-To: ${input.inReplyTo}`);
  if (input.references?.length) head.push(field("References", input.references.join(" ")));
  head.push("MIME-Version: 1.0");
  return head;
}

/**
 * The message's bytes. `boundary` separates the parts of a text-and-HTML message
 * (multipart/alternative, RFC 2046 section 5.1.4); it must be random, so it occurs in no part.
 */
export function composeSimple(input: ComposeInput, boundary: string): Uint8Array {
  const head = messageHeaders(input);
  let body: string;
  if (input.text !== undefined && input.html !== undefined) {
    const text = bodyPart("plain", input.text);
    const html = bodyPart("html", input.html);
    head.push(`Content-Type: multipart/alternative; boundary="${boundary}"`);
    body = [
      `--${boundary}`,
      ...text.headers,
      "",
      text.body,
      `--${boundary}`,
      ...html.headers,
      "",
      html.body,
      `--${boundary}--`,
    ].join("\r\n");
  } else {
    const part = input.html !== undefined
      ? bodyPart("html", input.html)
      : bodyPart("plain", input.text ?? "");
    head.push(...part.headers);
    body = part.body;
  }
  // The body ends with a line break: the text's own, or one added.
  const end = body.endsWith("\r\n") ? "" : "\r\n";
  return encoder.encode(`${head.join("\r\n")}\r\n\r\n${body}${end}`);
}
