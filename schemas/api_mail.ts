/**
 * The mail API's request and response bodies: mailboxes (RFC 6154 special-use roles, "/" as the
 * hierarchy separator of RFC 3501 section 5.1.1), message summaries and details, threads and
 * search. Pure helpers that belong to the contract live here too: mailbox-name and IMAP keyword
 * (RFC 3501 section 9, `flag-keyword = atom`) validation, and the opaque page cursor.
 */
import { z } from "zod";
import { AttachmentInfo, NamedAddress } from "./mail.ts";

// ---------------------------------------------------------------------------------------------
// Mailbox names

export const MAILBOX_SEPARATOR = "/";
export const MAX_MAILBOX_NAME = 200;

// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** Why a mailbox name is unacceptable, or undefined when it is fine. */
export function mailboxNameProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (name.length > MAX_MAILBOX_NAME) return `must be at most ${MAX_MAILBOX_NAME} characters`;
  if (CONTROL.test(name)) return "must not contain control characters";
  const segments = name.split(MAILBOX_SEPARATOR);
  if (segments.some((s) => s.length === 0)) {
    return `must not have empty segments (a leading, trailing or doubled "${MAILBOX_SEPARATOR}")`;
  }
  if (segments.some((s) => s.trim() !== s)) {
    return "segments must not start or end with spaces";
  }
  // RFC 3501 section 6.3.8: "%" and "*" are LIST wildcards, so no mailbox can be named with them.
  if (/[%*]/.test(name)) return `must not contain "%" or "*"`;
  return undefined;
}

/**
 * The canonical form of a valid name: NFC, and INBOX (case-insensitive by RFC 3501 section
 * 5.1) spelled in capitals when it is the first segment.
 */
export function canonicalMailboxName(name: string): string {
  const nfc = name.normalize("NFC");
  const [first, ...rest] = nfc.split(MAILBOX_SEPARATOR);
  return first.toUpperCase() === "INBOX" ? ["INBOX", ...rest].join(MAILBOX_SEPARATOR) : nfc;
}

const MailboxName = z.string().superRefine((name, ctx) => {
  const problem = mailboxNameProblem(name);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
}).meta({
  description: `Full hierarchical name, "${MAILBOX_SEPARATOR}" separated, at most ` +
    `${MAX_MAILBOX_NAME} characters.`,
  example: "Projects/2024",
});

// ---------------------------------------------------------------------------------------------
// IMAP keywords

export const MAX_KEYWORD = 64;

/** RFC 3501 section 9: atom-char is any CHAR except atom-specials; "\" starts a system flag. */
export const KEYWORD_PATTERN = /^[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+$/;

export const Keyword = z.string().min(1).max(MAX_KEYWORD).regex(
  KEYWORD_PATTERN,
  'must be an IMAP atom (no spaces, controls or ( ) { } % * " \\ ])',
).meta({ example: "$Forwarded" });

// ---------------------------------------------------------------------------------------------
// Cursors: opaque to clients; base64url of "<sort key>:<id>".

export function encodeCursor(key: number, id: number): string {
  const text = `${key}:${id}`;
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeCursor(cursor: string): { key: number; id: number } | undefined {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(cursor)) return undefined;
  let text: string;
  try {
    text = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
  } catch {
    return undefined;
  }
  const match = text.match(/^(-?\d{1,16}):(\d{1,16})$/);
  if (!match) return undefined;
  const key = Number(match[1]);
  const id = Number(match[2]);
  if (!Number.isSafeInteger(key) || !Number.isSafeInteger(id)) return undefined;
  return { key, id };
}

// ---------------------------------------------------------------------------------------------
// Mailboxes

export const MailboxRole = z.enum(["inbox", "sent", "drafts", "trash", "junk", "archive"]);

export const Mailbox = z.object({
  id: z.number().int(),
  name: z.string(),
  role: MailboxRole.nullable().meta({ description: "RFC 6154 special use, or null." }),
  uidValidity: z.number().int(),
  uidNext: z.number().int(),
  highestModseq: z.number().int(),
  subscribed: z.boolean(),
  counts: z.object({
    total: z.number().int(),
    unread: z.number().int(),
    sizeBytes: z.number().int(),
  }),
}).meta({ id: "Mailbox" });
export type Mailbox = z.infer<typeof Mailbox>;

export const MailboxList = z.object({ items: z.array(Mailbox) }).meta({ id: "MailboxList" });

export const MailboxCreateRequest = z.object({ name: MailboxName }).meta({
  id: "MailboxCreateRequest",
});

export const MailboxUpdateRequest = z.object({
  name: MailboxName.optional().meta({ description: "New name; sub-mailboxes move with it." }),
  subscribed: z.boolean().optional(),
}).meta({ id: "MailboxUpdateRequest" });

// ---------------------------------------------------------------------------------------------
// Messages

export const MessageFlags = z.object({
  seen: z.boolean(),
  flagged: z.boolean(),
  answered: z.boolean(),
  draft: z.boolean(),
  deleted: z.boolean(),
}).meta({ id: "MessageFlags" });

export const MessageSummary = z.object({
  id: z.number().int(),
  mailboxId: z.number().int(),
  uid: z.number().int(),
  modseq: z.number().int().meta({ description: "RFC 7162 modification sequence." }),
  threadId: z.number().int(),
  subject: z.string(),
  from: NamedAddress.nullable(),
  to: z.array(NamedAddress),
  cc: z.array(NamedAddress),
  preview: z.string(),
  sentAt: z.string().meta({ description: "Date header (ISO 8601), else the arrival time." }),
  receivedAt: z.string().meta({ description: "Arrival time (IMAP INTERNALDATE), ISO 8601." }),
  size: z.number().int(),
  hasAttachments: z.boolean(),
  flags: MessageFlags,
  keywords: z.array(z.string()),
}).meta({ id: "MessageSummary" });
export type MessageSummary = z.infer<typeof MessageSummary>;

export const MessagePage = z.object({
  items: z.array(MessageSummary),
  nextCursor: z.string().nullable().meta({ description: "Pass as `cursor` for the next page." }),
}).meta({ id: "MessagePage" });

export const MessageDetail = MessageSummary.extend({
  messageIdHeader: z.string().nullable(),
  inReplyTo: z.string().nullable(),
  references: z.array(z.string()),
  replyTo: z.array(NamedAddress),
  headers: z.array(z.object({ name: z.string(), value: z.string() })),
  text: z.string().nullable(),
  html: z.string().nullable().meta({
    description: "The HTML body as received: untrusted, sanitise before display.",
  }),
  attachments: z.array(AttachmentInfo),
  authentication: z.record(z.string(), z.unknown()).optional().meta({
    description: "Verdicts recorded at delivery (SPF, DKIM, DMARC, federation signature…).",
  }),
}).meta({ id: "MessageDetail" });
export type MessageDetail = z.infer<typeof MessageDetail>;

const KeywordList = z.array(Keyword).max(50);

export const FlagChanges = z.object({
  seen: z.boolean().optional(),
  flagged: z.boolean().optional(),
  answered: z.boolean().optional(),
  draft: z.boolean().optional(),
  deleted: z.boolean().optional(),
}).meta({ id: "FlagChanges" });
export type FlagChanges = z.infer<typeof FlagChanges>;

export const MessageUpdateRequest = z.object({
  flags: FlagChanges.optional(),
  addKeywords: KeywordList.optional(),
  removeKeywords: KeywordList.optional(),
}).meta({ id: "MessageUpdateRequest" });
export type MessageUpdateRequest = z.infer<typeof MessageUpdateRequest>;

export const MessageMoveRequest = z.object({
  mailboxId: z.number().int().positive(),
}).meta({ id: "MessageMoveRequest" });

export const MessageDeleteResult = z.object({
  id: z.number().int(),
  result: z.enum(["trashed", "purged"]),
  mailboxId: z.number().int().nullable().meta({ description: "Trash's id when trashed." }),
}).meta({ id: "MessageDeleteResult" });

export const MAX_BATCH = 1000;

export const MessageBatchRequest = z.object({
  ids: z.array(z.number().int().positive()).min(1).max(MAX_BATCH),
  action: z.enum(["flag", "move", "delete", "purge"]),
  flags: FlagChanges.optional().meta({ description: "For `flag`." }),
  addKeywords: KeywordList.optional().meta({ description: "For `flag`." }),
  removeKeywords: KeywordList.optional().meta({ description: "For `flag`." }),
  mailboxId: z.number().int().positive().optional().meta({ description: "For `move`." }),
}).superRefine((v, ctx) => {
  if (v.action === "move" && v.mailboxId === undefined) {
    ctx.addIssue({ code: "custom", path: ["mailboxId"], message: "required for move" });
  }
}).meta({ id: "MessageBatchRequest" });
export type MessageBatchRequest = z.infer<typeof MessageBatchRequest>;

export const MessageBatchResult = z.object({
  done: z.array(z.number().int()),
  notFound: z.array(z.number().int()).meta({ description: "Ids that are not yours or gone." }),
}).meta({ id: "MessageBatchResult" });

// ---------------------------------------------------------------------------------------------
// Threads

export const ThreadSummary = z.object({
  id: z.number().int(),
  subject: z.string(),
  messageCount: z.number().int(),
  lastDate: z.string().meta({ description: "Arrival time of the newest message, ISO 8601." }),
}).meta({ id: "ThreadSummary" });

export const ThreadPage = z.object({
  items: z.array(ThreadSummary),
  nextCursor: z.string().nullable(),
}).meta({ id: "ThreadPage" });

export const ThreadDetail = ThreadSummary.extend({
  messages: z.array(MessageSummary).meta({ description: "Oldest first." }),
}).meta({ id: "ThreadDetail" });
