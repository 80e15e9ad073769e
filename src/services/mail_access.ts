/**
 * Reading one mailbox the way IMAP and POP3 need it, in one query per call: the mailbox state
 * (RFC 3501 section 6.3.1 EXISTS/UIDNEXT/UIDVALIDITY, RFC 7162 HIGHESTMODSEQ), the index of every
 * message (UID, modseq, INTERNALDATE, RFC822.SIZE, flags), changes since a modseq (CONDSTORE
 * flag changes and QRESYNC expunged UIDs), and UID set resolution. Every query is bound to the
 * caller's account: another account's mailbox is "not found".
 */
import { and, asc, eq, gt, lte, type SQL, sql } from "drizzle-orm";
import { type IndexEntry, type MailboxState, parseUidSet } from "../../schemas/mail_access.ts";
import { badRequest, notFound } from "../errors.ts";
import type { Queryable } from "../store/store.ts";
import { schema } from "../store/store.ts";
import { mailboxByRole, requireMailbox } from "./mailboxes.ts";

const m = schema.messages;

/** Above this many messages the index is paged (`nextAfterUid`). */
export const INDEX_PAGE = 50_000;

/** A message's IMAP flags and keywords (what `flagsOf` reads). */
export const flagColumns = {
  seen: m.seen,
  answered: m.answered,
  flagged: m.flagged,
  deleted: m.deleted,
  draft: m.draft,
  keywords: m.keywords,
};

/** The columns an index entry needs (never the parsed JSON). */
export const indexColumns = {
  id: m.id,
  uid: m.uid,
  modseq: m.modseq,
  internalDate: m.internalDate,
  size: m.size,
  ...flagColumns,
};
export type IndexRow = {
  id: number;
  uid: number;
  modseq: number;
  internalDate: number;
  size: number;
  seen: boolean;
  answered: boolean;
  flagged: boolean;
  deleted: boolean;
  draft: boolean;
  keywords: string;
};

export function keywordsOf(json: string): string[] {
  try {
    const v = JSON.parse(json);
    return Array.isArray(v) ? v.filter((k) => typeof k === "string") : [];
  } catch {
    return [];
  }
}

/** System flags in IMAP spelling, then keywords. */
export function flagsOf(row: Omit<IndexRow, "id" | "uid" | "modseq" | "internalDate" | "size">) {
  const out: string[] = [];
  if (row.seen) out.push("\\Seen");
  if (row.answered) out.push("\\Answered");
  if (row.flagged) out.push("\\Flagged");
  if (row.deleted) out.push("\\Deleted");
  if (row.draft) out.push("\\Draft");
  return out.concat(keywordsOf(row.keywords));
}

export function toEntry(row: IndexRow): IndexEntry {
  return {
    uid: row.uid,
    id: row.id,
    modseq: row.modseq,
    internalDate: row.internalDate,
    size: row.size,
    flags: flagsOf(row),
  };
}

const FLAG_BITS = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];

/**
 * Index entries in UID order, aggregated to one JSON string inside SQLite: for 10,000 messages
 * this is 5-8x faster than materialising a driver row object per message (measured: ~15 ms
 * against 65-100 ms raw rows and 100-250 ms through the query builder).
 */
async function indexEntries(db: Queryable, where: SQL, limit: number): Promise<IndexEntry[]> {
  const row = await db.get<{ j: string | null }>(sql`SELECT json_group_array(json_array(uid, id,
    modseq, internal_date, size,
    seen | (answered << 1) | (flagged << 2) | (deleted << 3) | (draft << 4),
    json(CASE WHEN json_valid(keywords) THEN keywords ELSE '[]' END))) AS j
    FROM (SELECT uid, id, modseq, internal_date, size, seen, answered, flagged, deleted, draft,
      keywords FROM messages WHERE ${where} ORDER BY uid LIMIT ${limit})`);
  const list = JSON.parse(row?.j ?? "[]") as [
    number,
    number,
    number,
    number,
    number,
    number,
    unknown,
  ][];
  return list.map(([uid, id, modseq, internalDate, size, bits, keywords]) => {
    const flags = FLAG_BITS.filter((_, i) => bits & (1 << i));
    if (Array.isArray(keywords)) {
      for (const k of keywords) if (typeof k === "string") flags.push(k);
    }
    return { uid, id, modseq, internalDate, size, flags };
  });
}

type MailboxRow = Awaited<ReturnType<typeof requireMailbox>>;

function stateOf(
  box: MailboxRow,
  counts: { exists: number; unseen: number; sizeBytes: number },
): MailboxState {
  return {
    id: box.id,
    name: box.name,
    role: box.role,
    uidValidity: box.uidValidity,
    uidNext: box.uidNext,
    highestModseq: box.highestModseq,
    ...counts,
  };
}

/** The mailbox (the caller's) with its counts. */
export async function mailboxState(
  db: Queryable,
  accountId: number,
  mailboxId: number,
): Promise<MailboxState> {
  const box = await requireMailbox(db, accountId, mailboxId);
  const [counts] = await db.select({
    exists: sql<number>`count(*)`,
    unseen: sql<number>`coalesce(sum(${m.seen} = 0), 0)`,
    sizeBytes: sql<number>`coalesce(sum(${m.size}), 0)`,
  }).from(m).where(eq(m.mailboxId, mailboxId));
  return stateOf(box, {
    exists: Number(counts?.exists ?? 0),
    unseen: Number(counts?.unseen ?? 0),
    sizeBytes: Number(counts?.sizeBytes ?? 0),
  });
}

/** Every message of the mailbox by UID (pages of INDEX_PAGE after `afterUid`). */
export async function mailboxIndex(
  db: Queryable,
  accountId: number,
  mailboxId: number,
  afterUid = 0,
  limit = INDEX_PAGE,
) {
  const box = await requireMailbox(db, accountId, mailboxId);
  const rows = await indexEntries(
    db,
    sql`mailbox_id = ${mailboxId} AND uid > ${afterUid} AND uid < ${box.uidNext}`,
    limit + 1,
  );
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  // The whole mailbox in one page: its counts come from the items (one table scan, not two).
  const mailbox = afterUid === 0 && !more
    ? stateOf(box, {
      exists: items.length,
      unseen: items.filter((i) => !i.flags.includes("\\Seen")).length,
      sizeBytes: items.reduce((n, i) => n + i.size, 0),
    })
    : await mailboxState(db, accountId, mailboxId);
  return {
    mailbox,
    items,
    nextAfterUid: more ? items[items.length - 1].uid : null,
  };
}

/** Above this many messages the maildrop is paged (its columns stay under D1's 2 MB value). */
export const MAILDROP_PAGE = 100_000;

/**
 * The account's Inbox as POP3 opens it (RFC 1939 section 3, the maildrop): its state and two
 * columns, UIDs and sizes, ascending by UID. Only what STAT, LIST, UIDL and RETR need, built as
 * two JSON arrays inside SQLite and passed on as text: nothing is parsed or re-encoded per
 * message on the way out (10,000 messages: about 100 KB instead of the index's 900 KB).
 * Returns the JSON text of a `Maildrop`.
 */
export async function maildropJson(
  db: Queryable,
  accountId: number,
  afterUid = 0,
  limit = MAILDROP_PAGE,
): Promise<string> {
  const box = await mailboxByRole(db, accountId, "inbox");
  if (!box) throw notFound("mailbox");
  const row = await db.get<{ u: string; s: string; n: number; b: number; unseen: number }>(
    sql`SELECT json_group_array(uid) AS u, json_group_array(size) AS s, count(*) AS n,
      coalesce(sum(size), 0) AS b, coalesce(sum(seen = 0), 0) AS unseen
      FROM (SELECT uid, size, seen FROM messages WHERE mailbox_id = ${box.id}
        AND uid > ${afterUid} AND uid < ${box.uidNext} ORDER BY uid LIMIT ${limit + 1})`,
  );
  let uids = row?.u ?? "[]";
  let sizes = row?.s ?? "[]";
  let count = Number(row?.n ?? 0);
  let next: number | null = null;
  if (count > limit) {
    // One row too many was read: cut the last element off both columns.
    uids = uids.slice(0, uids.lastIndexOf(",")) + "]";
    sizes = sizes.slice(0, sizes.lastIndexOf(",")) + "]";
    count = limit;
    next = Number(uids.slice(Math.max(uids.lastIndexOf(","), 0) + 1, -1));
  }
  // A whole mailbox in one page: its counts come from the same scan; else the usual query.
  const mailbox = afterUid === 0 && next === null
    ? stateOf(box, { exists: count, unseen: Number(row?.unseen ?? 0), sizeBytes: Number(row?.b) })
    : await mailboxState(db, accountId, box.id);
  return `{"mailbox":${JSON.stringify(mailbox)},"uids":${uids},"sizes":${sizes},` +
    `"nextAfterUid":${next}}`;
}

/** What changed after `sinceModseq`: changed messages and expunged UIDs (RFC 7162 3.1.4, 3.2.5). */
export async function mailboxChanges(
  db: Queryable,
  accountId: number,
  mailboxId: number,
  sinceModseq: number,
) {
  const mailbox = await mailboxState(db, accountId, mailboxId);
  const rows = await indexEntries(
    db,
    sql`mailbox_id = ${mailboxId} AND modseq > ${sinceModseq}`,
    Number.MAX_SAFE_INTEGER,
  );
  const gone = await db.select({ uid: schema.expunged.uid }).from(schema.expunged).where(and(
    eq(schema.expunged.mailboxId, mailboxId),
    gt(schema.expunged.modseq, sinceModseq),
    lte(schema.expunged.modseq, mailbox.highestModseq),
  )).orderBy(asc(schema.expunged.uid));
  // A UID moved away and back cannot happen (UIDs are never reused), so the lists are disjoint.
  return { mailbox, changed: rows, expunged: gone.map((g) => g.uid) };
}

/** A parsed UID set with `*` resolved against the mailbox's highest UID (RFC 3501 section 9). */
export class UidMatcher {
  readonly ranges: [number, number][];
  readonly min: number;
  readonly max: number;
  constructor(text: string, highestUid: number) {
    const parsed = parseUidSet(text);
    if (!parsed) {
      throw badRequest("the UID set is malformed", [{ path: "uids", message: "malformed" }]);
    }
    // "n:*" with n above the highest UID still names the highest one (RFC 3501 section 6.4.8).
    const ranges = parsed.map(([a, b]) => {
      const lo = a === Infinity ? highestUid : a;
      const hi = b === Infinity ? Math.max(highestUid, 0) : b;
      return (lo <= hi ? [lo, hi] : [hi, lo]) as [number, number];
    }).sort((x, y) => x[0] - y[0]);
    // Merged and sorted, so membership is a binary search even for thousands of ranges.
    this.ranges = [];
    for (const r of ranges) {
      const last = this.ranges[this.ranges.length - 1];
      if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
      else this.ranges.push([r[0], r[1]]);
    }
    this.min = this.ranges[0][0];
    this.max = this.ranges[this.ranges.length - 1][1];
  }
  has(uid: number): boolean {
    let lo = 0;
    let hi = this.ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [a, b] = this.ranges[mid];
      if (uid < a) hi = mid - 1;
      else if (uid > b) lo = mid + 1;
      else return true;
    }
    return false;
  }
  /** A bounding SQL condition on `uid` (rows must still be filtered with `has`). */
  bounds(): SQL {
    return sql`${m.uid} BETWEEN ${this.min} AND ${this.max}`;
  }
}

/** The highest UID in use (for `*`), 0 for an empty mailbox. */
export async function highestUid(db: Queryable, mailboxId: number): Promise<number> {
  const [row] = await db.select({ uid: sql<number>`coalesce(max(${m.uid}), 0)` }).from(m)
    .where(eq(m.mailboxId, mailboxId));
  return Number(row?.uid ?? 0);
}

/** A message row as the UID-set operations need it. */
export interface SetRow extends IndexRow {
  threadId: number;
  blobSha256: string;
}

/**
 * The caller's mailbox's messages whose UIDs are in the set (all of them without a set), in UID
 * order, read as one aggregated JSON string (see indexEntries) and filtered by `where`.
 */
export async function rowsInSet(
  db: Queryable,
  accountId: number,
  mailboxId: number,
  uids: string | undefined,
  where?: SQL,
): Promise<SetRow[]> {
  // Side by side: on a remote store each read is a round trip.
  const [, highest] = await Promise.all([
    requireMailbox(db, accountId, mailboxId),
    uids === undefined ? 0 : highestUid(db, mailboxId),
  ]);
  const matcher = uids === undefined ? undefined : new UidMatcher(uids, highest);
  const conditions = and(
    eq(m.mailboxId, mailboxId),
    sql`+${m.accountId} = ${accountId}`,
    matcher?.bounds(),
    where,
  );
  const row = await db.get<{ j: string | null }>(sql`SELECT json_group_array(json_array(id, uid,
    modseq, internal_date, size,
    seen | (answered << 1) | (flagged << 2) | (deleted << 3) | (draft << 4),
    keywords, thread_id, blob_sha256)) AS j
    FROM (SELECT * FROM messages WHERE ${conditions} ORDER BY uid)`);
  const list = JSON.parse(row?.j ?? "[]") as [
    number,
    number,
    number,
    number,
    number,
    number,
    string,
    number,
    string,
  ][];
  const rows: SetRow[] = [];
  for (const [id, uid, modseq, internalDate, size, bits, keywords, threadId, blobSha256] of list) {
    if (matcher && !matcher.has(uid)) continue;
    rows.push({
      id,
      uid,
      modseq,
      internalDate,
      size,
      seen: (bits & 1) !== 0,
      answered: (bits & 2) !== 0,
      flagged: (bits & 4) !== 0,
      deleted: (bits & 8) !== 0,
      draft: (bits & 16) !== 0,
      keywords,
      threadId,
      blobSha256,
    });
  }
  return rows;
}
