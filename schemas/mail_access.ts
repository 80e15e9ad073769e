/**
 * The wire objects of the mailbox-access API that the bridge's IMAP and POP3 servers use
 * (`/v1/mail-access/...`): a mailbox's whole index in one call, changes since a modification
 * sequence (RFC 7162 CONDSTORE/QRESYNC), flag stores with UNCHANGEDSINCE, expunge, copy and move
 * with UID mappings (RFC 4315 UIDPLUS), append, and a SEARCH criteria tree covering every
 * RFC 3501 section 6.4.4 key. Flags travel as IMAP flag strings ("\\Seen", keywords as atoms).
 * Also the binary framing of many raw bodies in one response, and UID set helpers.
 */
import { z } from "zod";
import { MailboxRole } from "./api_mail.ts";
import { MimeStructure } from "./mime_structure.ts";

// ---------------------------------------------------------------------------------------------
// UID sets (RFC 3501 section 9, `sequence-set`, with UIDs)

/** Longest UID set string a request may carry. */
export const MAX_UID_SET_CHARS = 100_000;

export const UidSet = z.string().min(1).max(MAX_UID_SET_CHARS)
  .regex(/^(\d+|\*)(:(\d+|\*))?(,(\d+|\*)(:(\d+|\*))?)*$/)
  .meta({
    id: "UidSet",
    description: "UIDs in IMAP `sequence-set` syntax: `1:5,9,20:*` (`*` is the highest UID).",
    example: "1:5,9",
  });

/** Ranges of a UID set; `*` becomes `Infinity` (the caller resolves it to the highest UID). */
export function parseUidSet(text: string): [number, number][] | undefined {
  if (!UidSet.safeParse(text).success) return undefined;
  const out: [number, number][] = [];
  for (const part of text.split(",")) {
    const [a, b = a] = part.split(":").map((s) => s === "*" ? Infinity : Number(s));
    if (a === 0 || b === 0) return undefined;
    if (!Number.isFinite(a) && a !== Infinity) return undefined;
    out.push(a <= b ? [a, b] : [b, a]);
  }
  return out;
}

/** Compact UID set string of these UIDs (sorted, runs joined): [1,2,3,7] → "1:3,7". */
export function formatUidSet(uids: Iterable<number>): string {
  return formatOrderedSet([...new Set(uids)].sort((a, b) => a - b));
}

/**
 * A sequence set that keeps the order of `ids` (IMAP ESORT's ALL, RFC 5267 section 3.2): only
 * runs that ascend by one become ranges, so `2,4,1,3` stays as it is and `1,2,3` is `1:3`.
 */
export function formatOrderedSet(ids: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ids.length;) {
    let j = i;
    while (j + 1 < ids.length && ids[j + 1] === ids[j] + 1) j++;
    parts.push(i === j ? String(ids[i]) : `${ids[i]}:${ids[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

// ---------------------------------------------------------------------------------------------
// Flags

/** RFC 3501 section 2.3.2 system flags that are stored (\Recent is per session, not stored). */
export const SYSTEM_FLAGS = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"] as const;

/** A system flag or a keyword atom (no spaces, parentheses, wildcards, quotes or backslash). */
export const FlagName = z.string().min(1).max(100).regex(
  // deno-lint-ignore no-control-regex
  /^(\\[A-Za-z]+|[^\\\s(){%*"\]\x00-\x1f\x7f]+)$/,
).meta({
  description: "`\\Seen`, `\\Answered`, `\\Flagged`, `\\Deleted`, `\\Draft` or a keyword atom; " +
    "other `\\` flags (such as `\\Recent`) are not stored and are ignored.",
});

// ---------------------------------------------------------------------------------------------
// Mailbox state and index

export const MailboxState = z.object({
  id: z.number().int().meta({ description: "The mailbox's id." }),
  name: z.string().meta({ description: "Its full name." }),
  role: MailboxRole.nullable().meta({ description: "Its special use (RFC 6154), or null." }),
  uidValidity: z.number().int().meta({ description: "UIDVALIDITY." }),
  uidNext: z.number().int().meta({ description: "UIDNEXT." }),
  highestModseq: z.number().int().meta({ description: "HIGHESTMODSEQ (RFC 7162)." }),
  exists: z.number().int().meta({
    description: "Messages in the mailbox (IMAP EXISTS / STATUS MESSAGES).",
  }),
  unseen: z.number().int().meta({ description: "Messages without \\\\Seen." }),
  sizeBytes: z.number().int().meta({ description: "Total size in bytes." }),
}).meta({
  id: "MailboxState",
  description: "A mailbox with its IMAP state (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ) and counts.",
});
export type MailboxState = z.infer<typeof MailboxState>;

export const IndexEntry = z.object({
  uid: z.number().int().meta({ description: "The message's UID." }),
  id: z.number().int().meta({
    description: "The message's id in the rest of the API (`/v1/messages/{id}`).",
  }),
  modseq: z.number().int().meta({ description: "Its modification sequence." }),
  internalDate: z.number().int().meta({ description: "RFC 3501 INTERNALDATE, Unix milliseconds." }),
  size: z.number().int().meta({ description: "RFC822.SIZE: bytes of the stored message." }),
  flags: z.array(z.string()).meta({ description: "System flags and keywords, IMAP spelling." }),
}).meta({ id: "IndexEntry" });
export type IndexEntry = z.infer<typeof IndexEntry>;

export const MailboxIndex = z.object({
  mailbox: MailboxState,
  items: z.array(IndexEntry).meta({ description: "Ascending by UID." }),
  nextAfterUid: z.number().int().nullable().meta({
    description: "Set when more messages follow: pass it as `afterUid` for the next page.",
  }),
}).meta({ id: "MailboxIndex" });
export type MailboxIndex = z.infer<typeof MailboxIndex>;

export const Maildrop = z.object({
  mailbox: MailboxState,
  uids: z.array(z.number().int()).meta({ description: "The Inbox's UIDs, ascending." }),
  sizes: z.array(z.number().int()).meta({
    description: "Each message's size in octets, in the order of `uids`.",
  }),
  nextAfterUid: z.number().int().nullable().meta({
    description: "Set when more messages follow: pass it as `afterUid` for the next page.",
  }),
}).meta({ id: "Maildrop" });
export type Maildrop = z.infer<typeof Maildrop>;

export const MailboxChanges = z.object({
  mailbox: MailboxState,
  changed: z.array(IndexEntry).meta({
    description:
      "Messages whose modseq is above `sinceModseq` (new ones and flag changes), by UID.",
  }),
  expunged: z.array(z.number().int()).meta({
    description: "UIDs expunged (or moved away) after `sinceModseq`, ascending (QRESYNC VANISHED).",
  }),
}).meta({ id: "MailboxChanges" });
export type MailboxChanges = z.infer<typeof MailboxChanges>;

// ---------------------------------------------------------------------------------------------
// Requests on UID sets

export const UidsRequest = z.object({ uids: UidSet }).meta({ id: "UidsRequest" });

export const RawRequest = z.object({
  uids: UidSet,
  part: z.enum(["full", "header"]).default("full").meta({
    description: "`full`: the exact stored bytes; `header`: up to and including the empty line.",
  }),
}).meta({ id: "RawRequest" });

export const StoreFlagsRequest = z.object({
  uids: UidSet,
  op: z.enum(["add", "remove", "replace"]).meta({
    description: "RFC 3501 section 6.4.6: FLAGS (replace), +FLAGS (add), -FLAGS (remove).",
  }),
  flags: z.array(FlagName).max(100).meta({
    description: "System flags (`\\\\Seen`, …) and keywords (at most 100).",
  }),
  unchangedSince: z.number().int().min(0).optional().meta({
    description:
      "RFC 7162 section 3.1.3 UNCHANGEDSINCE: only messages whose modseq is not above it.",
  }),
}).meta({ id: "StoreFlagsRequest" });
export type StoreFlagsRequest = z.infer<typeof StoreFlagsRequest>;

export const StoreFlagsResult = z.object({
  updated: z.array(IndexEntry).meta({
    description: "Every message of the set that exists, with its flags and modseq after the store.",
  }),
  modified: z.array(z.number().int()).meta({
    description: "UIDs that failed UNCHANGEDSINCE (RFC 7162 `[MODIFIED set]`).",
  }),
  highestModseq: z.number().int().meta({
    description: "The mailbox's HIGHESTMODSEQ after the change.",
  }),
}).meta({ id: "StoreFlagsResult" });
export type StoreFlagsResult = z.infer<typeof StoreFlagsResult>;

export const ExpungeRequest = z.object({
  uids: UidSet.optional().meta({
    description: "Restrict to these UIDs (RFC 4315 UID EXPUNGE); absent: every \\Deleted message.",
  }),
}).meta({ id: "ExpungeRequest" });

export const ExpungeResult = z.object({
  expunged: z.array(z.number().int()).meta({ description: "The UIDs removed." }),
  highestModseq: z.number().int().meta({
    description: "The mailbox's HIGHESTMODSEQ after the change.",
  }),
}).meta({ id: "ExpungeResult" });
export type ExpungeResult = z.infer<typeof ExpungeResult>;

export const TransferRequest = z.object({
  uids: UidSet,
  targetMailboxId: z.number().int().positive().meta({
    description: "The mailbox to copy or move to (one of yours).",
  }),
}).meta({ id: "TransferRequest" });

export const TransferResult = z.object({
  uidValidity: z.number().int().meta({
    description: "The target's UIDVALIDITY (RFC 4315 COPYUID).",
  }),
  mapping: z.array(z.tuple([z.number().int(), z.number().int()])).meta({
    description: "[source UID, new UID in the target], ascending by source UID.",
  }),
}).meta({ id: "TransferResult" });
export type TransferResult = z.infer<typeof TransferResult>;

export const AppendResult = z.object({
  uid: z.number().int().meta({ description: "The stored message's UID." }),
  id: z.number().int().meta({ description: "Its id in the mailbox API." }),
  uidValidity: z.number().int().meta({ description: "The mailbox's UIDVALIDITY (for APPENDUID)." }),
  modseq: z.number().int().meta({ description: "Its modification sequence." }),
}).meta({ id: "AppendResult" });
export type AppendResult = z.infer<typeof AppendResult>;

/** Most messages of one APPEND of several (MULTIAPPEND, RFC 3502): one write job stores them. */
export const MAX_MULTIAPPEND = 100;

/**
 * The flags and internal date of each message of an APPEND of several (RFC 3502), in the order
 * of the body's frames (`RAW_FRAMES_TYPE`, each frame one message's exact bytes).
 */
export const AppendManyMeta = z.array(z.object({
  flags: z.array(FlagName).max(100).default([]),
  /** Unix milliseconds; default now. */
  internalDate: z.number().int().min(0).optional(),
})).min(1).max(MAX_MULTIAPPEND);
export type AppendManyMeta = z.infer<typeof AppendManyMeta>;

export const AppendManyResult = z.object({
  items: z.array(AppendResult).meta({ description: "One result per message, in order." }),
}).meta({
  id: "AppendManyResult",
});
export type AppendManyResult = z.infer<typeof AppendManyResult>;

export const StructureItem = z.object({
  uid: z.number().int().meta({ description: "The message's UID." }),
  structure: MimeStructure,
}).meta({ id: "StructureItem" });

export const StructureResult = z.object({
  items: z.array(StructureItem).meta({ description: "One per UID found, in UID order." }),
}).meta({
  id: "StructureResult",
});

// ---------------------------------------------------------------------------------------------
// SEARCH (RFC 3501 section 6.4.4, RFC 7162 section 3.1.5 MODSEQ)

/** An IMAP date (`1-Feb-1994`) or ISO `1994-02-01`; compared by day, time and zone ignored. */
const SearchDate = z.string().regex(/^(\d{4}-\d{2}-\d{2}|\d{1,2}-[A-Za-z]{3}-\d{4})$/);
const Text = z.string().max(1000);

export type SearchCriteria =
  | { key: "all" }
  | { key: "flag"; flag: string; present: boolean }
  | { key: "before" | "on" | "since" | "sentbefore" | "senton" | "sentsince"; date: string }
  | { key: "larger" | "smaller"; size: number }
  | { key: "header"; field: string; value: string }
  | { key: "from" | "to" | "cc" | "bcc" | "subject" | "body" | "text"; value: string }
  | { key: "uid"; uids: string }
  | { key: "modseq"; modseq: number }
  | { key: "and"; of: SearchCriteria[] }
  | { key: "or"; of: SearchCriteria[] }
  | { key: "not"; of: SearchCriteria };

export const SearchCriteria: z.ZodType<SearchCriteria> = z.lazy(() =>
  z.discriminatedUnion("key", [
    z.object({
      key: z.literal("all").meta({ description: "The search key (RFC 3501 section 6.4.4)." }),
    }),
    z.object({
      key: z.literal("flag").meta({ description: "The search key (RFC 3501 section 6.4.4)." }),
      flag: FlagName,
      present: z.boolean().meta({ description: "false for UNSEEN, UNKEYWORD and the like." }),
    }),
    z.object({
      key: z.enum(["before", "on", "since", "sentbefore", "senton", "sentsince"]).meta({
        description: "The search key (RFC 3501 section 6.4.4).",
      }),
      date: SearchDate.meta({
        description: "A day, YYYY-MM-DD or d-Mon-yyyy: the internal date (before, on, since) or " +
          "the Date header (sent*).",
      }),
    }),
    z.object({
      key: z.enum(["larger", "smaller"]).meta({
        description: "The search key (RFC 3501 section 6.4.4).",
      }),
      size: z.number().int().min(0).meta({ description: "Size in octets." }),
    }),
    z.object({
      key: z.literal("header").meta({ description: "The search key (RFC 3501 section 6.4.4)." }),
      field: z.string().min(1).max(200).meta({ description: "The header field name." }),
      value: Text.meta({ description: "Text the field contains." }),
    }),
    z.object({
      key: z.enum(["from", "to", "cc", "bcc", "subject", "body", "text"]).meta({
        description: "The search key (RFC 3501 section 6.4.4).",
      }),
      value: Text.meta({ description: "Text to find (case-insensitive substring)." }),
    }),
    z.object({
      key: z.literal("uid").meta({ description: "The search key (RFC 3501 section 6.4.4)." }),
      uids: UidSet,
    }),
    z.object({
      key: z.literal("modseq").meta({ description: "The search key (RFC 3501 section 6.4.4)." }),
      modseq: z.number().int().min(0).meta({ description: "At least this modseq (RFC 7162)." }),
    }),
    z.object({
      key: z.literal("and").meta({ description: "The search key (RFC 3501 section 6.4.4)." }),
      of: z.array(SearchCriteria).max(100).meta({ description: "All of these." }),
    }),
    z.object({
      key: z.literal("or").meta({ description: "The search key (RFC 3501 section 6.4.4)." }),
      of: z.array(SearchCriteria).min(2).max(100).meta({ description: "Any of these." }),
    }),
    z.object({
      key: z.literal("not").meta({ description: "The search key (RFC 3501 section 6.4.4)." }),
      of: SearchCriteria,
    }),
  ])
).meta({
  id: "SearchCriteria",
  description: "A criteria tree: `and`/`or`/`not` of RFC 3501 SEARCH keys. Text keys match " +
    "case-insensitive substrings (RFC 3501 section 6.4.4); dates compare by day.",
});

export const SearchRequest = z.object({ criteria: SearchCriteria }).meta({ id: "SearchRequest" });

export const SearchResult = z.object({
  uids: z.array(z.number().int()).meta({ description: "Matching UIDs, ascending." }),
  highestModseq: z.number().int().meta({
    description: "The highest modseq among the matches (RFC 7162 section 3.1.5), 0 when none.",
  }),
}).meta({ id: "SearchResult" });
export type SearchResult = z.infer<typeof SearchResult>;

// ---------------------------------------------------------------------------------------------
// Raw framing: many messages in one binary response

/** Media type of the `/raw` response: frames of [uid u32 BE][length u32 BE][bytes]. */
export const RAW_FRAMES_TYPE = "application/vnd.postern.frames";

/** Encodes one frame's 8-byte head. */
export function frameHead(uid: number, length: number): Uint8Array {
  const head = new Uint8Array(8);
  const view = new DataView(head.buffer);
  view.setUint32(0, uid);
  view.setUint32(4, length);
  return head;
}

/** Splits a whole frames body into (uid, bytes) pairs; undefined when it is truncated. */
export function decodeFrames(body: Uint8Array): { uid: number; bytes: Uint8Array }[] | undefined {
  const out: { uid: number; bytes: Uint8Array }[] = [];
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = 0;
  while (at < body.byteLength) {
    if (at + 8 > body.byteLength) return undefined;
    const uid = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (at + 8 + length > body.byteLength) return undefined;
    out.push({ uid, bytes: body.subarray(at + 8, at + 8 + length) });
    at += 8 + length;
  }
  return out;
}
