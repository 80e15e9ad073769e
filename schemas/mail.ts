/**
 * The parsed JSON form of a message (what the MIME port produces from RFC 5322 bytes) and the
 * input to compose one. Shared by the gateway, the bridge and API clients.
 */
import { z } from "zod";

export const NamedAddress = z.object({
  name: z.string(),
  address: z.string(),
}).meta({ id: "NamedAddress" });
export type NamedAddress = z.infer<typeof NamedAddress>;

export const AttachmentInfo = z.object({
  index: z.number().int().meta({ description: "Position among the message's attachments." }),
  filename: z.string(),
  contentType: z.string(),
  size: z.number().int(),
  contentId: z.string().optional(),
  disposition: z.enum(["attachment", "inline"]),
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
  attachments: AttachmentContent[];
}
