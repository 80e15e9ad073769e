/**
 * The parsed form of a message the MIME parser refused: one beyond its limits (more MIME parts
 * than `mimeMaxParts`, a header block over `mimeMaxHeaderBytes`) or one that made it throw. Such
 * bytes are still RFC 5322 (section 2.1.1 bounds lines, not header blocks or nesting), so the
 * message is stored as received, as Dovecot does, rather than refused with a temporary error
 * that the sender would retry for days (issue 15 #9). What is kept is bounded whatever the
 * input: the first `SCAN_BYTES` of the header section, each field value cut at `MAX_VALUE`
 * characters, no body text, no attachments. IMAP still serves the raw bytes and their MIME
 * structure (schemas/mime_structure.ts, itself bounded). Pure and edge-safe.
 */
import type { NamedAddress, ParsedMail } from "../../schemas/mail.ts";
import { parseAddressList } from "../../schemas/mime_header.ts";
import { parseHeaderBlock } from "./header_block.ts";

/** How much of the header section is read. */
const SCAN_BYTES = 64 * 1024;
/** Longest field value kept (RFC 5322 section 2.1.1's line limit, with room for folding). */
const MAX_VALUE = 4096;
/** Fields kept in `headers`. */
const MAX_FIELDS = 200;

const addresses = (value: string | undefined): NamedAddress[] =>
  value === undefined
    ? []
    : parseAddressList(value).flatMap((a) =>
      a.mailbox && a.host ? [{ name: a.name ?? "", address: `${a.mailbox}@${a.host}` }] : []
    );

const ids = (value: string | undefined) => value?.match(/<[^<>\s]+>/g) ?? [];

export function degradedMail(raw: Uint8Array, reason: string): ParsedMail {
  const fields = parseHeaderBlock(raw.subarray(0, SCAN_BYTES))
    .slice(0, MAX_FIELDS)
    .map((f) => ({ name: f.name, value: f.value.slice(0, MAX_VALUE) }));
  const first = (name: string) => fields.find((f) => f.name.toLowerCase() === name)?.value;
  const all = (name: string) =>
    fields.filter((f) => f.name.toLowerCase() === name).map((f) => f.value).join(", ") ||
    undefined;
  const dateText = first("date");
  const date = dateText === undefined ? NaN : Date.parse(dateText);
  return {
    messageId: ids(first("message-id"))[0],
    inReplyTo: ids(first("in-reply-to"))[0],
    references: ids(all("references")).slice(0, 100),
    subject: first("subject") ?? "",
    from: addresses(first("from"))[0],
    to: addresses(all("to")),
    cc: addresses(all("cc")),
    replyTo: addresses(first("reply-to")),
    date: Number.isNaN(date) ? undefined : date,
    headers: fields,
    text: "",
    attachments: [],
    degraded: reason,
  };
}
