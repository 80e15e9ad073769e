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
  const sorted = [...new Set(uids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}:${sorted[j]}`);
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
  id: z.number().int(),
  name: z.string(),
  role: MailboxRole.nullable(),
  uidValidity: z.number().int(),
  uidNext: z.number().int(),
  highestModseq: z.number().int(),
  /** Messages in the mailbox (IMAP EXISTS / STATUS MESSAGES). */
  exists: z.number().int(),
  unseen: z.number().int(),
  sizeBytes: z.number().int(),
}).meta({ id: "MailboxState" });
export type MailboxState = z.infer<typeof MailboxState>;

export const IndexEntry = z.object({
  uid: z.number().int(),
  /** The message's id in the rest of the API (`/v1/messages/{id}`). */
  id: z.number().int(),
  modseq: z.number().int(),
  /** RFC 3501 INTERNALDATE, Unix milliseconds. */
  internalDate: z.number().int(),
  /** RFC822.SIZE: bytes of the stored message. */
  size: z.number().int(),
  /** System flags and keywords, IMAP spelling. */
  flags: z.array(z.string()),
}).meta({ id: "IndexEntry" });
export type IndexEntry = z.infer<typeof IndexEntry>;

export const MailboxIndex = z.object({
  mailbox: MailboxState,
  /** Ascending by UID. */
  items: z.array(IndexEntry),
  /** Set when more messages follow: pass it as `afterUid` for the next page. */
  nextAfterUid: z.number().int().nullable(),
}).meta({ id: "MailboxIndex" });
export type MailboxIndex = z.infer<typeof MailboxIndex>;

export const MailboxChanges = z.object({
  mailbox: MailboxState,
  /** Messages whose modseq is above `sinceModseq` (new ones and flag changes), by UID. */
  changed: z.array(IndexEntry),
  /** UIDs expunged (or moved away) after `sinceModseq`, ascending (QRESYNC VANISHED). */
  expunged: z.array(z.number().int()),
}).meta({ id: "MailboxChanges" });
export type MailboxChanges = z.infer<typeof MailboxChanges>;

// ---------------------------------------------------------------------------------------------
// Requests on UID sets

export const UidsRequest = z.object({ uids: UidSet }).meta({ id: "UidsRequest" });

export const RawRequest = z.object({
  uids: UidSet,
  /** `full`: the exact stored bytes; `header`: up to and including the empty line. */
  part: z.enum(["full", "header"]).default("full"),
}).meta({ id: "RawRequest" });

export const StoreFlagsRequest = z.object({
  uids: UidSet,
  /** RFC 3501 section 6.4.6: FLAGS (replace), +FLAGS (add), -FLAGS (remove). */
  op: z.enum(["add", "remove", "replace"]),
  flags: z.array(FlagName).max(100),
  /** RFC 7162 section 3.1.3 UNCHANGEDSINCE: only messages whose modseq is not above it. */
  unchangedSince: z.number().int().min(0).optional(),
}).meta({ id: "StoreFlagsRequest" });
export type StoreFlagsRequest = z.infer<typeof StoreFlagsRequest>;

export const StoreFlagsResult = z.object({
  /** Every message of the set that exists, with its flags and modseq after the store. */
  updated: z.array(IndexEntry),
  /** UIDs that failed UNCHANGEDSINCE (RFC 7162 `[MODIFIED set]`). */
  modified: z.array(z.number().int()),
  highestModseq: z.number().int(),
}).meta({ id: "StoreFlagsResult" });
export type StoreFlagsResult = z.infer<typeof StoreFlagsResult>;

export const ExpungeRequest = z.object({
  /** Restrict to these UIDs (RFC 4315 UID EXPUNGE); absent: every \Deleted message. */
  uids: UidSet.optional(),
}).meta({ id: "ExpungeRequest" });

export const ExpungeResult = z.object({
  expunged: z.array(z.number().int()),
  highestModseq: z.number().int(),
}).meta({ id: "ExpungeResult" });
export type ExpungeResult = z.infer<typeof ExpungeResult>;

export const TransferRequest = z.object({
  uids: UidSet,
  targetMailboxId: z.number().int().positive(),
}).meta({ id: "TransferRequest" });

export const TransferResult = z.object({
  /** The target's UIDVALIDITY (RFC 4315 COPYUID). */
  uidValidity: z.number().int(),
  /** [source UID, new UID in the target], ascending by source UID. */
  mapping: z.array(z.tuple([z.number().int(), z.number().int()])),
}).meta({ id: "TransferResult" });
export type TransferResult = z.infer<typeof TransferResult>;

export const AppendResult = z.object({
  uid: z.number().int(),
  id: z.number().int(),
  uidValidity: z.number().int(),
  modseq: z.number().int(),
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

export const AppendManyResult = z.object({ items: z.array(AppendResult) }).meta({
  id: "AppendManyResult",
});
export type AppendManyResult = z.infer<typeof AppendManyResult>;

export const StructureItem = z.object({
  uid: z.number().int(),
  structure: MimeStructure,
}).meta({ id: "StructureItem" });

export const StructureResult = z.object({ items: z.array(StructureItem) }).meta({
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
    z.object({ key: z.literal("all") }),
    z.object({
      key: z.literal("flag"),
      flag: FlagName,
      present: z.boolean().meta({ description: "false for UNSEEN, UNKEYWORD and the like." }),
    }),
    z.object({
      key: z.enum(["before", "on", "since", "sentbefore", "senton", "sentsince"]),
      date: SearchDate,
    }),
    z.object({ key: z.enum(["larger", "smaller"]), size: z.number().int().min(0) }),
    z.object({ key: z.literal("header"), field: z.string().min(1).max(200), value: Text }),
    z.object({
      key: z.enum(["from", "to", "cc", "bcc", "subject", "body", "text"]),
      value: Text,
    }),
    z.object({ key: z.literal("uid"), uids: UidSet }),
    z.object({ key: z.literal("modseq"), modseq: z.number().int().min(0) }),
    z.object({ key: z.literal("and"), of: z.array(SearchCriteria).max(100) }),
    z.object({ key: z.literal("or"), of: z.array(SearchCriteria).min(2).max(100) }),
    z.object({ key: z.literal("not"), of: SearchCriteria }),
  ])
).meta({
  id: "SearchCriteria",
  description: "A criteria tree: `and`/`or`/`not` of RFC 3501 SEARCH keys. Text keys match " +
    "case-insensitive substrings (RFC 3501 section 6.4.4); dates compare by day.",
});

export const SearchRequest = z.object({ criteria: SearchCriteria }).meta({ id: "SearchRequest" });

export const SearchResult = z.object({
  /** Matching UIDs, ascending. */
  uids: z.array(z.number().int()),
  /** The highest modseq among the matches (RFC 7162 section 3.1.5), 0 when none. */
  highestModseq: z.number().int(),
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
