/**
 * The send and draft API's request and response bodies. Header fields are checked for CR/LF so
 * no input can inject a header (RFC 5322 section 2.2: a field body never contains a bare CR or LF).
 */
import { z } from "zod";
import { AddressString, parseAddress } from "./address.ts";

const SafeText = (field: string, max: number) =>
  z.string().max(max).refine((v) => !/[\r\n\0]/.test(v), {
    message: `${field} must not contain CR, LF or NUL`,
  });

/**
 * `Name <local@domain>` (RFC 5322 section 3.4 name-addr, the display name optionally quoted) as
 * the SDKs of other mail APIs write it; a bare address passes through unchanged.
 */
const NameAddr = z.string().max(520).transform((value, ctx) => {
  const m = /^\s*(?:"((?:[^"\\]|\\.)*)"|([^<>"]*?))\s*<([^<>]+)>\s*$/.exec(value);
  const parsed = parseAddress(m ? m[3] : value);
  if (!parsed.ok) {
    ctx.addIssue({ code: "custom", message: `invalid address: ${parsed.error}` });
    return z.NEVER;
  }
  if (!m) return parsed.value.address;
  const name = m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : m[2];
  if (/[\r\n\0]/.test(name) || name.length > 200) {
    ctx.addIssue({ code: "custom", message: "the display name is malformed or too long" });
    return z.NEVER;
  }
  return { name, address: parsed.value.address };
}).meta({
  description: 'An address, `local@domain` or `"Display Name <local@domain>"`.',
  example: "Alice <alice@postern.localhost>",
});

export const Recipient = z.union([
  NameAddr,
  z.object({
    name: SafeText("name", 200).default("").meta({ description: "The display name." }),
    address: AddressString,
  }),
]).meta({
  id: "Recipient",
  description: 'An address string (`a@x` or `"Name <a@x>"`), or {name, address}.',
});

/** A list of recipients; a single one may be given without the brackets. */
const RecipientList = (max: number) =>
  z.union([Recipient, z.array(Recipient).max(max)])
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .default([]);

/** RFC 2392 content-id (without the angle brackets): what `cid:` in the HTML refers to. */
export const ContentId = z.string().min(1).max(200).regex(
  /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.@]+$/,
  "letters, digits and the dot-atom punctuation of RFC 5322 only (no <>, spaces or quotes)",
);

export const AttachmentInput = z.object({
  filename: SafeText("filename", 255).min(1).meta({
    description: "The file name shown to the recipient (no CR, LF or NUL).",
  }),
  contentType: z.string().regex(/^[\w.+-]+\/[\w.+-]+$/, "must be a MIME type like text/plain")
    .default("application/octet-stream").meta({
      description: "The MIME type, e.g. `application/pdf`.",
    }),
  content: z.string().regex(/^[A-Za-z0-9+/=\s]*$/, "must be base64").meta({
    description: "Base64 content.",
  }),
  contentId: ContentId.optional().meta({
    description: 'Makes the attachment inline: the HTML shows it with `<img src="cid:…">`.',
  }),
}).meta({ id: "AttachmentInput" });

// Header fields the composer owns; setting them by hand would forge or break the message.
const RESERVED_HEADERS = new Set([
  "from",
  "to",
  "cc",
  "bcc",
  "reply-to",
  "subject",
  "date",
  "message-id",
  "mime-version",
  "content-type",
  "content-transfer-encoding",
  "in-reply-to",
  "references",
  "sender",
  "return-path",
  "received",
  "dkim-signature",
  "authentication-results",
]);

export const ExtraHeaders = z.record(
  z.string().regex(/^[!-9;-~]{1,76}$/, "header names are printable ASCII without colon"),
  SafeText("a header value", 998),
).refine((h) => Object.keys(h).every((k) => !RESERVED_HEADERS.has(k.toLowerCase())), {
  message:
    "headers must not set From, To, Subject, Date, Message-ID or other fields Postern writes",
}).meta({ description: 'Extra header fields, e.g. {"X-Campaign": "spring"}.' });

const MessageId = z.string().regex(/^<[^<>\s]+@[^<>\s]+>$/, "must look like <id@domain>");

export const ComposeFields = {
  from: Recipient.meta({
    description:
      "The sender: an address of the signed-in account (or an alias or domain it may send as).",
  }),
  to: RecipientList(100).meta({
    description: "Recipients (at most 100); one may be given as a plain string.",
  }),
  cc: RecipientList(100).meta({ description: "Carbon-copy recipients (at most 100)." }),
  bcc: RecipientList(100).meta({
    description:
      "Blind-copy recipients (at most 100): they receive the message but appear in no header.",
  }),
  replyTo: RecipientList(10).meta({ description: "Reply-To addresses (at most 10)." }),
  subject: SafeText("subject", 998).default("").meta({
    description: "The Subject (at most 998 characters, no line breaks).",
  }),
  text: z.string().max(10 * 1024 * 1024).optional().meta({
    description: "The plain-text body (at most 10 MiB).",
  }),
  html: z.string().max(10 * 1024 * 1024).optional().meta({
    description:
      "The HTML body (at most 10 MiB); with `text` too the message is multipart/alternative.",
  }),
  attachments: z.array(AttachmentInput).max(100).default([]).meta({
    description: "Files to attach (at most 100).",
  }),
  headers: ExtraHeaders.default({}),
  inReplyTo: MessageId.optional().meta({
    description:
      "The Message-ID this answers (`<id@domain>`), for threading (RFC 5322 section 3.6.4).",
  }),
  references: z.array(MessageId).max(100).optional().meta({
    description: "The thread's Message-IDs, oldest first (RFC 5322 section 3.6.4).",
  }),
};

export const SendRequest = z.object(ComposeFields).refine(
  (r) => r.to.length + r.cc.length + r.bcc.length > 0,
  {
    message: "at least one recipient (to, cc or bcc) is required",
    path: ["to"],
  },
).meta({ id: "SendRequest" });
export type SendRequest = z.infer<typeof SendRequest>;

export const DraftRequest = z.object(ComposeFields).meta({ id: "DraftRequest" });
export type DraftRequest = z.infer<typeof DraftRequest>;

export const RecipientOutcome = z.object({
  address: z.string().meta({ description: "The recipient address." }),
  status: z.enum(["delivered", "queued", "rejected", "scheduled", "suppressed", "test"]).meta({
    description:
      "delivered: stored in a local mailbox; queued: in the outbox for a remote server; " +
      "rejected: refused (see code); scheduled: queued for `sendAt`; suppressed: on the " +
      "sending domain's suppression list, not sent; test: accepted by a test API key, " +
      "recorded and never delivered.",
  }),
  code: z.string().optional().meta({
    description: "Why it was rejected (a stable error code), when rejected.",
  }),
  reason: z.string().optional().meta({
    description: "A human-readable reason, when rejected or suppressed.",
  }),
}).meta({ id: "RecipientOutcome" });

export const SendResponse = z.object({
  id: z.number().int().meta({ description: "Id of the Sent copy in the sender's mailbox." }),
  messageId: z.string().meta({ description: "The Message-ID header." }),
  recipients: z.array(RecipientOutcome).meta({ description: "What happened to each recipient." }),
}).meta({ id: "SendResponse" });
export type SendResponse = z.infer<typeof SendResponse>;
