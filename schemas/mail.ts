/**
 * The parsed JSON form of a message (what the MIME port produces from RFC 5322 bytes) and the
 * input to compose one. Shared by the gateway, the bridge and API clients.
 */
import { z } from "zod";

export const NamedAddress = z.object({
  name: z.string().meta({ description: "The display name (empty when none)." }),
  address: z.string().meta({ description: "The address, `local@domain`." }),
}).meta({ id: "NamedAddress" });
export type NamedAddress = z.infer<typeof NamedAddress>;

export const AttachmentInfo = z.object({
  index: z.number().int().meta({ description: "Position among the message's attachments." }),
  filename: z.string().meta({ description: "The file name (as the sender gave it: untrusted)." }),
  contentType: z.string().meta({ description: "The MIME type." }),
  size: z.number().int().meta({ description: "Decoded size in bytes." }),
  contentId: z.string().optional().meta({
    description: "Content-ID, for inline images referenced by `cid:`.",
  }),
  disposition: z.enum(["attachment", "inline"]).meta({ description: "Content-Disposition." }),
}).meta({ id: "AttachmentInfo" });
export type AttachmentInfo = z.infer<typeof AttachmentInfo>;

export const ParsedMail = z.object({
  messageId: z.string().optional(),
  inReplyTo: z.string().optional(),
  references: z.array(z.string()),
  subject: z.string(),
  from: NamedAddress.optional(),
  to: z.array(NamedAddress),
  cc: z.array(NamedAddress),
  replyTo: z.array(NamedAddress),
  /** Date header in Unix ms, when present and valid. */
  date: z.number().optional(),
  headers: z.array(z.object({ name: z.string(), value: z.string() })),
  text: z.string().optional(),
  html: z.string().optional(),
  attachments: z.array(AttachmentInfo),
  /**
   * Set when the MIME parser refused the message (beyond its limits: too many parts, a header
   * block too large): the raw bytes are stored as received, and this form holds only what a
   * bounded scan of the top-level header found (no body text, no attachments).
   */
  degraded: z.string().optional().meta({
    description: "Why only the headers of this message could be read (e.g. too many MIME " +
      "parts); the raw message is stored unchanged.",
  }),
}).meta({ id: "ParsedMail" });
export type ParsedMail = z.infer<typeof ParsedMail>;

export interface AttachmentContent {
  filename: string;
  contentType: string;
  content: Uint8Array;
  /** Inline: referenced from the HTML as `cid:<contentId>` (RFC 2392), sent multipart/related. */
  contentId?: string;
}

/**
 * An attachment's base64 text as the send API received it, checked to be plain base64
 * (src/mime/base64_text.ts; line breaks and spaces already dropped), copied into the message instead of decoded and encoded again.
 * A plain object, so it crosses to the process host's MIME thread as it is.
 */
export interface Base64Content {
  base64: string;
  /** The octets it decodes to. */
  size: number;
}

/** An attachment to compose: its bytes, or its base64 text (the send API's JSON). */
export type ComposeAttachment = Omit<AttachmentContent, "content"> & {
  content: Uint8Array | Base64Content;
};

/** What the MIME port needs to build a message. Addresses are already validated. */
export interface ComposeInput {
  from: NamedAddress;
  to: NamedAddress[];
  cc: NamedAddress[];
  bcc: NamedAddress[];
  replyTo: NamedAddress[];
  subject: string;
  text?: string;
  html?: string;
  messageId: string;
  date: Date;
  inReplyTo?: string;
  references?: string[];
  headers: { name: string; value: string }[];
  attachments: ComposeAttachment[];
}
