/**
 * The mail API's request and response bodies: mailboxes (RFC 6154 special-use roles, "/" as the
 * hierarchy separator of RFC 3501 section 5.1.1), message summaries and details, threads and
 * search. Pure helpers that belong to the contract live here too: mailbox-name and IMAP keyword
 * (RFC 3501 section 9, `flag-keyword = atom`) validation, and the opaque page cursor.
 */
import { SpamVerdict } from "./api_spam.ts";
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
  id: z.number().int().meta({ description: "The mailbox's id." }),
  name: z.string().meta({ description: "Full name; `/` separates levels (e.g. `Projects/2026`)." }),
  role: MailboxRole.nullable().meta({ description: "RFC 6154 special use, or null." }),
  uidValidity: z.number().int().meta({
    description:
      "IMAP UIDVALIDITY: changes only if UIDs are reassigned (RFC 3501 section 2.3.1.1).",
  }),
  uidNext: z.number().int().meta({ description: "The UID the next message will get." }),
  highestModseq: z.number().int().meta({
    description: "The highest RFC 7162 modification sequence in the mailbox.",
  }),
  subscribed: z.boolean().meta({ description: "Whether IMAP clients list it (LSUB)." }),
  retentionDays: z.number().int().nullable().meta({
    description: "Messages are deleted this many days after they arrived here (into the " +
      "recovery window); null keeps them for ever.",
  }),
  counts: z.object({
    total: z.number().int().meta({ description: "Messages in the mailbox." }),
    unread: z.number().int().meta({ description: "Messages without the \\Seen flag." }),
    sizeBytes: z.number().int().meta({ description: "Their total size in bytes." }),
  }).meta({ description: "Message counts." }),
}).meta({
  id: "Mailbox",
  example: {
    "id": 9,
    "name": "Projects/2026",
    "role": null,
    "uidValidity": 1765100420,
    "uidNext": 1,
    "highestModseq": 1,
    "subscribed": true,
    "retentionDays": null,
    "counts": { "total": 0, "unread": 0, "sizeBytes": 0 },
  },
});
export type Mailbox = z.infer<typeof Mailbox>;

export const MailboxList = z.object({
  items: z.array(Mailbox).meta({ description: "Every mailbox of the account." }),
}).meta({
  id: "MailboxList",
  example: {
    "items": [{
      "id": 1,
      "name": "INBOX",
      "role": "inbox",
      "uidValidity": 1765100000,
      "uidNext": 43,
      "highestModseq": 97,
      "subscribed": true,
      "retentionDays": null,
      "counts": { "total": 42, "unread": 3, "sizeBytes": 1203344 },
    }],
  },
});

export const MailboxCreateRequest = z.object({
  name: MailboxName,
  role: MailboxRole.exclude(["inbox"]).optional().meta({
    description: "A special use (RFC 6154) for the new mailbox. Each role belongs to one " +
      "mailbox of the account: a role another mailbox holds is refused (409 `role_taken`).",
  }),
}).meta({
  id: "MailboxCreateRequest",
  example: { "name": "Projects/2026" },
});

export const MailboxUpdateRequest = z.object({
  name: MailboxName.optional().meta({ description: "New name; sub-mailboxes move with it." }),
  subscribed: z.boolean().optional().meta({
    description: "Subscribe (true) or unsubscribe (false) IMAP clients.",
  }),
  retentionDays: z.number().int().min(1).max(36500).nullable().optional().meta({
    description: "Delete messages this many days after they arrived in this mailbox (they " +
      "stay recoverable for the recovery window, `GET /v1/recovery`); null keeps them for " +
      "ever. New accounts' Junk and Trash start at the server's defaults " +
      "(POSTERN_RETENTION_JUNK_DAYS, POSTERN_RETENTION_TRASH_DAYS).",
  }),
}).meta({ id: "MailboxUpdateRequest", example: { "retentionDays": 30 } });

// ---------------------------------------------------------------------------------------------
// Messages

export const MessageFlags = z.object({
  seen: z.boolean().meta({ description: "Read (IMAP \\\\Seen)." }),
  flagged: z.boolean().meta({ description: "Starred (IMAP \\\\Flagged)." }),
  answered: z.boolean().meta({ description: "Replied to (IMAP \\\\Answered)." }),
  draft: z.boolean().meta({ description: "A draft (IMAP \\\\Draft)." }),
  deleted: z.boolean().meta({ description: "Marked for expunge (IMAP \\\\Deleted)." }),
}).meta({ id: "MessageFlags" });

/** One message as lists show it: the example of MessageSummary and of a MessagePage item. */
const MESSAGE_SUMMARY_EXAMPLE = {
  "id": 812,
  "mailboxId": 1,
  "uid": 42,
  "modseq": 98,
  "threadId": 77,
  "subject": "Lunch on Friday?",
  "from": { "name": "Bob", "address": "bob@example.org" },
  "to": [{ "name": "", "address": "alice@example.com" }],
  "cc": [],
  "preview": "Shall we try the new place…",
  "sentAt": "2026-12-07T09:58:00.000Z",
  "receivedAt": "2026-12-07T09:58:02.000Z",
  "size": 4211,
  "hasAttachments": false,
  "flags": { "seen": true, "flagged": true, "answered": false, "draft": false, "deleted": false },
  "keywords": ["$Important"],
};

export const MessageSummary = z.object({
  id: z.number().int().meta({
    description: "The message's id (stable while it stays in its mailbox).",
  }),
  mailboxId: z.number().int().meta({ description: "The mailbox it is in." }),
  uid: z.number().int().meta({ description: "Its IMAP UID in that mailbox." }),
  modseq: z.number().int().meta({ description: "RFC 7162 modification sequence." }),
  threadId: z.number().int().meta({ description: "The conversation it belongs to." }),
  subject: z.string().meta({ description: "The Subject (empty when absent)." }),
  from: NamedAddress.nullable().meta({ description: "The From address, if any." }),
  to: z.array(NamedAddress).meta({ description: "The To addresses." }),
  cc: z.array(NamedAddress).meta({ description: "The Cc addresses." }),
  preview: z.string().meta({ description: "The start of the text body, for lists." }),
  sentAt: z.string().meta({ description: "Date header (ISO 8601), else the arrival time." }),
  receivedAt: z.string().meta({ description: "Arrival time (IMAP INTERNALDATE), ISO 8601." }),
  size: z.number().int().meta({ description: "Size of the raw message in bytes." }),
  hasAttachments: z.boolean().meta({ description: "Whether it has attachments." }),
  flags: MessageFlags.meta({ description: "The system flags." }),
  keywords: z.array(z.string()).meta({
    description: "IMAP keywords (user flags such as `$Forwarded` or `$Junk`).",
  }),
}).meta({ id: "MessageSummary", example: MESSAGE_SUMMARY_EXAMPLE });
export type MessageSummary = z.infer<typeof MessageSummary>;

export const MessagePage = z.object({
  items: z.array(MessageSummary).meta({ description: "A page of messages, newest first." }),
  nextCursor: z.string().nullable().meta({ description: "Pass as `cursor` for the next page." }),
}).meta({
  id: "MessagePage",
  example: {
    "items": [MESSAGE_SUMMARY_EXAMPLE],
    "nextCursor": "811",
  },
});

export const MessageDetail = MessageSummary.extend({
  messageIdHeader: z.string().nullable().meta({ description: "The Message-ID header, if any." }),
  inReplyTo: z.string().nullable().meta({ description: "The In-Reply-To header, if any." }),
  references: z.array(z.string()).meta({ description: "The References header's Message-IDs." }),
  replyTo: z.array(NamedAddress).meta({ description: "The Reply-To addresses." }),
  headers: z.array(z.object({
    name: z.string().meta({ description: "The field name." }),
    value: z.string().meta({ description: "The unfolded value." }),
  })).meta({
    description: "Every header field in order (name and unfolded value).",
  }),
  text: z.string().nullable().meta({ description: "The plain-text body, if any." }),
  html: z.string().nullable().meta({
    description: "The HTML body as received: untrusted, sanitise before display.",
  }),
  attachments: z.array(AttachmentInfo).meta({
    description: "The attachments (download each by its index).",
  }),
  authentication: z.record(z.string(), z.unknown()).optional().meta({
    description: "Verdicts recorded at delivery (SPF, DKIM, DMARC, federation signature…).",
  }),
  spam: SpamVerdict.optional().meta({
    description: "The spam verdict recorded at delivery (mail from other servers): score, " +
      "rules and what was done; the same as the message's X-Spam-Status field.",
  }),
}).meta({ id: "MessageDetail" });
export type MessageDetail = z.infer<typeof MessageDetail>;

const KeywordList = z.array(Keyword).max(50);

export const FlagChanges = z.object({
  seen: z.boolean().optional().meta({ description: "Set or clear \\\\Seen." }),
  flagged: z.boolean().optional().meta({ description: "Set or clear \\\\Flagged." }),
  answered: z.boolean().optional().meta({ description: "Set or clear \\\\Answered." }),
  draft: z.boolean().optional().meta({ description: "Set or clear \\\\Draft." }),
  deleted: z.boolean().optional().meta({ description: "Set or clear \\\\Deleted." }),
}).meta({ id: "FlagChanges" });
export type FlagChanges = z.infer<typeof FlagChanges>;

export const MessageUpdateRequest = z.object({
  flags: FlagChanges.optional().meta({
    description: "Flags to set (true) or clear (false); others stay.",
  }),
  addKeywords: KeywordList.optional().meta({ description: "Keywords to add (at most 50)." }),
  removeKeywords: KeywordList.optional().meta({ description: "Keywords to remove (at most 50)." }),
}).meta({
  id: "MessageUpdateRequest",
  example: { "flags": { "seen": true, "flagged": true }, "addKeywords": ["$Important"] },
});
export type MessageUpdateRequest = z.infer<typeof MessageUpdateRequest>;

export const MessageMoveRequest = z.object({
  mailboxId: z.number().int().positive().meta({
    description: "The mailbox to move it to (one of yours).",
  }),
}).meta({ id: "MessageMoveRequest" });

export const MessageDeleteResult = z.object({
  id: z.number().int().meta({
    description: "The message's id (in Trash when trashed: a new one).",
  }),
  result: z.enum(["trashed", "purged"]).meta({
    description: "trashed: moved to Trash; purged: deleted for good.",
  }),
  mailboxId: z.number().int().nullable().meta({ description: "Trash's id when trashed." }),
}).meta({ id: "MessageDeleteResult" });

export const MAX_BATCH = 1000;

export const MessageBatchRequest = z.object({
  ids: z.array(z.number().int().positive()).min(1).max(MAX_BATCH).meta({
    description: "The messages (1 to 1000).",
  }),
  action: z.enum(["flag", "move", "delete", "purge"]).meta({
    description:
      "flag: change flags/keywords; move: to `mailboxId`; delete: to Trash; purge: for good.",
  }),
  flags: FlagChanges.optional().meta({ description: "For `flag`." }),
  addKeywords: KeywordList.optional().meta({ description: "For `flag`." }),
  removeKeywords: KeywordList.optional().meta({ description: "For `flag`." }),
  mailboxId: z.number().int().positive().optional().meta({ description: "For `move`." }),
}).superRefine((v, ctx) => {
  if (v.action === "move" && v.mailboxId === undefined) {
    ctx.addIssue({ code: "custom", path: ["mailboxId"], message: "required for move" });
  }
}).meta({
  id: "MessageBatchRequest",
  example: { "ids": [812, 813, 815], "action": "move", "mailboxId": 5 },
});
export type MessageBatchRequest = z.infer<typeof MessageBatchRequest>;

export const MessageBatchResult = z.object({
  done: z.array(z.number().int()).meta({ description: "Ids the action was applied to." }),
  notFound: z.array(z.number().int()).meta({ description: "Ids that are not yours or gone." }),
}).meta({ id: "MessageBatchResult", example: { "done": [812, 813], "notFound": [815] } });

// ---------------------------------------------------------------------------------------------
// Threads

export const ThreadSummary = z.object({
  id: z.number().int().meta({ description: "The thread's id." }),
  subject: z.string().meta({ description: "The subject of its first message." }),
  messageCount: z.number().int().meta({ description: "How many of your messages it holds." }),
  lastDate: z.string().meta({ description: "Arrival time of the newest message, ISO 8601." }),
}).meta({ id: "ThreadSummary" });

export const ThreadPage = z.object({
  items: z.array(ThreadSummary).meta({
    description: "A page of threads, most recently active first.",
  }),
  nextCursor: z.string().nullable().meta({
    description: "Pass as `cursor` for the next page; null on the last.",
  }),
}).meta({ id: "ThreadPage" });

export const ThreadDetail = ThreadSummary.extend({
  messages: z.array(MessageSummary).meta({ description: "Oldest first." }),
}).meta({ id: "ThreadDetail" });
